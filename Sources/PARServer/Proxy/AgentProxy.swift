import AsyncHTTPClient
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTP1
import PARSupervisor

/// The proxy's slow path, for requests the channel-level `AgentProxyHandler` hands on
/// (it answers unknown and stopped agents, and takes the rare request that arrives
/// pipelined behind a management call or while the route table is a moment behind).
/// `/agents/{agent_id}/...` to `http://127.0.0.1:{port}/...`: bodies stream both ways
/// (nothing is buffered whole), connections to agents are pooled, hop-by-hop headers are
/// dropped and X-Forwarded-* added. The target is always the agent's loopback port, never
/// anything the client names.
struct AgentProxy<Context: RemoteAddressRequestContext>: Sendable {
    let supervisor: Supervisor
    let client: HTTPClient
    let timeout: TimeAmount
    let traffic: ProxyTraffic
    /// When the proxy asks for the management token, it is not passed on to agents.
    let stripsAuthorization: Bool

    func register(on router: Router<Context>) {
        let methods: [HTTPRequest.Method] = [.get, .post, .put, .delete, .patch, .head, .options]
        for method in methods {
            router.on("/agents/:agent_id", method: method) { request, context in try await self.forward(request, context: context) }
            router.on("/agents/:agent_id/**", method: method) { request, context in try await self.forward(request, context: context) }
        }
    }

    func forward(_ request: Request, context: Context) async throws -> Response {
        let agentID = try context.parameters.require("agent_id")
        let port: Int
        switch await supervisor.route(agentID) {
        case .forward(let agentPort):
            port = agentPort
        case .unknown:
            traffic.recordUnknownAgent()
            throw APIError(.notFound, "unknown agent", detail: "no agent \(agentID.debugDescription); agents are listed in GET /supervisor/status")
        case .unavailable(let state, let retryAfter):
            traffic.record(agentID: agentID, status: 503)
            var error = APIError(.serviceUnavailable, "agent not running", detail: "agent \(agentID) is \(state.rawValue)\(retryAfter.map { "; try again in \($0) s" } ?? "")")
            if let retryAfter { error.headers[.retryAfter] = String(retryAfter) }
            throw error
        }

        let prefix = "/agents/\(agentID)"
        let fullPath = request.uri.path
        var rest = String(fullPath.dropFirst(prefix.count))
        guard fullPath.hasPrefix(prefix), rest.isEmpty || rest.hasPrefix("/") else {
            throw APIError(.badRequest, "invalid path", detail: "cannot map \(fullPath.debugDescription) onto agent \(agentID)")
        }
        if rest.isEmpty { rest = "/" }
        let query = request.uri.query.map { "?\($0)" } ?? ""
        var outbound = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(rest)\(query)")
        outbound.method = HTTPMethod(rawValue: request.method.rawValue)
        outbound.headers = Self.forwardHeaders(request, context: context, prefix: prefix, stripAuthorization: stripsAuthorization)
        if let length = request.headers[.contentLength].flatMap(Int.init) {
            outbound.body = length > 0 ? .stream(request.body, length: .known(Int64(length))) : nil
        } else if request.headers[.transferEncoding] != nil {
            outbound.body = .stream(request.body, length: .unknown)
        }

        let response: HTTPClientResponse
        do {
            response = try await client.execute(outbound, timeout: timeout)
        } catch {
            let answer = ProxyErrors.map(error, agentID: agentID, port: port, timeout: timeout)
            traffic.record(agentID: agentID, failure: answer.status == .gatewayTimeout ? .timedOut : .unreachable)
            throw answer
        }
        traffic.record(agentID: agentID, status: Int(response.status.code))
        var headers = HTTPFields()
        let connectionTokens = ProxyHeaders.connectionTokens(response.headers)
        var contentLength: Int?
        for (name, value) in response.headers {
            let kind = ProxyHeaders.HeaderName(name)
            // Hummingbird frames the body itself from this.
            if kind == .contentLength { contentLength = Int(value); continue }
            guard !kind.isDroppedFromAnswers, !connectionTokens.contains(name.lowercased()), let field = HTTPField.Name(name) else { continue }
            headers.append(HTTPField(name: field, value: value))
        }
        let status = HTTPResponse.Status(code: Int(response.status.code), reasonPhrase: response.status.reasonPhrase)
        if request.method == .head {
            if let contentLength { headers[.contentLength] = String(contentLength) }
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        let upstream = response.body
        let body = ResponseBody(contentLength: contentLength) { writer in
            for try await chunk in upstream {
                try await writer.write(chunk)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// The agent's headers by `ProxyHeaders`' rules; AsyncHTTPClient restates the framing.
    static func forwardHeaders(_ request: Request, context: Context, prefix: String, stripAuthorization: Bool) -> HTTPHeaders {
        let tokens = ProxyHeaders.connectionTokens(values: request.headers[values: .connection])
        var headers = HTTPHeaders()
        let fields = request.headers.lazy.map { (name: $0.name.rawName, value: $0.value) }
        var restated = ProxyHeaders.filterRequestHeaders(fields, connectionTokens: tokens, stripAuthorization: stripAuthorization) {
            headers.add(name: $0, value: $1)
        }
        // HTTPTypes keeps `Host` as the request's authority, outside its fields.
        restated.authority = restated.authority ?? request.head.authority
        ProxyHeaders.addForwarded(restated, clientAddress: context.remoteAddress?.ipAddress ?? "unknown", prefix: prefix) {
            headers.add(name: $0, value: $1)
        }
        return headers
    }
}

/// The answers every proxy path gives when the agent cannot: worded once, so the relay,
/// the NIO handler and the slow path say the same thing.
enum ProxyErrors {
    static func timedOut(agentID: some StringProtocol, port: Int, seconds: Double) -> APIError {
        APIError(.gatewayTimeout, "agent timed out", detail: "agent \(agentID) on port \(port) did not answer within \(seconds) s (--proxy-timeout)")
    }

    static func unreachable(agentID: some StringProtocol, port: Int, reason: String) -> APIError {
        APIError(.badGateway, "agent unreachable", detail: "cannot reach agent \(agentID) on port \(port): \(reason)")
    }

    static func closedBeforeAnswering(agentID: some StringProtocol, port: Int) -> APIError {
        APIError(.badGateway, "agent unreachable", detail: "agent \(agentID) on port \(port) closed the connection before answering")
    }

    static func badAnswer(agentID: some StringProtocol, port: Int, reason: String) -> APIError {
        APIError(.badGateway, "bad agent answer", detail: "agent \(agentID) on port \(port) sent an answer the proxy cannot read: \(reason)")
    }

    /// Turns client errors into the proxy's answers: refused 502, too slow 504.
    static func map(_ error: Error, agentID: String, port: Int, timeout: TimeAmount) -> APIError {
        if let client = error as? HTTPClientError,
           client == .deadlineExceeded || client == .readTimeout || client == .connectTimeout {
            return timedOut(agentID: agentID, port: port, seconds: Double(timeout.nanoseconds) / 1e9)
        }
        return unreachable(agentID: agentID, port: port, reason: describe(error))
    }

    static func describe(_ error: Error) -> String {
        if let client = error as? HTTPClientError { return "\(client)" }
        return String(describing: error)
    }
}
