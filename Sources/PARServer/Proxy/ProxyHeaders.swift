import Foundation
import NIOHTTP1

/// How a request's head is rewritten on its way to an agent and a response's head on its
/// way back: pure functions over NIO's HTTP/1 heads, so the proxy's hot path converts
/// nothing (no HTTPTypes, no Foundation) and allocates little.
enum ProxyHeaders {
    /// The part of `uri` after `/agents/{agent_id}` (`prefixLength` bytes), as the agent
    /// sees it: `/agents/a` and `/agents/a?x=1` become `/` and `/?x=1`. Nil when the rest
    /// does not start at a segment boundary.
    static func agentURI(_ uri: String, prefixLength: Int) -> String? {
        let rest = uri.utf8.dropFirst(prefixLength)
        guard let first = rest.first else { return "/" }
        if first == UInt8(ascii: "/") { return String(Substring(rest)) }
        if first == UInt8(ascii: "?") { return "/" + String(Substring(rest)) }
        return nil
    }

    /// What the proxy restates itself from a request's headers instead of passing them on.
    struct Restated {
        var contentLength: String?
        var transferCodings: [String] = []
        var authority: String?
        var forwardedFor: String?
    }

    /// The one rule for which of a request's headers reach an agent, on the NIO path and
    /// the slow path alike (the relay applies the same `HeadScanner.classify` to bytes):
    /// end-to-end headers go to `keep`; hop-by-hop ones, those the client named in
    /// `Connection`, `Expect` (the proxy answers 100 Continue itself), the client's own
    /// `X-Forwarded-*` and names with `_` are dropped; framing, `Host` and
    /// `X-Forwarded-For` come back to be restated.
    static func filterRequestHeaders(
        _ fields: some Sequence<(name: String, value: String)>, connectionTokens tokens: Set<String>, stripAuthorization: Bool,
        keep: (_ name: String, _ value: String) -> Void
    ) -> Restated {
        var restated = Restated()
        for (name, value) in fields {
            switch HeaderName(name) {
            case .contentLength: restated.contentLength = value; continue
            case .transferEncoding: restated.transferCodings.append(value); continue
            case .host: restated.authority = restated.authority ?? value; continue
            case .forwardedFor: restated.forwardedFor = restated.forwardedFor.map { $0 + ", " + value } ?? value; continue
            case .expect: continue
            case .authorization where stripAuthorization: continue
            case .hopByHop, .otherForwarded, .underscored: continue
            case .cookie:
                // The dashboard's session is the daemon's, never an agent's.
                if let rest = withoutSessionCookie(value) { keep(name, rest) }
                continue
            case .authorization, .other: break
            }
            if !tokens.isEmpty, tokens.contains(name.lowercased()) { continue }
            keep(name, value)
        }
        return restated
    }

    /// A `Cookie` value without the dashboard's session cookie; nil when nothing is left.
    static func withoutSessionCookie(_ value: String) -> String? {
        guard value.contains(UISessions.cookieName + "=") else { return value }
        let kept = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.hasPrefix(UISessions.cookieName + "=") && !$0.isEmpty }
        return kept.isEmpty ? nil : kept.joined(separator: "; ")
    }

    /// The `X-Forwarded-*` headers every path adds (the relay writes the same bytes).
    static func addForwarded(_ restated: Restated, clientAddress: String, prefix: String, to add: (_ name: String, _ value: String) -> Void) {
        add("X-Forwarded-For", restated.forwardedFor.map { $0 + ", " + clientAddress } ?? clientAddress)
        add("X-Forwarded-Proto", "http")
        if let authority = restated.authority { add("X-Forwarded-Host", authority) }
        add("X-Forwarded-Prefix", prefix)
    }

    /// The head sent to the agent: `filterRequestHeaders`, framing restated, and
    /// `X-Forwarded-*` added.
    static func agentRequest(
        _ request: HTTPRequestHead, uri: String, agentPort: Int, prefix: String, clientAddress: String, stripAuthorization: Bool
    ) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 6)
        headers.add(name: "Host", value: "127.0.0.1:\(agentPort)")
        let restated = filterRequestHeaders(request.headers, connectionTokens: connectionTokens(request.headers), stripAuthorization: stripAuthorization) {
            headers.add(name: $0, value: $1)
        }
        if let contentLength = restated.contentLength {
            headers.add(name: "Content-Length", value: contentLength)
        } else if !restated.transferCodings.isEmpty {
            // Kept whole: a body sent `gzip, chunked` is de-chunked by the decoder but is
            // still gzip, and the encoder chunks it again for the agent.
            headers.add(name: "Transfer-Encoding", value: restated.transferCodings.joined(separator: ", "))
        } else if request.method != .GET, request.method != .HEAD {
            // No framing means no body; say so, or the encoder would frame one as chunked.
            headers.add(name: "Content-Length", value: "0")
        }
        addForwarded(restated, clientAddress: clientAddress, prefix: prefix) { headers.add(name: $0, value: $1) }
        return HTTPRequestHead(version: .http1_1, method: request.method, uri: uri, headers: headers)
    }

    /// The head sent back to the client: the agent's status and end-to-end headers, with its
    /// `Content-Length` kept (the body is relayed byte for byte) and other framing redone by
    /// the encoder.
    static func clientResponse(_ head: HTTPResponseHead, version: HTTPVersion = .http1_1, closing: Bool) -> HTTPResponseHead {
        var response = head
        response.version = version
        let tokens = connectionTokens(head.headers)
        let needsFiltering = !tokens.isEmpty || head.headers.contains { name, _ in HeaderName(name).isDroppedFromAnswers }
        if needsFiltering {
            var headers = HTTPHeaders()
            headers.reserveCapacity(head.headers.count)
            for (name, value) in head.headers where !HeaderName(name).isDroppedFromAnswers {
                if !tokens.isEmpty, tokens.contains(name.lowercased()) { continue }
                headers.add(name: name, value: value)
            }
            response.headers = headers
        }
        if closing {
            response.headers.replaceOrAdd(name: "Connection", value: "close")
        } else if version == .http1_0 {
            // HTTP/1.0 closes after each answer unless told otherwise.
            response.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        return response
    }

    /// Header names listed in `Connection`, lowercased: connection-scoped, to be dropped too.
    static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> {
        connectionTokens(values: headers[canonicalForm: "connection"].map(String.init))
    }

    /// The same from raw `Connection` values (comma-separated lists).
    static func connectionTokens(values: some Sequence<String>) -> Set<String> {
        var tokens = Set<String>()
        for value in values {
            for part in value.split(separator: ",") {
                let token = part.trimmingCharacters(in: .whitespaces).lowercased()
                if !token.isEmpty, token != "close", token != "keep-alive" { tokens.insert(token) }
            }
        }
        return tokens
    }

    /// The classes of header the proxy treats specially, recognised without allocating.
    enum HeaderName {
        case contentLength, transferEncoding, host, forwardedFor, otherForwarded, expect, authorization, cookie, hopByHop, other, underscored

        /// An agent's answer loses these: its `Content-Length` stays (the body is relayed
        /// byte for byte), other framing is redone by the encoder.
        var isDroppedFromAnswers: Bool {
            switch self {
            case .transferEncoding, .host, .hopByHop: true
            default: false
            }
        }

        /// One set of rules for both proxies: the relay's byte-level classifier.
        init(_ name: String) {
            var name = name
            let kind = name.withUTF8 { HeadScanner.classify(UnsafeRawBufferPointer($0), name: 0..<$0.count) }
            switch kind {
            case .contentLength: self = .contentLength
            case .transferEncoding: self = .transferEncoding
            case .host: self = .host
            case .forwardedFor: self = .forwardedFor
            case .otherForwarded: self = .otherForwarded
            case .expect: self = .expect
            case .authorization: self = .authorization
            case .cookie: self = .cookie
            case .connection, .upgrade, .hopByHop: self = .hopByHop
            case .other: self = .other
            case .underscored: self = .underscored
            }
        }

        /// ASCII case-insensitive equality with a lowercase literal.
        static func equals(_ name: String, _ lowercase: StaticString) -> Bool {
            guard name.utf8.count == lowercase.utf8CodeUnitCount else { return false }
            return lowercase.withUTF8Buffer { expected in
                var index = 0
                for byte in name.utf8 {
                    let lowered = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
                    if lowered != expected[index] { return false }
                    index += 1
                }
                return true
            }
        }
    }
}
