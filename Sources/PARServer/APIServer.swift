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
        /// Serve the dashboard and honour its session cookies (`--dashboard`). Off by default:
        /// the dashboard shares its origin with agents' pages under `/agents/`, so an agent
        /// one does not trust could act through a signed-in operator's browser.
        public var dashboard = false
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

    /// Every route the daemon answers: the HTTP router and the WebSocket upgrades' router.
    /// Separate from the server so the API document can be checked against exactly these.
    static func makeRouters(
        supervisor: Supervisor, agentClient: HTTPClient, options: Options, logger: Logger, traffic: ProxyTraffic = ProxyTraffic()
    ) -> (http: Router<PARRequestContext>, webSocket: Router<PARWebSocketContext>) {
        let router = Router(context: PARRequestContext.self)
        let uiSessions = UISessions(lifetimeSeconds: options.uiSessionSeconds)
        // Without the dashboard no cookie stands for the token anywhere.
        let sessions = options.dashboard ? uiSessions : nil
        router.add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: options.proxyRequiresToken, sessions: sessions))
        ManagementRoutes(supervisor: supervisor, maxBodyBytes: options.maxBodyBytes, version: options.version, reload: options.reload).register(on: router)
        let logRoutes = LogRoutes(store: supervisor.logs)
        logRoutes.register(on: router)
        MetricsRoutes(supervisor: supervisor, traffic: traffic).register(on: router)
        OpenAPIRoutes().register(on: router)
        UIRoutes(token: options.token, sessions: uiSessions, enabled: options.dashboard).register(on: router)
        AgentProxy(supervisor: supervisor, client: agentClient, timeout: .milliseconds(Int64(options.proxyTimeoutSeconds * 1000)), traffic: traffic, stripsAuthorization: options.proxyRequiresToken).register(on: router)
        let webSocketRouter = Router(context: PARWebSocketContext.self)
        if options.proxyRequiresToken {
            webSocketRouter.add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: true, sessions: sessions))
        }
        WebSocketProxy(supervisor: supervisor, logger: logger).register(on: webSocketRouter)
        // The log tail is management API: it needs the token whatever the proxy's setting.
        logRoutes.registerWebSocket(on: webSocketRouter.group().add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: options.proxyRequiresToken, sessions: sessions)))
        return (router, webSocketRouter)
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
