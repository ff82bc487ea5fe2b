import NIOCore

/// Pure reading and rewriting of HTTP/1.1 heads for the front door's relay: which requests
/// it may take itself, the head an agent receives, and how an agent's answer is framed.
/// Anything it is unsure of is handed to the full HTTP stack instead, so these rules only
/// need to be right for plain requests, never complete.
enum HeadScanner {
    /// Longest head the relay reads itself; longer ones go to the full stack.
    static let maxHeadBytes = 16 << 10
    /// Largest request body the relay forwards; larger (streamed) ones go to the full stack.
    static let maxBodyBytes = 64 << 10

    // MARK: Requests

    struct Request: Equatable {
        /// Bytes of the head, final empty line included.
        var headLength: Int
        var method: Range<Int>
        var agentID: Range<Int>
        /// The target as the agent sees it, after `/agents/{id}`: empty for `/`.
        var agentTarget: Range<Int>
        var contentLength: Int?
        var isHead: Bool
        /// Safe to send twice (RFC 9110 section 9.2.2).
        var isIdempotent: Bool
        var wantsClose: Bool
        var host: Range<Int>?
        /// Where the header lines start (after the request line).
        var fieldsStart: Int
        var totalLength: Int { headLength + (contentLength ?? 0) }
    }

    enum RequestVerdict: Equatable {
        /// No full head yet.
        case incomplete
        /// Not for the relay: the full HTTP stack answers it (and every later request on the connection).
        case fullStack
        case relay(Request)
    }

    /// Reads a request head from `bytes`. The relay takes `/agents/{id}…` requests in
    /// HTTP/1.1 with at most a `Content-Length` body and no upgrade, `Expect`,
    /// `Transfer-Encoding`, or `Connection` list naming other headers.
    static func scanRequest(_ bytes: UnsafeRawBufferPointer) -> RequestVerdict {
        guard let headEnd = endOfHead(bytes, limit: maxHeadBytes) else {
            if bytes.count > maxHeadBytes { return .fullStack }
            // A head the relay will never take (a bare LF, a request line that is not
            // HTTP/1.1) goes to the full stack now, which answers it, instead of waiting
            // for a CRLF CRLF that may never come.
            return lacksCRLFFraming(bytes) ? .fullStack : .incomplete
        }
        // Request line: METHOD SP /agents/{id}[rest] SP HTTP/1.1 CRLF
        var index = 0
        while index < headEnd, isUpperAlpha(bytes[index]) { index += 1 }
        let method = 0..<index
        guard !method.isEmpty, method.count <= 16, index < headEnd, bytes[index] == space else { return .fullStack }
        index += 1
        guard matches(bytes, at: index, "/agents/") else { return .fullStack }
        index += 8
        let idStart = index
        while index < headEnd, isAgentIDByte(bytes[index]) { index += 1 }
        let agentID = idStart..<index
        guard (1...63).contains(agentID.count) else { return .fullStack }
        let restStart = index
        var previousSlash = false
        var inQuery = false
        // `.` and `..` segments go to the HTTP server, which resolves or refuses them
        // (`RequestRules`), so one place decides where such a path leads.
        var segmentLength = 0
        var segmentDots = 0
        while index < headEnd, bytes[index] != space {
            let byte = bytes[index]
            guard byte > 0x20, byte < 0x7F else { return .fullStack }
            if index == restStart, byte != slash, byte != question { return .fullStack }
            if byte == question { inQuery = true }
            // `//` goes to the router, which refuses it.
            if !inQuery, byte == slash, previousSlash { return .fullStack }
            if !inQuery {
                if byte == slash {
                    if segmentLength > 0, segmentLength == segmentDots, segmentDots <= 2 { return .fullStack }
                    segmentLength = 0
                    segmentDots = 0
                } else {
                    segmentLength += 1
                    if byte == 0x2E { segmentDots += 1 }
                }
            }
            previousSlash = byte == slash
            index += 1
        }
        if segmentLength > 0, segmentLength == segmentDots, segmentDots <= 2 { return .fullStack }
        let agentTarget = restStart..<index
        guard index < headEnd, matches(bytes, at: index, " HTTP/1.1\r\n") else { return .fullStack }
        index += 11
        let fieldsStart = index

        var request = Request(
            headLength: headEnd, method: method, agentID: agentID, agentTarget: agentTarget,
            contentLength: nil, isHead: equals(bytes, method, "HEAD"), isIdempotent: isIdempotent(bytes, method),
            wantsClose: false, host: nil, fieldsStart: fieldsStart
        )
        var fieldCount = 0
        var fields = FieldIterator(bytes: bytes, start: fieldsStart, end: headEnd)
        while let field = fields.next() {
            guard let field else { return .fullStack }
            fieldCount += 1
            guard fieldCount <= 100 else { return .fullStack }
            switch classify(bytes, name: field.name) {
            case .contentLength:
                guard request.contentLength == nil, let length = decimal(bytes, field.value), length <= maxBodyBytes else { return .fullStack }
                request.contentLength = length
            case .transferEncoding, .expect, .upgrade:
                return .fullStack
            case .cookie:
                // The dashboard's session must never reach an agent: the full stack strips
                // it (`ProxyHeaders.filterRequestHeaders`); other cookies pass here as they are.
                if contains(bytes, field.value, UISessions.cookieName + "=") { return .fullStack }
            case .connection:
                var tokens = TokenIterator(bytes: bytes, range: field.value)
                while let token = tokens.next() {
                    if equalsIgnoringCase(bytes, token, "close") { request.wantsClose = true }
                    else if !equalsIgnoringCase(bytes, token, "keep-alive") { return .fullStack }
                }
            case .host:
                // A second Host is refused by the HTTP server (`RequestRules`).
                guard request.host == nil else { return .fullStack }
                request.host = field.value
            default:
                break
            }
        }
        // No Host: the HTTP server answers 400 (RFC 9112 section 3.2).
        guard request.host != nil else { return .fullStack }
        return .relay(request)
    }

    /// The head the agent receives: the request line with the agent's target, the client's
    /// end-to-end fields, `Host` of the agent, framing restated and `X-Forwarded-*` set (any
    /// the client sent are replaced, except `X-Forwarded-For`, which is extended). The same
    /// rules as the full stack's `ProxyHeaders.agentRequest`.
    static func writeAgentRequest(_ bytes: UnsafeRawBufferPointer, _ request: Request, port: [UInt8], clientAddress: [UInt8], into out: inout ByteBuffer) {
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[request.method]))
        out.writeInteger(space)
        if request.agentTarget.isEmpty || bytes[request.agentTarget.lowerBound] == question { out.writeInteger(slash) }
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[request.agentTarget]))
        out.writeStaticString(" HTTP/1.1\r\nHost: 127.0.0.1:")
        out.writeBytes(port)
        out.writeStaticString("\r\n")
        var forwardedFor: [Range<Int>] = []
        var fields = FieldIterator(bytes: bytes, start: request.fieldsStart, end: request.headLength)
        while let field = fields.next() {
            guard let field else { break }
            switch classify(bytes, name: field.name) {
            case .other, .authorization, .cookie:
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[field.line]))
            case .forwardedFor:
                forwardedFor.append(field.value)
            default:
                continue
            }
        }
        if let length = request.contentLength {
            out.writeStaticString("Content-Length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        } else if !equals(bytes, request.method, "GET"), !request.isHead {
            out.writeStaticString("Content-Length: 0\r\n")
        }
        out.writeStaticString("X-Forwarded-For: ")
        for value in forwardedFor {
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[value]))
            out.writeStaticString(", ")
        }
        out.writeBytes(clientAddress)
        out.writeStaticString("\r\nX-Forwarded-Proto: http\r\n")
        if let host = request.host {
            out.writeStaticString("X-Forwarded-Host: ")
            out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[host]))
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("X-Forwarded-Prefix: /agents/")
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[request.agentID]))
        out.writeStaticString("\r\n\r\n")
    }

    // MARK: Responses

    enum Framing: Equatable {
        case empty
        case length(Int)
        case chunked
        /// The body ends when the agent closes the connection.
        case untilClose
    }

    struct Response: Equatable {
        var headLength: Int
        var status: Int
        var framing: Framing
        /// The agent keeps the connection open after this answer.
        var keepsAlive: Bool
    }

    enum ResponseVerdict: Equatable {
        case incomplete
        case invalid(String)
        case response(Response)
    }

    /// Reads an agent's response head. `requestWasHead` because a HEAD answer has no body
    /// whatever its `Content-Length` says.
    static func scanResponse(_ bytes: UnsafeRawBufferPointer, requestWasHead: Bool) -> ResponseVerdict {
        guard let headEnd = endOfHead(bytes, limit: maxHeadBytes) else {
            return bytes.count > maxHeadBytes ? .invalid("response head longer than \(maxHeadBytes) bytes") : .incomplete
        }
        guard matches(bytes, at: 0, "HTTP/1."), headEnd > 12, bytes[7] == 0x30 || bytes[7] == 0x31, bytes[8] == space,
              let status = decimal(bytes, 9..<12), status >= 100, bytes[12] == space || bytes[12] == cr
        else { return .invalid("malformed status line") }
        let isHTTP10 = bytes[7] == 0x30
        var lineEnd = 12
        while lineEnd < headEnd, bytes[lineEnd] != cr {
            // The reason is passed on as it is, so it must not hide a line break for a lenient client.
            guard !isControl(bytes[lineEnd]) else { return .invalid("control character in the status line") }
            lineEnd += 1
        }
        var contentLength: Int?
        var chunked = false
        var transferEncoded = false
        var closes = isHTTP10
        var fields = FieldIterator(bytes: bytes, start: lineEnd + 2, end: headEnd)
        while let field = fields.next() {
            guard let field else { return .invalid("malformed header line") }
            switch classify(bytes, name: field.name) {
            case .contentLength:
                guard let length = decimal(bytes, field.value), contentLength == nil || contentLength == length else {
                    return .invalid("bad Content-Length")
                }
                contentLength = length
            case .transferEncoding:
                transferEncoded = true
                var codings = TokenIterator(bytes: bytes, range: field.value)
                chunked = false
                while let coding = codings.next() { chunked = equalsIgnoringCase(bytes, coding, "chunked") }
            case .connection:
                var tokens = TokenIterator(bytes: bytes, range: field.value)
                while let token = tokens.next() {
                    if equalsIgnoringCase(bytes, token, "close") { closes = true }
                    else if equalsIgnoringCase(bytes, token, "keep-alive") { if isHTTP10 { closes = false } }
                    // Other tokens name headers to drop; the relay only drops the fixed set.
                    else { return .invalid("Connection lists other headers") }
                }
            default:
                break
            }
        }
        let framing: Framing
        if status < 200 || status == 204 || status == 304 || requestWasHead {
            framing = .empty
        } else if transferEncoded {
            framing = chunked ? .chunked : .untilClose
        } else if let contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        return .response(Response(headLength: headEnd, status: status, framing: framing, keepsAlive: !closes && framing != .untilClose))
    }

    /// The head the client receives: HTTP/1.1, the agent's status and end-to-end fields
    /// (framing fields kept, since the body is relayed byte for byte), and `Connection:
    /// close` when the connection ends after it.
    static func writeClientResponse(_ bytes: UnsafeRawBufferPointer, _ response: Response, closing: Bool, into out: inout ByteBuffer) {
        var lineEnd = 12
        while lineEnd < response.headLength, bytes[lineEnd] != cr { lineEnd += 1 }
        out.writeStaticString("HTTP/1.1")
        out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[8..<(lineEnd + 2)]))
        var fields = FieldIterator(bytes: bytes, start: lineEnd + 2, end: response.headLength)
        while let field = fields.next() {
            guard let field else { break }
            switch classify(bytes, name: field.name) {
            case .contentLength where response.framing == .chunked || response.framing == .untilClose:
                // Sent with Transfer-Encoding, which wins (RFC 9112 section 6.3): not passed on.
                continue
            case .other, .underscored, .authorization, .cookie, .contentLength, .transferEncoding, .forwardedFor, .otherForwarded, .expect:
                out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[field.line]))
            case .connection, .hopByHop, .upgrade, .host:
                continue
            }
        }
        if closing { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
    }

    // MARK: Chunked bodies

    /// Finds where a chunked body ends, so it can be relayed untouched (trailers included).
    struct ChunkedBody: Equatable {
        private enum State: Equatable {
            case size(digits: Int), extensions, sizeLF, data, dataCR, dataLF, trailerStart, trailerLine, trailerLF, finalLF, done
        }
        private var state = State.size(digits: 0)
        private var remaining = 0
        var isComplete: Bool { state == .done }

        /// How many of `bytes` belong to the body; nil when they break chunked framing.
        mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Int? {
            var index = 0
            while index < bytes.count, state != .done {
                let byte = bytes[index]
                switch state {
                case .size(let digits):
                    if let value = hexValue(byte) {
                        guard digits < 15 else { return nil }
                        remaining = remaining << 4 | value
                        state = .size(digits: digits + 1)
                    } else if digits > 0, byte == cr {
                        state = .sizeLF
                    } else if digits > 0, byte == 0x3B || byte == space || byte == tab {
                        state = .extensions
                    } else {
                        return nil
                    }
                case .extensions:
                    if byte == cr { state = .sizeLF } else if isControl(byte) { return nil }
                case .sizeLF:
                    guard byte == lf else { return nil }
                    state = remaining == 0 ? .trailerStart : .data
                case .data:
                    let take = min(remaining, bytes.count - index)
                    remaining -= take
                    index += take
                    if remaining == 0 { state = .dataCR }
                    continue
                case .dataCR:
                    guard byte == cr else { return nil }
                    state = .dataLF
                case .dataLF:
                    guard byte == lf else { return nil }
                    state = .size(digits: 0)
                case .trailerStart:
                    state = byte == cr ? .finalLF : .trailerLine
                case .trailerLine:
                    if byte == cr { state = .trailerLF } else if isControl(byte) { return nil }
                case .trailerLF:
                    guard byte == lf else { return nil }
                    state = .trailerStart
                case .finalLF:
                    guard byte == lf else { return nil }
                    state = .done
                case .done:
                    break
                }
                index += 1
            }
            return index
        }
    }

    // MARK: Lexing

    enum FieldKind {
        case contentLength, transferEncoding, connection, host, forwardedFor, otherForwarded, expect, upgrade, authorization, cookie, hopByHop, other
        /// A name with `_`: dropped from requests, as nginx does, since `X_User` and
        /// `X-User` reach many frameworks (WSGI, CGI) as one variable and one could
        /// smuggle a value the other was checked for. Kept in answers.
        case underscored
    }

    struct Field {
        var line: Range<Int>
        var name: Range<Int>
        var value: Range<Int>
    }

    /// Header lines between `start` and the head's final CRLF; yields nil (once) for a malformed line.
    struct FieldIterator {
        let bytes: UnsafeRawBufferPointer
        var index: Int
        let end: Int

        init(bytes: UnsafeRawBufferPointer, start: Int, end: Int) {
            self.bytes = bytes
            self.index = start
            self.end = end - 2
        }

        mutating func next() -> Field?? {
            guard index < end else { return nil }
            let lineStart = index
            var colon = -1
            while index < end, bytes[index] != cr {
                let byte = bytes[index]
                if colon < 0 {
                    if byte == 0x3A { colon = index } else if !isTokenByte(byte) { index = end; return .some(nil) }
                } else if isControl(byte) {
                    index = end
                    return .some(nil)
                }
                index += 1
            }
            guard colon > lineStart, index + 1 < end + 2, bytes[index + 1] == lf else { index = end; return .some(nil) }
            var valueStart = colon + 1
            var valueEnd = index
            while valueStart < valueEnd, bytes[valueStart] == space || bytes[valueStart] == tab { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == space || bytes[valueEnd - 1] == tab { valueEnd -= 1 }
            index += 2
            return .some(Field(line: lineStart..<index, name: lineStart..<colon, value: valueStart..<valueEnd))
        }
    }

    /// Comma-separated list elements, trimmed.
    struct TokenIterator {
        let bytes: UnsafeRawBufferPointer
        var index: Int
        let end: Int

        init(bytes: UnsafeRawBufferPointer, range: Range<Int>) {
            self.bytes = bytes
            self.index = range.lowerBound
            self.end = range.upperBound
        }

        mutating func next() -> Range<Int>? {
            while index < end {
                var start = index
                while index < end, bytes[index] != 0x2C { index += 1 }
                var stop = index
                index += 1
                while start < stop, bytes[start] == space || bytes[start] == tab { start += 1 }
                while stop > start, bytes[stop - 1] == space || bytes[stop - 1] == tab { stop -= 1 }
                if start < stop { return start..<stop }
            }
            return nil
        }
    }

    /// Whether `needle` occurs in `bytes[range]` (case-sensitive, as cookie names are).
    static func contains(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard !pattern.isEmpty, range.count >= pattern.count else { return false }
        var start = range.lowerBound
        while start + pattern.count <= range.upperBound {
            var index = 0
            while index < pattern.count, bytes[start + index] == pattern[index] { index += 1 }
            if index == pattern.count { return true }
            start += 1
        }
        return false
    }

    static func classify(_ bytes: UnsafeRawBufferPointer, name: Range<Int>) -> FieldKind {
        let kind = classifyKnown(bytes, name: name)
        guard kind == .other else { return kind }
        for index in name where bytes[index] == 0x5F { return .underscored }
        return .other
    }

    private static func classifyKnown(_ bytes: UnsafeRawBufferPointer, name: Range<Int>) -> FieldKind {
        let count = name.count
        guard count >= 2, count <= 19 else { return .other }
        if count > 12, hasPrefixIgnoringCase(bytes, name, "x-forwarded-") {
            return equalsIgnoringCase(bytes, name, "x-forwarded-for") ? .forwardedFor : .otherForwarded
        }
        switch count {
        case 14 where equalsIgnoringCase(bytes, name, "content-length"): return .contentLength
        case 17 where equalsIgnoringCase(bytes, name, "transfer-encoding"): return .transferEncoding
        case 10 where equalsIgnoringCase(bytes, name, "connection"): return .connection
        case 4 where equalsIgnoringCase(bytes, name, "host"): return .host
        case 6 where equalsIgnoringCase(bytes, name, "expect"): return .expect
        case 7 where equalsIgnoringCase(bytes, name, "upgrade"): return .upgrade
        case 13 where equalsIgnoringCase(bytes, name, "authorization"): return .authorization
        case 6 where equalsIgnoringCase(bytes, name, "cookie"): return .cookie
        case 10 where equalsIgnoringCase(bytes, name, "keep-alive"),
             16 where equalsIgnoringCase(bytes, name, "proxy-connection"),
             18 where equalsIgnoringCase(bytes, name, "proxy-authenticate"),
             19 where equalsIgnoringCase(bytes, name, "proxy-authorization"),
             2 where equalsIgnoringCase(bytes, name, "te"),
             7 where equalsIgnoringCase(bytes, name, "trailer"):
            return .hopByHop
        default:
            return .other
        }
    }

    /// Offset just past the head's empty line, searching at most `limit` bytes.
    /// A line feed without its carriage return, or a complete first line not ending in
    /// ` HTTP/1.1`.
    static func lacksCRLFFraming(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let count = min(bytes.count, maxHeadBytes)
        var index = 0
        while index < count {
            if bytes[index] == lf {
                if index == 0 || bytes[index - 1] != cr { return true }
                break
            }
            index += 1
        }
        guard index < count else { return false }
        // The first line is complete: bytes[..<index - 1] is it, without CRLF.
        let suffix: StaticString = " HTTP/1.1"
        guard index - 1 >= suffix.utf8CodeUnitCount else { return true }
        if !matches(bytes, at: index - 1 - suffix.utf8CodeUnitCount, suffix) { return true }
        // Every later line feed must have its carriage return too.
        var later = index + 1
        while later < count {
            if bytes[later] == lf, bytes[later - 1] != cr { return true }
            later += 1
        }
        return false
    }

    static func endOfHead(_ bytes: UnsafeRawBufferPointer, limit: Int) -> Int? {
        let count = min(bytes.count, limit)
        var index = 3
        while index < count {
            if bytes[index] == lf, bytes[index - 1] == cr, bytes[index - 2] == lf, bytes[index - 3] == cr { return index + 1 }
            index += 1
        }
        return nil
    }

    static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.count <= 15 else { return nil }
        var value = 0
        for index in range {
            let byte = bytes[index]
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    private static func isIdempotent(_ bytes: UnsafeRawBufferPointer, _ method: Range<Int>) -> Bool {
        equals(bytes, method, "GET") || equals(bytes, method, "HEAD") || equals(bytes, method, "OPTIONS")
            || equals(bytes, method, "PUT") || equals(bytes, method, "DELETE") || equals(bytes, method, "TRACE")
    }

    static func matches(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ literal: StaticString) -> Bool {
        guard offset + literal.utf8CodeUnitCount <= bytes.count else { return false }
        return equals(bytes, offset..<(offset + literal.utf8CodeUnitCount), literal)
    }

    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return literal.withUTF8Buffer { expected in
            for (offset, index) in range.enumerated() where bytes[index] != expected[offset] { return false }
            return true
        }
    }

    /// ASCII case-insensitive comparison with a lowercase literal.
    static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count == lowercase.utf8CodeUnitCount else { return false }
        return hasPrefixIgnoringCase(bytes, range, lowercase)
    }

    static func hasPrefixIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ lowercase: StaticString) -> Bool {
        guard range.count >= lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            var index = range.lowerBound
            for byte in expected {
                let actual = bytes[index]
                let lowered = (actual >= 0x41 && actual <= 0x5A) ? actual | 0x20 : actual
                if lowered != byte { return false }
                index += 1
            }
            return true
        }
    }

    private static func isUpperAlpha(_ byte: UInt8) -> Bool { byte >= 0x41 && byte <= 0x5A }

    /// Control characters other than tab (CR is handled by the callers).
    private static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != tab && byte != cr) || byte == 0x7F }

    /// `^[a-z0-9._-]`: the alphabet of agent ids.
    static func isAgentIDByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2E || byte == 0x5F || byte == 0x2D
    }

    /// RFC 9110 token characters.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }

    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let slash: UInt8 = 0x2F
    static let question: UInt8 = 0x3F
}
