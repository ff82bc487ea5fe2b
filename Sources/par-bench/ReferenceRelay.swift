import NIOCore
import NIOPosix

/// W6's yardstick: the cheapest proxy NIO allows, bytes in and bytes out with one agent
/// connection per client connection and no HTTP at all. Whatever the real proxy keeps of
/// direct throughput is read against what this keeps on the same machine.
final class ReferenceRelay {
    private let server: any Channel
    var port: Int { server.localAddress?.port ?? 0 }

    init(targetPort: Int) throws {
        server = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { client in
                client.eventLoop.makeCompletedFuture {
                    let toAgent = ByteRelay()
                    try client.pipeline.syncOperations.addHandler(toAgent)
                    ClientBootstrap(group: client.eventLoop)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .channelInitializer { agent in
                            agent.eventLoop.makeCompletedFuture {
                                try agent.pipeline.syncOperations.addHandler(ByteRelay(peer: client))
                            }
                        }
                        .connect(host: "127.0.0.1", port: targetPort)
                        .assumeIsolated()
                        .whenComplete { result in
                            switch result {
                            case .success(let agent): toAgent.connect(to: agent)
                            case .failure: client.close(promise: nil)
                            }
                        }
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .wait()
    }

    func stop() {
        try? server.close().wait()
    }
}

/// Forwards every buffer read on its channel to `peer`, flushing once per read burst.
private final class ByteRelay: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var peer: (any Channel)?
    private var waiting: [ByteBuffer] = []

    init(peer: (any Channel)? = nil) {
        self.peer = peer
    }

    func connect(to peer: any Channel) {
        self.peer = peer
        for buffer in waiting { peer.write(buffer, promise: nil) }
        waiting.removeAll()
        peer.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if let peer { peer.write(buffer, promise: nil) } else { waiting.append(buffer) }
    }

    func channelReadComplete(context: ChannelHandlerContext) { peer?.flush() }

    func channelInactive(context: ChannelHandlerContext) { peer?.close(promise: nil) }
}
