import Foundation

/// RFC 9112 and RFC 3986 rules a request meets before it is routed, decided in one place
/// for every path: the relay hands any request these could refuse to the HTTP server, and
/// there `AgentProxyHandler` applies them to each head before routing it (agent or API).
/// Pure: every case is tested without a socket.
enum RequestRules {
    enum Refusal: Error, Equatable, Sendable {
        /// HTTP/1.1 without `Host` (RFC 9112 section 3.2).
        case missingHost
        /// More than one `Host` line.
        case repeatedHost
        /// `/agents/{id}/..` resolves to a path outside the agent's prefix.
        case climbsOutOfAgent
        /// A transfer coding other than `chunked` (RFC 9112 section 6.1: 501).
        case unsupportedTransferCoding(String)
    }

    /// `Transfer-Encoding` lines: only `chunked`, once, is relayed.
    static func transferCodingRefusal(_ values: [String]) -> Refusal? {
        let codings = values.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard !codings.isEmpty, codings != ["chunked"] else { return nil }
        return .unsupportedTransferCoding(codings.joined(separator: ", "))
    }

    static func hostRefusal(hostLines: Int, isHTTP11: Bool) -> Refusal? {
        if hostLines > 1 { return .repeatedHost }
        if hostLines == 0, isHTTP11 { return .missingHost }
        return nil
    }

    /// Whether the path part of `target` (before `?`) has a `.` or `..` segment.
    static func hasDotSegment<Bytes: Collection<UInt8>>(_ target: Bytes) -> Bool {
        var segmentLength = 0
        var segmentDots = 0
        for byte in target {
            if byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") { break }
            if byte == UInt8(ascii: "/") {
                if segmentLength > 0, segmentLength == segmentDots, segmentDots <= 2 { return true }
                segmentLength = 0
                segmentDots = 0
            } else {
                segmentLength += 1
                if byte == UInt8(ascii: ".") { segmentDots += 1 }
            }
        }
        return segmentLength > 0 && segmentLength == segmentDots && segmentDots <= 2
    }

    /// `target` with its path's dot-segments resolved (RFC 3986 section 5.2.4), the query
    /// kept; nil when `..` would climb above the root.
    static func removingDotSegments(_ target: String) -> String? {
        let queryStart = target.firstIndex { $0 == "?" || $0 == "#" } ?? target.endIndex
        let path = target[..<queryStart]
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (index, segment) in segments.enumerated() {
            let isLast = index == segments.count - 1
            switch segment {
            case ".":
                if isLast { output.append("") }
            case "..":
                guard !output.isEmpty else { return nil }
                output.removeLast()
                if isLast { output.append("") }
            default:
                output.append(segment)
            }
        }
        return "/" + output.joined(separator: "/") + target[queryStart...]
    }

    /// For `/agents/{id}...` targets with dot-segments: the resolved target, or the refusal
    /// when it leaves `/agents/{id}`. Targets without dot-segments are returned unchanged.
    static func agentTarget(_ target: String) -> Result<String, Refusal> {
        guard hasDotSegment(target.utf8) else { return .success(target) }
        guard target.hasPrefix("/agents/"), let resolved = removingDotSegments(target) else {
            return target.hasPrefix("/agents/") ? .failure(.climbsOutOfAgent) : .success(target)
        }
        let id = target.dropFirst(8).prefix { $0 != "/" && $0 != "?" }
        let prefix = "/agents/\(id)"
        guard resolved == prefix || resolved.hasPrefix(prefix + "/") || resolved.hasPrefix(prefix + "?") else {
            return .failure(.climbsOutOfAgent)
        }
        return .success(resolved)
    }

    static func answer(_ refusal: Refusal) -> APIError {
        switch refusal {
        case .missingHost:
            APIError(.badRequest, "malformed request", detail: "an HTTP/1.1 request needs a Host header")
        case .repeatedHost:
            APIError(.badRequest, "malformed request", detail: "a request may carry one Host header, not several")
        case .climbsOutOfAgent:
            APIError(.badRequest, "malformed request", detail: "the path's .. segments climb out of /agents/{agent_id}; send the path without them")
        case .unsupportedTransferCoding(let codings):
            APIError(.notImplemented, "transfer coding not implemented", detail: "Transfer-Encoding \(codings) is not supported; send the body with Content-Length or Transfer-Encoding: chunked")
        }
    }
}
