import AsyncHTTPClient
import Foundation
import Hummingbird
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

        public init(host: String = "127.0.0.1", port: Int = 8000, token: String, maxBodyBytes: Int = 1 << 20, version: String, proxyTimeoutSeconds: Double = 60, proxyRequiresToken: Bool = false, proxyIdleTimeoutSeconds: Double = 30) {
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

    public static func makeApplication(
        supervisor: Supervisor, agentClient: HTTPClient, options: Options, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: PARRequestContext.self)
        router.add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: options.proxyRequiresToken))
        ManagementRoutes(supervisor: supervisor, maxBodyBytes: options.maxBodyBytes, version: options.version).register(on: router)
        let logRoutes = LogRoutes(store: supervisor.logs)
        logRoutes.register(on: router)
        let traffic = ProxyTraffic()
        MetricsRoutes(supervisor: supervisor, traffic: traffic).register(on: router)
        AgentProxy(supervisor: supervisor, client: agentClient, timeout: .milliseconds(Int64(options.proxyTimeoutSeconds * 1000)), traffic: traffic, stripsAuthorization: options.proxyRequiresToken).register(on: router)
        let webSocketRouter = Router(context: PARWebSocketContext.self)
        if options.proxyRequiresToken {
            webSocketRouter.add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: true))
        }
        WebSocketProxy(supervisor: supervisor, logger: logger).register(on: webSocketRouter)
        // The log tail is management API: it needs the token whatever the proxy's setting.
        logRoutes.registerWebSocket(on: webSocketRouter.group().add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes, guardsProxy: options.proxyRequiresToken)))
        let proxySettings = ProxySettings(
            routes: supervisor.routeTable,
            pools: AgentConnectionPools(idleTimeout: .milliseconds(Int64(options.proxyIdleTimeoutSeconds * 1000))),
            traffic: traffic,
            timeout: .milliseconds(Int64(options.proxyTimeoutSeconds * 1000)),
            requiredToken: options.proxyRequiresToken ? options.token : nil
        )
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: webSocketRouter,
                configuration: .init(http1: .init(additionalChannelHandlers: [AgentProxyHandler.install(settings: proxySettings)]))
            ),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "par/\(options.version)"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? options.port) },
            logger: logger
        )
    }
}
