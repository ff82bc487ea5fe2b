import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The proxy at the level of one client connection: keep-alive, pipelining, framing and
/// pooled agent connections, driven over raw sockets so nothing is hidden by a client.
@Suite("Proxy connections")
struct ProxyConnectionTests {
    @Test func pipelinedRequestsForAgentsAndTheAPIAreAnsweredInOrder() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        // Five requests in one write: proxied, API, proxied, unknown agent, proxied.
        try connection.send(
            "GET /agents/echo/echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /runtime/health HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /agents/echo/echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /agents/nobody/echo HTTP/1.1\r\nHost: x\r\n\r\n"
                + "GET /agents/echo/echo?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        let answers = try (0..<5).map { _ in try connection.readResponse() }
        #expect(answers.map(\.status) == [200, 200, 200, 404, 200])
        #expect(answers[0].json["query"] as? String == "n=1")
        #expect(answers[1].json["status"] != nil, "the API's health answer, not an agent's: \(answers[1].text)")
        #expect(answers[2].json["query"] as? String == "n=2")
        #expect(answers[3].json["error"] as? String == "unknown agent")
        #expect(answers[4].json["query"] as? String == "n=3")
    }

    @Test func oneConnectionCarriesManyRequestsAndClosesWhenAsked() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        for n in 0..<200 {
            try connection.send("GET /agents/echo/echo?n=\(n) HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try connection.readResponse()
            #expect(answer.status == 200)
            #expect(answer.json["query"] as? String == "n=\(n)")
        }
        try connection.send("GET /agents/echo/echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let last = try connection.readResponse()
        #expect(last.status == 200)
        #expect(last.headers["connection"]?.lowercased() == "close")
        #expect(try connection.readToEnd().isEmpty, "the proxy closes the connection after a Connection: close request")
    }

    @Test func expectContinueIsAnsweredAndChunkedUploadsArrive() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("POST /agents/echo/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try connection.readResponse()
        #expect(interim.status == 100, "a client waiting for 100 Continue is told to go on")
        try connection.send("hello")
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        #expect(answer.json["body_length"] as? Int == 5)
        #expect((answer.json["headers"] as? [String: String])?["expect"] == nil)

        try connection.send("PUT /agents/echo/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try connection.send("4\r\nabcd\r\n")
        try connection.send("6\r\nefghij\r\n0\r\n\r\n")
        let chunked = try connection.readResponse()
        #expect(chunked.status == 200)
        #expect(chunked.json["body_length"] as? Int == 10)
    }

    @Test func anHTTP10ClientGetsAnAnswerItCanRead() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let sized = try RawConnection(port: daemon.port)
        try sized.send("GET /agents/echo/echo HTTP/1.0\r\nHost: x\r\n\r\n")
        let answer = try sized.readResponse()
        #expect(answer.status == 200)
        #expect(answer.json["path"] as? String == "/echo")
        #expect(try sized.readToEnd().isEmpty, "HTTP/1.0 without keep-alive: closed after the answer")

        // A stream of unknown length: no chunked framing (1.0 has none), ended by the close.
        let stream = try RawConnection(port: daemon.port)
        try stream.send("GET /agents/echo/sse HTTP/1.0\r\nHost: x\r\n\r\n")
        let head = try stream.readHead()
        #expect(head.status == 200)
        #expect(head.headers["transfer-encoding"] == nil)
        let start = String(decoding: try stream.readSome(), as: UTF8.self)
        #expect(start.hasPrefix("data: tick 0"), "raw event bytes, not a chunk size: \(start.prefix(40))")
    }

    @Test func aWebSocketSubprotocolIsAgreedWithTheAgent() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send(
            "GET /agents/echo/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + "Sec-WebSocket-Protocol: graphql-ws, other\r\n\r\n"
        )
        let head = try connection.readHead()
        #expect(head.status == 101)
        #expect(head.headers["sec-websocket-protocol"] == "graphql-ws")
        // A masked text frame "headers": the agent answers with the headers it was sent.
        let mask: [UInt8] = [1, 2, 3, 4]
        let payload = Array("headers".utf8).enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try connection.send(bytes: [0x81, 0x80 | UInt8(payload.count)] + mask + payload)
        // An unmasked server frame; its length is 7 bits, or 16 more after the marker 126.
        var frame: [UInt8] = []
        func span() -> (start: Int, count: Int)? {
            guard frame.count >= 2 else { return nil }
            let short = Int(frame[1] & 0x7F)
            guard short == 126 else { return (2, short) }
            return frame.count >= 4 ? (4, Int(frame[2]) << 8 | Int(frame[3])) : nil
        }
        while span().map({ frame.count < $0.start + $0.count }) ?? true {
            // An empty read is the peer's close: fail instead of spinning on it.
            let more = try connection.readSome()
            guard !more.isEmpty else { Issue.record("closed before a whole frame arrived"); return }
            frame += more
        }
        let (start, count) = try #require(span())
        let text = String(decoding: frame[start..<(start + count)], as: UTF8.self)
        let headers = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: String]
        #expect(headers?["sec-websocket-protocol"] == "graphql-ws", "the agent was asked for the protocol the client was given: \(text)")
    }

    @Test func aClientThatHalfClosesAfterItsRequestStillGetsTheAnswer() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/slow?seconds=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        connection.shutdownWrite()
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        #expect(answer.json["slow"] as? Bool == true)
    }

    @Test func anAgentThatAnswersBeforeTheBodyEndsClosesTheConnectionCleanly() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        // /health answers without reading the body; most of the declared body never comes.
        try connection.send("POST /agents/echo/health HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
        try connection.send(bytes: [UInt8](repeating: 0x61, count: 100_000))
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        #expect(answer.headers["connection"]?.lowercased() == "close", "the rest of the request cannot be framed: the connection ends")
        #expect(try connection.readToEnd().isEmpty)
    }

    @Test func aClientThatStopsReadingIsDroppedAfterTheProxyTimeout() throws {
        let (daemon, agentPort) = try Self.echoDaemonWithOnlyProxyConnections(["--proxy-timeout", "2"])
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/download?mb=256 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readHead().status == 200)
        // Reads nothing more: buffers fill, the proxy stops reading the agent, and after
        // 2 s without progress it lets go of both sides.
        #expect(try ProcessInspection.eventually(timeout: 20) { Self.establishedConnections(toPort: agentPort) == 0 },
                "the agent connection is closed, not pinned by a client that reads nothing")
        var received = 0
        while true {
            let chunk = try connection.readSome()
            if chunk.isEmpty { break }
            received += chunk.count
        }
        #expect(received < 256 << 20, "the answer was cut off")
    }

    @Test func concurrentClientsEachGetTheirOwnAnswers() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let mismatches = Counter()
        DispatchQueue.concurrentPerform(iterations: 16) { client in
            guard let connection = try? RawConnection(port: daemon.port) else { mismatches.add(1000); return }
            for n in 0..<20 {
                let query = "client=\(client)&n=\(n)"
                guard (try? connection.send("GET /agents/echo/echo?\(query) HTTP/1.1\r\nHost: x\r\n\r\n")) != nil,
                      let answer = try? connection.readResponse(), answer.json["query"] as? String == query
                else { mismatches.add(1); continue }
            }
        }
        #expect(mismatches.value == 0, "every answer belongs to the request on its own connection")
    }

    @Test func aRestartedAgentIsReachedOnFreshConnections() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        let before = pid(try daemon.process("par-echo"))
        #expect(try daemon.client().post("/supervisor/restart/par-echo", json: [:]).status == 200)
        try daemon.waitFor("par-echo", timeout: 20) { state($0) == "running" && pid($0) != before }
        // The pooled connection to the old process is gone; the proxy must not use it.
        for _ in 0..<3 {
            try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
        }
    }

    @Test func idleConnectionsToAgentsAreClosed() throws {
        let (daemon, agentPort) = try Self.echoDaemonWithOnlyProxyConnections(["--proxy-idle-timeout", "5"])
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        #expect(Self.establishedConnections(toPort: agentPort) == 1, "the answered request left one pooled connection")
        #expect(try ProcessInspection.eventually(timeout: 20) { Self.establishedConnections(toPort: agentPort) == 0 }, "closed once idle for 5 s")
        // The client's own connection is still good, and a fresh agent connection serves it.
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
    }

    /// An echo agent checked by TCP connects (which close at once), so every connection
    /// to its port is the proxy's; returns the daemon and that port.
    static func echoDaemonWithOnlyProxyConnections(_ arguments: [String]) throws -> (DaemonHarness, Int) {
        let daemon = try DaemonHarness(extraArguments: arguments)
        #expect(try daemon.spawn("echo", package: try daemon.install(EchoAgent.package(health: "{type: tcp}"))).status == 200)
        try daemon.waitFor("par-echo", timeout: 20) { state($0) == "running" }
        guard let port = try daemon.process("par-echo")["port"] as? Int else {
            throw RawConnection.Failure(description: "par-echo has no port")
        }
        return (daemon, port)
    }

    /// Established IPv4 connections whose local end is `port` (the agent's side of each).
    static func establishedConnections(toPort port: Int) -> Int {
        // Read to the end: /proc files report no size, and a one-shot read stops at a page.
        guard let data = FileHandle(forReadingAtPath: "/proc/net/tcp")?.readDataToEndOfFile() else { return -1 }
        let table = String(decoding: data, as: UTF8.self)
        let wanted = String(format: ":%04X", port)
        return table.split(separator: "\n").dropFirst().filter { line in
            let fields = line.split(separator: " ")
            return fields.count > 3 && fields[1].hasSuffix(wanted) && fields[3] == "01"
        }.count
    }

    @Test func aNeverEndingStreamDoesNotHoldUpTheDaemonsShutdown() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let agentPID = try #require(pid(try daemon.process("par-echo")))
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/sse HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readHead().status == 200)
        let start = Date()
        #expect(daemon.terminate(timeoutSeconds: 30) == 0)
        #expect(Date().timeIntervalSince(start) < 15, "in-flight answers get a few seconds, then their connections close")
        _ = try? connection.readToEnd()
        #expect(kill(agentPID, 0) != 0, "the agent was stopped too")
    }

    @Test func theTokenIsNotPassedOnWhenTheProxyAsksForIt() throws {
        let daemon = try echoDaemon(["--proxy-requires-token"])
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 401)
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\n\r\n")
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        #expect((answer.json["headers"] as? [String: String])?["authorization"] == nil, "the management token never reaches an agent")
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) { lock.lock(); count += n; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// One TCP connection speaking HTTP/1.1 by hand: writes what it is given and reads
/// responses framed by Content-Length (all the echo agent and the API send here).
/// Closed when the test lets go of it.
final class RawConnection {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    private var fd: Int32
    private var buffered: [UInt8] = []

    init(port: Int) throws {
        do {
            fd = try TCPSocket.connect(host: "127.0.0.1", port: port)
        } catch {
            throw Failure(description: "connect to \(port) failed: errno \(error.code)")
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Tells the peer nothing more will be sent (a half-close), keeping the read side open.
    func shutdownWrite() { Glibc.shutdown(fd, Int32(SHUT_WR)) }

    func send(_ text: String) throws {
        try send(bytes: Array(text.utf8))
    }

    func send(bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send failed: errno \(errno)") }
            offset += sent
        }
    }

    /// What has arrived beyond the last response, waiting for at least one byte.
    func readSome() throws -> [UInt8] {
        if buffered.isEmpty, try !fill() { return [] }
        defer { buffered = [] }
        return buffered
    }

    /// Reads until the peer closes; what arrived after the last response.
    func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { buffered = [] }
        return buffered
    }

    /// Reads just a response head (for answers that never end).
    func readHead() throws -> Response {
        try readResponse(bodyLength: 0)
    }

    func readResponse() throws -> Response {
        try readResponse(bodyLength: nil)
    }

    private func readResponse(bodyLength: Int?) throws -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            headEnd = buffered.indices.dropLast(3).first { Array(buffered[$0..<$0 + 4]) == separator }
            if headEnd == nil, try !fill() { throw Failure(description: "connection closed before a response head") }
        }
        let head = String(decoding: buffered[0..<headEnd!], as: UTF8.self)
        buffered.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line in \(head)") }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = bodyLength ?? (status == 100 ? 0 : Int(headers["content-length"] ?? "0") ?? 0)
        while buffered.count < length {
            if try !fill() { throw Failure(description: "connection closed inside a body") }
        }
        let body = Array(buffered[0..<length])
        buffered.removeFirst(length)
        return Response(status: status, headers: headers, body: body)
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 { throw Failure(description: "recv failed: errno \(errno)") }
        if count == 0 { return false }
        buffered.append(contentsOf: chunk[0..<count])
        return true
    }
}
