import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import PARSupervisor

/// Builds the HTTP application: the management API behind the security middleware.
public enum APIServer {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var token: String
        public var maxBodyBytes: Int
        public var version: String
        /// How long the proxy waits for an agent's response head.
        public var proxyTimeoutSeconds: Double
        /// Whether `/agents/*` needs the management token too (off: agents are the public surface).
        public var proxyRequiresToken: Bool
        /// How long an unused keep-alive connection to an agent is kept open.
        public var proxyIdleTimeoutSeconds: Double
        /// How long a connection of the HTTP server may stay open with no request.
        public var keepAliveSeconds: Double = 75
        /// How long a client may take to send its first request whole.
        public var requestHeadTimeoutSeconds: Double = 30
        /// Longest pause inside a request body before 408 and the close.
        public var requestBodyTimeoutSeconds: Double = 30
        /// Client connections the HTTP server holds at most (over it: 503 and the close).
        public var maxConnections: Int = 4096
        /// How long a dashboard session lasts.
        public var uiSessionSeconds: Double = 12 * 3600
        /// The dashboard's own listener, once it listens: the public port's `GET /ui` sends
        /// browsers there. Nil: no dashboard (`--no-dashboard`).
        public var dashboard: DashboardLocation?
        /// Re-reads the config file and applies it; nil when the daemon runs without one.
        public var reload: (@Sendable () async throws(SupervisorError) -> ReloadReport)?

        public init(
            host: String = "127.0.0.1", port: Int = 8000, token: String, maxBodyBytes: Int = 1 << 20, version: String,
            proxyTimeoutSeconds: Double = 60, proxyRequiresToken: Bool = false, proxyIdleTimeoutSeconds: Double = 30,
            reload: (@Sendable () async throws(SupervisorError) -> ReloadReport)? = nil
        ) {
            self.reload = reload
            self.host = host
            self.port = port
            self.token = token
            self.maxBodyBytes = maxBodyBytes
            self.version = version
            self.proxyTimeoutSeconds = proxyTimeoutSeconds
            self.proxyRequiresToken = proxyRequiresToken
            self.proxyIdleTimeoutSeconds = proxyIdleTimeoutSeconds
        }
    }

    /// The client the proxy and the health probes share: pooled keep-alive connections to
    /// agents, no redirects followed (a 3xx goes back to the caller as it is).
    public static func makeAgentClient() -> HTTPClient {
        var pool = HTTPClient.Configuration.ConnectionPool()
        pool.idleTimeout = .seconds(30)
        pool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        let configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(2), read: nil),
            connectionPool: pool,
            decompression: .disabled
        )
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Which listener a router is for. The public port carries agents' pages under
    /// `/agents/`, so it never honours a dashboard session: an agent's page would share the
    /// dashboard's origin and could act through a signed-in browser. The dashboard's port
    /// serves the same management API with sessions, and no agent.
    enum Surface: Sendable {
        case publicPort
        case dashboard
    }

    /// Every route a listener answers: the HTTP router and the WebSocket upgrades' router.
    /// Separate from the server so the API document can be checked against exactly these.
    static func makeRouters(
        supervisor: Supervisor, agentClient: HTTPClient, options: Options, logger: Logger, traffic: ProxyTraffic = ProxyTraffic(),
        surface: Surface = .publicPort
    ) -> (http: Router<PARRequestContext>, webSocket: Router<PARWebSocketContext>) {
        let router = Router(context: PARRequestContext.self)
        // Only the dashboard's own port lets a cookie stand for the token.
        let sessions = surface == .dashboard ? UISessions(lifetimeSeconds: options.uiSessionSeconds) : nil
        let routeMethods = RouteMethods()
        let security = { (guardsProxy: Bool) in
            SecurityMiddleware<PARRequestContext>(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: guardsProxy, sessions: sessions, routeMethods: routeMethods)
        }
        router.add(middleware: security(options.proxyRequiresToken))
        ManagementRoutes(supervisor: supervisor, maxBodyBytes: options.maxBodyBytes, version: options.version, reload: options.reload).register(on: router)
        let logRoutes = LogRoutes(store: supervisor.logs)
        logRoutes.register(on: router)
        MetricsRoutes(supervisor: supervisor, traffic: traffic).register(on: router)
        OpenAPIRoutes().register(on: router)
        let webSocketRouter = Router(context: PARWebSocketContext.self)
        let webSocketSecurity = SecurityMiddleware<PARWebSocketContext>(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: options.proxyRequiresToken, sessions: sessions, routeMethods: routeMethods)
        switch surface {
        case .publicPort:
            UIRoutes(token: options.token, mode: .elsewhere(options.dashboard)).register(on: router)
            AgentProxy(supervisor: supervisor, client: agentClient, timeout: .milliseconds(Int64(options.proxyTimeoutSeconds * 1000)), traffic: traffic, stripsAuthorization: options.proxyRequiresToken).register(on: router)
            if options.proxyRequiresToken {
                webSocketRouter.add(middleware: webSocketSecurity)
            }
            WebSocketProxy(supervisor: supervisor, logger: logger).register(on: webSocketRouter)
        case .dashboard:
            UIRoutes(token: options.token, mode: .served(sessions ?? UISessions())).register(on: router)
        }
        // The log tail is management API: it needs the token whatever the proxy's setting.
        logRoutes.registerWebSocket(on: webSocketRouter.group().add(middleware: webSocketSecurity))
        routeMethods.record(router.routes.map { ($0.path, $0.method) } + webSocketRouter.routes.map { ($0.path, .get) })
        return (router, webSocketRouter)
    }

    /// The dashboard's listener: `/ui`, its sessions and the management API on a port of
    /// its own (no relay, no agents), so its origin is not one an agent can serve pages from.
    public static func makeDashboardApplication(
        supervisor: Supervisor, agentClient: HTTPClient, options: Options, port: Int, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let (router, webSocketRouter) = makeRouters(supervisor: supervisor, agentClient: agentClient, options: options, logger: logger, surface: .dashboard)
        let http1 = HTTP1Channel.Configuration(idleTimeout: .milliseconds(Int64(options.keepAliveSeconds * 1000)))
        let webSocketResponder = webSocketRouter.buildResponder()
        let connections = ConnectionCount(limit: max(64, options.maxConnections / 16))
        let server = HTTPServerBuilder { responder in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: .init(http1: http1)),
                headTimeout: .milliseconds(Int64(options.requestHeadTimeoutSeconds * 1000)),
                bodyTimeout: .milliseconds(Int64(options.requestBodyTimeoutSeconds * 1000)),
                connections: connections
            )
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(options.host, port: port), serverName: "par/\(options.version)"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                options.dashboard?.listening(on: bound)
                await onListening(bound)
            },
            logger: logger
        )
    }

    /// With `frontDoor`, Hummingbird listens on `privateSocket` (a Unix socket path) and
    /// serves what the front door hands it; without, it listens on `host:port` itself.
    public static func makeApplication(
        supervisor: Supervisor, agentClient: HTTPClient, options: Options, logger: Logger,
        frontDoor: FrontDoor? = nil, privateSocket: String? = nil, traffic: ProxyTraffic = ProxyTraffic(),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let (router, webSocketRouter) = makeRouters(supervisor: supervisor, agentClient: agentClient, options: options, logger: logger, traffic: traffic)
        let proxySettings = ProxySettings(
            routes: supervisor.routeTable,
            pools: AgentConnectionPools(idleTimeout: .milliseconds(Int64(options.proxyIdleTimeoutSeconds * 1000))),
            traffic: traffic,
            timeout: .milliseconds(Int64(options.proxyTimeoutSeconds * 1000)),
            requiredToken: options.proxyRequiresToken ? options.token : nil
        )
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [AgentProxyHandler.install(settings: proxySettings)],
            idleTimeout: .milliseconds(Int64(options.keepAliveSeconds * 1000))
        )
        let server: HTTPServerBuilder
        let address: BindAddress
        let webSocketResponder = webSocketRouter.buildResponder()
        let connections = ConnectionCount(limit: options.maxConnections)
        let makeChannel = { @Sendable (responder: @escaping HTTPChannelHandler.Responder) in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(responder: responder, webSocketResponder: webSocketResponder, configuration: .init(http1: http1)),
                headTimeout: .milliseconds(Int64(options.requestHeadTimeoutSeconds * 1000)),
                bodyTimeout: .milliseconds(Int64(options.requestBodyTimeoutSeconds * 1000)),
                connections: connections
            )
        }
        if let frontDoor, let privateSocket {
            server = frontDoor.serverBuilder(makeChannel)
            address = .unixDomainSocket(path: privateSocket)
        } else {
            server = HTTPServerBuilder { responder in makeChannel(responder) }
            address = .hostname(options.host, port: options.port)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: address, serverName: "par/\(options.version)"),
            onServerRunning: { channel in
                if let frontDoor {
                    frontDoor.open()
                    await onListening(frontDoor.port)
                } else {
                    await onListening(channel.localAddress?.port ?? options.port)
                }
            },
            logger: logger
        )
    }
}
