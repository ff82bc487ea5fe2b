import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What an agent connection reports to the client connection that has leased it. Both
/// live on one event loop, so these calls are plain method calls, never thread hops.
protocol AgentConnectionOwner: AnyObject {
    func agentRead(_ part: HTTPClientResponsePart)
    func agentReadComplete()
    func agentClosed()
    func agentWritabilityChanged(isWritable: Bool)
    /// Whether the agent connection may read more now (false while the client cannot keep up).
    var agentMayRead: Bool { get }
}

/// The last handler of a keep-alive connection to an agent: it forwards what the agent
/// sends to the current owner and holds reads while that owner's client is slow, so a fast
/// agent streaming to a slow client is paced by TCP rather than buffered here.
final class AgentConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var owner: (any AgentConnectionOwner)?
    private var context: ChannelHandlerContext?
    private var readHeld = false

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let owner else {
            // An idle pooled connection has nothing to say; an agent that speaks anyway is
            // out of step with HTTP and the connection cannot be trusted.
            context.close(promise: nil)
            return
        }
        owner.agentRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) { owner?.agentReadComplete() }

    func channelInactive(context: ChannelHandlerContext) {
        let owner = self.owner
        self.owner = nil
        owner?.agentClosed()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        owner?.agentWritabilityChanged(isWritable: context.channel.isWritable)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func read(context: ChannelHandlerContext) {
        if let owner, !owner.agentMayRead {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Called by the owner when its client drained: the read held back goes out now.
    func resumeReading() {
        guard readHeld, let context else { return }
        readHeld = false
        context.read()
    }
}

/// One connection to an agent: its channel and the handler that reports to the lessee.
struct AgentConnection {
    let channel: any Channel
    let handler: AgentConnectionHandler
    let port: Int
    /// When it last went back to the pool.
    var idleSince = NIODeadline.now()
}

/// Idle keep-alive connections to agents, one pool per event loop so a client connection
/// only ever leases connections on its own loop (no locks, no hops on the request path).
/// Connections close themselves when the agent goes away; the pool forgets them then.
final class AgentConnectionPool: @unchecked Sendable {  // confined to `eventLoop`
    let eventLoop: any EventLoop
    private var idle: [Int: [AgentConnection]] = [:]
    private var sweep: Scheduled<Void>?
    /// Enough for the bench's 32 concurrent clients per agent with room to spare; more idle
    /// connections than this are closed rather than kept.
    static let maxIdlePerPort = 128
    static let connectTimeout = TimeAmount.seconds(2)
    /// Idle connections are closed after this long (`--proxy-idle-timeout`): many agents
    /// (Python's threading servers among them) hold a thread per open connection.
    let idleTimeout: TimeAmount

    init(eventLoop: any EventLoop, idleTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.idleTimeout = idleTimeout
    }

    /// The most recently used idle connection to `port`, if one is still open.
    func lease(port: Int) -> AgentConnection? {
        while let connection = idle[port]?.popLast() {
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    func giveBack(_ connection: AgentConnection) {
        connection.handler.owner = nil
        guard connection.channel.isActive, idle[connection.port, default: []].count < Self.maxIdlePerPort else {
            connection.channel.close(promise: nil)
            return
        }
        var returned = connection
        returned.idleSince = .now()
        idle[connection.port, default: []].append(returned)
        scheduleSweep()
    }

    /// One timer per pool while it holds anything, not one per connection.
    private func scheduleSweep() {
        guard sweep == nil else { return }
        sweep = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(idleTimeout.nanoseconds / 2, 1_000_000))) { [weak self] in
            guard let self else { return }
            self.sweep = nil
            self.closeIdle(olderThan: .now() - self.idleTimeout)
            if !self.idle.isEmpty { self.scheduleSweep() }
        }
    }

    /// Closes connections idle since before `cutoff` (the oldest sit first in each list).
    func closeIdle(olderThan cutoff: NIODeadline) {
        for (port, connections) in idle {
            let stale = connections.prefix { $0.idleSince < cutoff }
            guard !stale.isEmpty else { continue }
            idle[port] = Array(connections.dropFirst(stale.count))
            if idle[port]?.isEmpty == true { idle[port] = nil }
            for connection in stale { connection.channel.close(promise: nil) }
        }
    }

    /// Opens a new connection to the agent on `port`; `completion` runs on this loop.
    func connect(port: Int, completion: @escaping (Result<AgentConnection, any Error>) -> Void) {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        } catch {
            completion(.failure(error))
            return
        }
        ClientBootstrap(group: eventLoop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(Self.connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The heads written are built from already-parsed requests; validating them again
                    // cost 5% of the proxy's time.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                    try channel.pipeline.syncOperations.addHandler(AgentConnectionHandler())
                }
            }
            .connect(to: address)
            .assumeIsolated()
            .whenComplete { [weak self] result in
                switch result {
                case .success(let channel):
                    do {
                        let handler = try channel.pipeline.syncOperations.handler(type: AgentConnectionHandler.self)
                        channel.closeFuture.assumeIsolated().whenComplete { _ in self?.forget(channel, port: port) }
                        completion(.success(AgentConnection(channel: channel, handler: handler, port: port)))
                    } catch {
                        channel.close(promise: nil)
                        completion(.failure(error))
                    }
                case .failure(let error):
                    completion(.failure(error))
                }
            }
    }

    private func forget(_ channel: any Channel, port: Int) {
        idle[port]?.removeAll { $0.channel === channel }
        if idle[port]?.isEmpty == true { idle[port] = nil }
    }

}

/// The pools of all event loops, created on first use by a loop's first proxied request.
final class AgentConnectionPools: Sendable {
    private let pools = Mutex<[ObjectIdentifier: AgentConnectionPool]>([:])
    private let idleTimeout: TimeAmount

    init(idleTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
    }

    /// Must be called on `eventLoop`; the pool returned is used only there.
    func pool(for eventLoop: any EventLoop) -> AgentConnectionPool {
        pools.withLock { pools in
            let key = ObjectIdentifier(eventLoop)
            if let existing = pools[key] { return existing }
            let pool = AgentConnectionPool(eventLoop: eventLoop, idleTimeout: idleTimeout)
            pools[key] = pool
            return pool
        }
    }
}
