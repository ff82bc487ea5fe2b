import Foundation
import Hummingbird
import Logging
import PARSupervisor

/// Builds the HTTP application: the management API behind the security middleware.
public enum APIServer {
    public struct Options: Sendable {
        public var host: String
        public var port: Int
        public var token: String
        public var maxBodyBytes: Int
        public var version: String

        public init(host: String = "127.0.0.1", port: Int = 8000, token: String, maxBodyBytes: Int = 1 << 20, version: String) {
            self.host = host
            self.port = port
            self.token = token
            self.maxBodyBytes = maxBodyBytes
            self.version = version
        }
    }

    public static func makeApplication(
        supervisor: Supervisor, options: Options, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: SecurityMiddleware(token: options.token, maxBodyBytes: options.maxBodyBytes))
        ManagementRoutes(supervisor: supervisor, maxBodyBytes: options.maxBodyBytes, version: options.version).register(on: router)
        return Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "par/\(options.version)"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? options.port) },
            logger: logger
        )
    }
}
