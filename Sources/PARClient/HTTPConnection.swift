import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP/1.1 answer, body read whole.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object (empty when it is not one).
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }
}

public enum HTTPClientError: Error, CustomStringConvertible {
    case connect(host: String, port: Int, errno: Int32)
    case io(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .connect(let host, let port, let e): "cannot connect to \(host):\(port): \(String(cString: strerror(e))); is `par serve` running?"
        case .io(let what): "connection failed: \(what)"
        case .malformed(let what): "malformed HTTP answer: \(what)"
        }
    }
}

/// A blocking keep-alive HTTP/1.1 connection to a loopback server.
/// Written by hand because the CLI, tests and bench need only this: one socket, a
/// request, an answer with Content-Length or chunked body; AsyncHTTPClient would add
/// TLS and an event loop to a command-line tool that talks to 127.0.0.1.
public final class HTTPConnection {
    public let host: String
    public let port: Int
    private var fd: Int32 = -1
    private var pending: [UInt8] = []
    private let timeoutSeconds: Int

    public init(host: String = "127.0.0.1", port: Int, timeoutSeconds: Int = 60) {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
    }

    deinit { close() }

    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
        pending.removeAll()
    }

    public func request(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8]? = nil) throws -> HTTPAnswer {
        let reused = fd >= 0
        do {
            return try attempt(method, path, headers: headers, body: body)
        } catch HTTPClientError.io where reused {
            // A kept-alive connection the server had closed: one fresh try.
            return try attempt(method, path, headers: headers, body: body)
        }
    }

    private func attempt(_ method: String, _ path: String, headers: [String: String], body: [UInt8]?) throws -> HTTPAnswer {
        if fd < 0 { try connect() }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" } else if method == "POST" || method == "PUT" { head += "Content-Length: 0\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if let body { bytes += body }
        do {
            try writeAll(bytes)
            return try readAnswer(method: method)
        } catch {
            close()
            throw error
        }
    }

    private func connect() throws {
        let socketFD: Int32
        do {
            socketFD = try TCPSocket.connect(host: host, port: port)
        } catch {
            throw HTTPClientError.connect(host: host, port: port, errno: error.code)
        }
        var one: Int32 = 1
        setsockopt(socketFD, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        fd = socketFD
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw HTTPClientError.io("write: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    private func fill() throws {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count == 0 { throw HTTPClientError.io("the server closed the connection") }
            guard count > 0 else { throw HTTPClientError.io("read: \(String(cString: strerror(errno)))") }
            pending.append(contentsOf: buffer[0..<count])
            return
        }
    }

    private func readLine() throws -> String {
        while true {
            if let index = pending.firstIndex(of: 0x0A) {
                var line = Array(pending[0..<index])
                pending.removeFirst(index + 1)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            try fill()
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while pending.count < count { try fill() }
        let bytes = Array(pending[0..<count])
        pending.removeFirst(count)
        return bytes
    }

    private func readAnswer(method: String) throws -> HTTPAnswer {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HTTPClientError.malformed(statusLine) }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if method == "HEAD" || status == 204 || status == 304 {
            // no body
        } else if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw HTTPClientError.malformed("chunk size \(sizeLine)") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readBytes(size)
                _ = try readLine()
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            body = try readBytes(length)
        } else {
            // Until the server closes.
            while true {
                do { try fill() } catch { break }
            }
            body = pending
            pending.removeAll()
            close()
        }
        if headers["connection"]?.lowercased() == "close" { close() }
        return HTTPAnswer(status: status, headers: headers, body: body)
    }
}

/// An IPv4 TCP connection (the daemon listens on loopback by default).
public enum TCPSocket {
    public struct Failure: Error {
        public let code: Int32
    }

    /// A connected, close-on-exec socket.
    public static func connect(host: String, port: Int) throws(Failure) -> Int32 {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard socketFD >= 0 else { throw Failure(code: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(socketFD)
            throw Failure(code: code)
        }
        return socketFD
    }
}
