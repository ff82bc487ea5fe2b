import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking Server-Sent Events reader (the CLI's `logs --follow`, tests, the bench): one GET on its own
/// socket, chunked transfer decoding, events split on blank lines.
public final class EventStreamClient {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var event: String?
        public var data: String

        public var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case connect(String)
        case status(Int, String)
        case closed

        public var description: String {
            switch self {
            case .connect(let reason): "connect: \(reason)"
            case .status(let code, let body): "HTTP \(code): \(body)"
            case .closed: "the stream closed"
            }
        }
    }

    public let status: Int
    public let headers: [String: String]
    private let fd: Int32
    private var raw: [UInt8] = []
    private var decoded: [UInt8] = []
    private var chunked = false
    private var pendingChunk = 0
    private var finished = false

    public init(host: String = "127.0.0.1", port: Int, path: String, token: String?, headers extra: [String: String] = [:]) throws {
        let fd: Int32
        do {
            fd = try TCPSocket.connect(host: host, port: port)
        } catch {
            throw Failure.connect(String(cString: strerror(error.code)))
        }
        self.fd = fd
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: text/event-stream\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in extra { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        // The head.
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        Self.setTimeout(fd, seconds: 30)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { close(fd); throw Failure.closed }
            head += buffer[0..<count]
            if let end = Self.find([13, 10, 13, 10], in: head) {
                raw = Array(head[(end + 4)...])
                head = Array(head[..<end])
                break
            }
        }
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var parsed: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        headers = parsed
        chunked = parsed["transfer-encoding"]?.lowercased().contains("chunked") == true
        if status != 200 {
            let body = (try? readBody(timeout: 5)) ?? ""
            close(fd)
            throw Failure.status(status, body)
        }
    }

    deinit { close(fd) }

    /// The next event, or nil if none arrived within `timeout` seconds. Comment lines
    /// (keep-alives) are skipped.
    public func next(timeout: Double = 10) throws -> Event? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let event = takeEvent() { return event }
            if finished { throw Failure.closed }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            try receive(timeout: left)
        }
    }

    /// Collects events until `count` arrived or `timeout` passed.
    public func events(count: Int, timeout: Double = 10) throws -> [Event] {
        var events: [Event] = []
        let deadline = Date().addingTimeInterval(timeout)
        while events.count < count, deadline.timeIntervalSinceNow > 0 {
            guard let event = try next(timeout: deadline.timeIntervalSinceNow) else { break }
            events.append(event)
        }
        return events
    }

    private func takeEvent() -> Event? {
        while let end = Self.find([10, 10], in: decoded) {
            let block = String(decoding: decoded[..<end], as: UTF8.self)
            decoded.removeFirst(end + 2)
            var event = Event(id: nil, event: nil, data: "")
            var dataLines: [String] = []
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { continue }
                if line.hasPrefix("data:") { dataLines.append(String(line.dropFirst(5).drop { $0 == " " })) }
                if line.hasPrefix("id:") { event.id = String(line.dropFirst(3).drop { $0 == " " }) }
                if line.hasPrefix("event:") { event.event = String(line.dropFirst(6).drop { $0 == " " }) }
            }
            guard !dataLines.isEmpty else { continue }
            event.data = dataLines.joined(separator: "\n")
            return event
        }
        return nil
    }

    private func receive(timeout: Double) throws {
        Self.setTimeout(fd, seconds: timeout)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count == 0 { finished = true }
        if count > 0 { raw += buffer[0..<count] }
        decode()
    }

    private func decode() {
        guard chunked else {
            decoded += raw
            raw.removeAll()
            return
        }
        while true {
            if pendingChunk > 0 {
                let take = min(pendingChunk, raw.count)
                decoded += raw[0..<take]
                raw.removeFirst(take)
                pendingChunk -= take
                if pendingChunk > 0 { return }
                continue
            }
            // Chunk trailer CRLF, then the size line.
            if raw.starts(with: [13, 10]) { raw.removeFirst(2) }
            guard let lineEnd = Self.find([13, 10], in: raw) else { return }
            let sizeText = String(decoding: raw[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            raw.removeFirst(lineEnd + 2)
            guard let size = Int(sizeText, radix: 16) else { return }
            if size == 0 { finished = true; return }
            pendingChunk = size
        }
    }

    private func readBody(timeout: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        let length = headers["content-length"].flatMap(Int.init)
        while !finished, deadline.timeIntervalSinceNow > 0 {
            if let length, decoded.count + raw.count >= length { break }
            try receive(timeout: deadline.timeIntervalSinceNow)
        }
        decode()
        return String(decoding: decoded, as: UTF8.self)
    }

    private static func setTimeout(_ fd: Int32, seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: suseconds_t((seconds - Double(Int(seconds))) * 1_000_000))
        if tv.tv_sec == 0 && tv.tv_usec == 0 { tv.tv_usec = 1000 }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var index = 0
        search: while index <= haystack.count - needle.count {
            for offset in 0..<needle.count where haystack[index + offset] != needle[offset] {
                index += 1
                continue search
            }
            return index
        }
        return nil
    }
}
