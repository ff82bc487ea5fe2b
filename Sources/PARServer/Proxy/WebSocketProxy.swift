import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import HummingbirdWSClient
import Logging
import NIOCore
import PARSupervisor

/// The context of upgrade requests (a router of its own, consulted only for them).
public struct PARWebSocketContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<PARWebSocketContext>

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
    }
}

/// WebSocket upgrades on `/agents/{agent_id}/...`: the client's socket is accepted here, a
/// second one is opened to the agent's loopback port, and messages are relayed both ways
/// until either side closes. An upgrade to an agent that is not running is not accepted
/// (the request then goes to the HTTP proxy, which answers 404 or 503).
struct WebSocketProxy: Sendable {
    let supervisor: Supervisor
    let logger: Logger
    static let maxMessageBytes = 16 << 20

    func register(on router: Router<PARWebSocketContext>) {
        for path in ["/agents/:agent_id", "/agents/:agent_id/**"] {
            router.ws(RouterPath(path)) { request, context in
                guard let agentID = context.parameters.get("agent_id"),
                      case .forward = await supervisor.route(agentID) else { return .dontUpgrade }
                // The answer goes out before the agent is reached, so the proxy picks the
                // client's first subprotocol and asks the agent for exactly that one.
                if let offered = Self.firstSubprotocol(request.headers) {
                    return .upgrade([.secWebSocketProtocol: offered])
                }
                return .upgrade([:])
            } onUpgrade: { inbound, outbound, context in
                try await relay(request: context.request, inbound: inbound, outbound: outbound)
            }
        }
    }

    private func relay(request: Request, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        let path = request.uri.path
        let afterPrefix = path.dropFirst("/agents/".count)
        let agentID = String(afterPrefix.prefix { $0 != "/" })
        var rest = String(afterPrefix.dropFirst(agentID.count))
        guard path.hasPrefix("/agents/"), rest.isEmpty || rest.hasPrefix("/"), !path.contains("//") else {
            try await outbound.close(.policyViolation, reason: "invalid path")
            return
        }
        if rest.isEmpty { rest = "/" }
        guard case .forward(let port) = await supervisor.route(agentID) else {
            try await outbound.close(.unexpectedServerError, reason: "agent \(agentID) is not running")
            return
        }
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders[HTTPField.Name("X-Forwarded-Prefix")!] = "/agents/\(agentID)"
        configuration.additionalHeaders[HTTPField.Name("X-Forwarded-Proto")!] = "http"
        if let subprotocol = Self.firstSubprotocol(request.headers) {
            configuration.additionalHeaders[.secWebSocketProtocol] = subprotocol
        }
        let query = request.uri.query.map { "?\($0)" } ?? ""
        let maxBytes = Self.maxMessageBytes
        try await WebSocketClient.connect(url: "ws://127.0.0.1:\(port)\(rest)\(query)", configuration: configuration, logger: logger) { agentInbound, agentOutbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: maxBytes) {
                        try await agentOutbound.write(Self.frame(message))
                    }
                    try? await agentOutbound.close(.normalClosure, reason: nil)
                }
                group.addTask {
                    for try await message in agentInbound.messages(maxSize: maxBytes) {
                        try await outbound.write(Self.frame(message))
                    }
                    try? await outbound.close(.normalClosure, reason: nil)
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    static func firstSubprotocol(_ headers: HTTPFields) -> String? {
        headers[values: .secWebSocketProtocol]
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty }
    }

    static func frame(_ message: WebSocketMessage) -> WebSocketOutboundWriter.OutboundFrame {
        switch message {
        case .text(let text): .text(text)
        case .binary(let buffer): .binary(buffer)
        }
    }
}
