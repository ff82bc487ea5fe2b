import CPARSys
import Dispatch
import Foundation
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import PARSupervisor
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's public listening socket. Plain requests for running agents are relayed by
/// `FrontDoorLoop`s on their own threads; every other connection (the management API,
/// logs, WebSockets, streamed uploads, errors) is handed, with the bytes already read, to
/// Hummingbird, which then serves it as if it had accepted it. Hummingbird itself listens
/// only on a private Unix socket in the data directory.
public final class FrontDoor: Service, Sendable {
    public let port: Int
    private let listener: Int32
    private let loops: [FrontDoorLoop]
    private let fullStack: FullStack
    private let started = Atomic<Bool>(false)
    private let loopsDone = DispatchGroup()

    /// Binds `host:port` (an IPv4 address); nothing is accepted until `open()`.
    /// (Throws before the designated init: see `FrontDoorLoop.init` for the compiler bug.)
    public convenience init(
        host: String, port: Int, routes: RouteTable, traffic: ProxyTraffic, timeoutSeconds: Double, idleTimeoutSeconds: Double,
        headTimeoutSeconds: Double = 30, keepAliveSeconds: Double = 75, maxConnections: Int = .max, loopCount: Int, logger: Logger
    ) throws(FrontDoorError) {
        let address = host == "localhost" ? "127.0.0.1" : host
        var bound: Int32 = 0
        let listener = par_tcp_listen4(address, Int32(port), 1024, &bound)
        guard listener >= 0 else {
            if errno == EINVAL { throw .unsupportedHost(host) }
            throw .system("listening on \(host):\(port)", errno)
        }
        let fullStack = FullStack(logger: logger)
        var settings = FrontDoorSettings(
            routes: routes, traffic: traffic,
            timeoutNanoseconds: UInt64(timeoutSeconds * 1e9), idleTimeoutNanoseconds: UInt64(idleTimeoutSeconds * 1e9),
            handOver: { fd, bytes, relayedBefore in fullStack.adopt(fd: fd, bytes: bytes, relayedBefore: relayedBefore) }
        )
        settings.acceptsOneAtATime = loopCount > 1
        settings.headTimeoutNanoseconds = UInt64(headTimeoutSeconds * 1e9)
        settings.keepAliveNanoseconds = UInt64(keepAliveSeconds * 1e9)
        settings.maxClientsPerLoop = max(1, maxConnections / max(1, loopCount))
        var loops: [FrontDoorLoop] = []
        do {
            for _ in 0..<max(1, loopCount) { loops.append(try FrontDoorLoop(listener: listener, settings: settings)) }
        } catch {
            close(listener)
            throw error
        }
        self.init(port: Int(bound), listener: listener, loops: loops, fullStack: fullStack)
    }

    private init(port: Int, listener: Int32, loops: [FrontDoorLoop], fullStack: FullStack) {
        self.port = port
        self.listener = listener
        self.loops = loops
        self.fullStack = fullStack
    }

    /// Whether `host` is one the front door can listen on (IPv4 literals and `localhost`).
    public static func supports(host: String) -> Bool {
        host == "localhost" || host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// The builder Hummingbird's server is made with: it keeps the child channel so handed-
    /// over connections are set up exactly like accepted ones.
    public func serverBuilder<Child: ServerChildChannel>(_ makeChild: @escaping @Sendable (@escaping HTTPChannelHandler.Responder) -> Child) -> HTTPServerBuilder {
        HTTPServerBuilder { [fullStack] responder in
            let child = makeChild(responder)
            fullStack.attach(child)
            return child
        }
    }

    /// Starts accepting; call once Hummingbird runs.
    public func open() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops {
            loopsDone.enter()
            let thread = Thread { [loopsDone] in
                loop.run()
                loopsDone.leave()
            }
            thread.start()
        }
    }

    /// Serves handed-over connections until graceful shutdown, then drains: answers in
    /// flight get 5 s, Hummingbird's connections are asked to finish and close.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()
                await self.stop()
            }
            for await connection in fullStack.connections {
                if connection.onControlPlaneLane {
                    group.addTask(executorPreference: ControlPlaneLane.shared.executor) { await self.fullStack.serve(connection) }
                } else {
                    group.addTask { await self.fullStack.serve(connection) }
                }
            }
        }
    }

    private func stop() async {
        for loop in loops { loop.stop() }
        if started.load(ordering: .acquiring) {
            await withCheckedContinuation { continuation in
                loopsDone.notify(queue: .global()) { continuation.resume() }
            }
        }
        close(listener)
        fullStack.quiesce()
    }
}

/// Hands connections from the front door to Hummingbird's NIO pipeline.
private final class FullStack: Sendable {
    struct Connection: Sendable {
        var fd: Int32
        var bytes: ByteBuffer
        /// Served on the control plane's own thread (`ControlPlaneLane`).
        var onControlPlaneLane: Bool
    }

    let connections: AsyncStream<Connection>
    private let continuation: AsyncStream<Connection>.Continuation
    private let server = Mutex<(@Sendable (Connection) async -> Void)?>(nil)
    private let registry = Registry()
    private let quiescing = Atomic<Bool>(false)
    private let logger: Logger

    init(logger: Logger) {
        (connections, continuation) = AsyncStream.makeStream(of: Connection.self)
        self.logger = logger
    }

    func attach<Child: ServerChildChannel>(_ child: Child) {
        let logger = logger
        server.withLock {
            $0 = { [unowned self] connection in await Self.serve(connection, with: child, fullStack: self, logger: logger) }
        }
    }

    /// `relayedBefore`: the relay already carried an agent's request on this connection; a
    /// client that mixes agents' traffic with a health check is not a monitor, and stays off
    /// the lane (where its next agent request would be sent away).
    func adopt(fd: Int32, bytes: ByteBuffer, relayedBefore: Bool) {
        let onLane = !relayedBefore && bytes.withUnsafeReadableBytes { ControlPlaneLane.takes($0) }
        if case .terminated = continuation.yield(Connection(fd: fd, bytes: bytes, onControlPlaneLane: onLane)) { close(fd) }
    }

    func serve(_ connection: Connection) async {
        guard let server = server.withLock({ $0 }) else { close(connection.fd); return }
        await server(connection)
    }

    /// Whether shutdown began before a connection was registered (it then quiesces itself).
    var isQuiescing: Bool {
        quiescing.load(ordering: .sequentiallyConsistent)
    }

    /// Asks every handed-over connection to close once its current answer is out, and
    /// accepts no more.
    func quiesce() {
        quiescing.store(true, ordering: .sequentiallyConsistent)
        continuation.finish()
        for channel in registry.all() {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    private static func serve<Child: ServerChildChannel>(_ connection: Connection, with child: Child, fullStack: FullStack, logger: Logger) async {
        let registry = fullStack.registry
        let value: Child.Value
        do {
            // Reads wait until the bytes the front door already read are in the pipeline.
            let loops: any EventLoopGroup = connection.onControlPlaneLane ? ControlPlaneLane.shared.eventLoop : MultiThreadedEventLoopGroup.singleton
            value = try await ClientBootstrap(group: loops)
                .channelOption(ChannelOptions.autoRead, value: false)
                .withConnectedSocket(connection.fd) { channel in child.setup(channel: channel, logger: logger) }
        } catch {
            logger.warning("could not hand a connection to the HTTP server", metadata: ["error": "\(error)"])
            return
        }
        let channel = value.channel
        let key = registry.insert(channel)
        defer { registry.remove(key) }
        let bytes = connection.bytes
        let quiesces = fullStack.isQuiescing
        channel.eventLoop.execute {
            if bytes.readableBytes > 0 {
                channel.pipeline.fireChannelRead(bytes)
                channel.pipeline.fireChannelReadComplete()
            }
            channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in channel.close(promise: nil) }
            if quiesces { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        }
        await child.handle(value: value, logger: logger)
    }

    final class Registry: Sendable {
        private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

        func insert(_ channel: any Channel) -> ObjectIdentifier {
            let key = ObjectIdentifier(channel)
            channels.withLock { $0[key] = channel }
            return key
        }

        func remove(_ key: ObjectIdentifier) {
            _ = channels.withLock { $0.removeValue(forKey: key) }
        }

        func all() -> [any Channel] {
            channels.withLock { Array($0.values) }
        }
    }
}
