import Foundation
import PARClient
import PARTestKit
import Testing

// The public port against hostile clients, over raw sockets: every malformed request is
// answered with its status and a JSON body, then closed; nothing holds a slot for ever.
// Each case runs against the relay (the default) and the HTTP server alone
// (`--proxy-relay-threads 0`, the same stack handed-over connections reach).

struct FrontDoorCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let status: Int
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ status: Int) {
        self.name = name
        self.bytes = Array(text.utf8)
        self.status = status
    }

    init(_ name: String, bytes: [UInt8], _ status: Int) {
        self.name = name
        self.bytes = bytes
        self.status = status
    }

    static let post = "POST /agents/echo/echo HTTP/1.1\r\nHost: a\r\n"
    static let get = "GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n"

    static let corpus: [FrontDoorCase] = [
        // Framing: request smuggling classics.
        FrontDoorCase("Content-Length with Transfer-Encoding", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        FrontDoorCase("two different Content-Length", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        FrontDoorCase("Content-Length: +5", post + "Content-Length: +5\r\n\r\nhello", 400),
        FrontDoorCase("Content-Length: 1,1", post + "Content-Length: 1,1\r\n\r\nh", 400),
        FrontDoorCase("Content-Length: -1", post + "Content-Length: -1\r\n\r\n", 400),
        FrontDoorCase("Content-Length: 0x5", post + "Content-Length: 0x5\r\n\r\nhello", 400),
        FrontDoorCase("Content-Length too large", post + "Content-Length: 99999999999999999999999\r\n\r\n", 400),
        FrontDoorCase("Transfer-Encoding folded", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
        FrontDoorCase("space before the colon of Transfer-Encoding", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        FrontDoorCase("Transfer-Encoding: chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", 400),
        // Syntax.
        FrontDoorCase("bare LF line endings", "GET /agents/echo/echo HTTP/1.1\nHost: a\n\n", 400),
        FrontDoorCase("bare LF after the request line", "GET /agents/echo/echo HTTP/1.1\nHost: a\r\n\r\n", 400),
        FrontDoorCase("NUL in a header value", bytes: Array((get + "Foo: b").utf8) + [0] + Array("ar\r\n\r\n".utf8), 400),
        FrontDoorCase("CR inside a header value", get + "Foo: b\rar\r\n\r\n", 400),
        FrontDoorCase("space before a colon", get + "Foo : bar\r\n\r\n", 400),
        FrontDoorCase("a relative request target", "GET supervisor/status HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        FrontDoorCase("the management API, bare LF", "GET /supervisor/status HTTP/1.1\nHost: a\n\n", 400),
        FrontDoorCase("an unknown transfer coding", post + "Transfer-Encoding: xchunked\r\n\r\n", 501),
        FrontDoorCase("gzip before chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        // Host (RFC 9112 section 3.2) and where the path leads.
        FrontDoorCase("HTTP/1.1 without Host", "GET /agents/echo/echo HTTP/1.1\r\n\r\n", 400),
        FrontDoorCase("two Host lines", "GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        FrontDoorCase("the API with two Host lines", "GET /supervisor/status HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        FrontDoorCase("a path climbing out of the agent", "GET /agents/echo/../../supervisor/status HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        FrontDoorCase("a path climbing to another agent", "GET /agents/echo/../other/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        // Size.
        FrontDoorCase("a 1 MB header line", get + "Foo: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n", 431),
        FrontDoorCase("10,000 headers", get + (0..<10_000).map { "X-\($0): y\r\n" }.joined() + "\r\n", 431),
        FrontDoorCase("a 1 MB URL", "GET /agents/echo/" + String(repeating: "a", count: 1 << 20) + " HTTP/1.1\r\nHost: a\r\n\r\n", 431),
    ]
}

@Suite("Front door: hostile clients", .serialized)
struct FrontDoorConformanceTests {
    /// Sends `bytes`, reads to the close; the status line and the JSON body.
    static func exchange(port: Int, _ bytes: [UInt8]) throws -> (status: Int?, json: [String: Any], closed: Bool) {
        let connection = try RawConnection(port: port)
        try? connection.send(bytes: bytes)
        let answer = (try? connection.readToEnd()) ?? []
        let text = String(decoding: answer, as: UTF8.self)
        let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        let json = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        return (status, json, !answer.isEmpty)
    }

    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func everyMalformedRequestIsAnsweredAndClosed(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments)
        defer { daemon.stop() }
        for entry in FrontDoorCase.corpus {
            let (status, json, closed) = try Self.exchange(port: daemon.port, entry.bytes)
            #expect(status == entry.status, "\(entry.name): \(status.map(String.init) ?? "no answer")")
            #expect(closed, "\(entry.name): the connection is closed after the answer")
            #expect(json["error"] is String && json["detail"] is String, "\(entry.name): a JSON body says what is wrong: \(json)")
        }
        // Nothing of it reached the agent, and the agent still answers a good request.
        let good = try HTTPConnection(port: daemon.port).request("GET", "/agents/echo/echo")
        #expect(good.status == 200)
    }

    /// Header names with `_` never reach an agent (nginx's default); the agent's own answer
    /// keeps its headers.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func headerNamesWithUnderscoresAreDropped(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments)
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\nX_User: admin\r\nX-User: alice\r\n\r\n")
        let answer = try connection.readResponse()
        #expect(answer.status == 200)
        let headers = answer.json["headers"] as? [String: String] ?? [:]
        #expect(headers["x-user"] == "alice", "\(headers)")
        #expect(!headers.keys.contains { $0.contains("_") }, "no underscored name reaches the agent: \(headers)")
    }

    /// Dot-segments inside the agent's prefix are resolved before the agent sees the path.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func dotSegmentsAreResolvedWithinTheAgent(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments)
        defer { daemon.stop() }
        for target in ["/agents/echo/a/../echo?x=1", "/agents/echo/./echo?x=1", "/agents/echo/b/c/../../echo?x=1"] {
            let connection = try RawConnection(port: daemon.port)
            try connection.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = try connection.readResponse()
            #expect(answer.status == 200, "\(target): \(answer.text.prefix(200))")
            #expect(answer.json["path"] as? String == "/echo", "\(target) reaches the agent as /echo: \(answer.json)")
            #expect(answer.json["query"] as? String == "x=1")
        }
    }

    /// Slow-loris: heads sent a line at a time, and connections that send nothing, hold no
    /// slot past the head and keep-alive timeouts, on either path.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func slowAndSilentClientsAreClosed(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments + ["--request-head-timeout", "1", "--keep-alive-timeout", "2"])
        defer { daemon.stop() }
        let heads = ["GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n", "GET /supervisor/status HTTP/1.1\r\nHost: a\r\n", "GET /agents/echo/echo HTTP/1.1\nHost: a\n"]
        let slow = try heads.map { head in
            let connection = try RawConnection(port: daemon.port)
            try connection.send(head)
            return connection
        }
        let silent = try RawConnection(port: daemon.port)
        let start = Date()
        for (index, connection) in slow.enumerated() {
            let answer = String(decoding: try connection.readToEnd(), as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 408 ") || (index == 2 && answer.hasPrefix("HTTP/1.1 400 ")), "slow head \(index): \(answer.prefix(80))")
        }
        let silence = String(decoding: try silent.readToEnd(), as: UTF8.self)
        #expect(silence.isEmpty || silence.hasPrefix("HTTP/1.1 408 "), "a connection that never sends is closed: \(silence.prefix(80))")
        #expect(Date().timeIntervalSince(start) < 15, "closed by the timeouts, not by the test's read timeout")

        // A keep-alive client that pauses less than the timeout is served again.
        let kept = try RawConnection(port: daemon.port)
        try kept.send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try kept.readResponse().status == 200)
        usleep(500_000)
        try kept.send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try kept.readResponse().status == 200)
    }
}

@Suite("Front door: request bodies")
struct FrontDoorBodyTests {
    /// A body that stops arriving gets 408 within the body timeout and the close, on the
    /// HTTP server path (handed-over management requests, and every request without the
    /// relay) and on the relay; an agent's own slow answer is not cut by it.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func stalledBodiesAreAnsweredAndClosed(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments + ["--request-body-timeout", "1", "--request-head-timeout", "2"])
        defer { daemon.stop() }
        let heads = [
            "POST /supervisor/spawn HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(daemon.token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"agent_id\"",
            "POST /agents/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n" + String(repeating: "x", count: 70_000),
            "POST /agents/echo/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ]
        for head in heads {
            let connection = try RawConnection(port: daemon.port)
            try connection.send(head)
            let start = Date()
            let answer = String(decoding: try connection.readToEnd(), as: UTF8.self)
            let elapsed = Date().timeIntervalSince(start)
            #expect(answer.hasPrefix("HTTP/1.1 408 "), "\(head.prefix(40)): \(answer.prefix(120))")
            #expect(answer.contains("\"error\":\"request timeout\""), "\(answer.prefix(200))")
            #expect(elapsed < 5, "closed by the body timeout (\(elapsed) s)")
        }
        // Nothing was spawned from the cut spawn request.
        #expect(try daemon.client().get("/supervisor/status").json["processes"].map { ($0 as? [String: Any])?.count } == 1)

        // A body sent in pieces, each within the timeout, is served whole.
        let steady = try RawConnection(port: daemon.port)
        try steady.send("POST /agents/echo/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")
        usleep(600_000)
        try steady.send("def")
        let steadyAnswer = try steady.readResponse()
        #expect(steadyAnswer.status == 200)
        // An agent taking longer than the body timeout to answer is waited for.
        let slow = try RawConnection(port: daemon.port)
        try slow.send("GET /agents/echo/slow?seconds=2 HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try slow.readResponse().status == 200)
    }
}

@Suite("Front door: connection cap")
struct FrontDoorCapacityTests {
    /// Connections handed to the HTTP server (the management API), or taken by it directly
    /// without the relay, are capped too: the ones over `--max-connections` get 503 and the
    /// close, and a freed slot is taken again.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func serverConnectionsOverTheCapAreRefused(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments + ["--max-connections", "4"])
        defer { daemon.stop() }
        let request = "GET /supervisor/health HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer \(daemon.token)\r\n\r\n"
        var held: [RawConnection] = []
        var refusal: String?
        // The harness may hold a keep-alive connection of its own: open until one is refused.
        for _ in 0..<6 {
            let connection = try RawConnection(port: daemon.port)
            try? connection.send(request)
            let answer = try? connection.readResponse()
            if answer?.status == 200 {
                held.append(connection)
                continue
            }
            refusal = String(decoding: (try? connection.readToEnd()) ?? [], as: UTF8.self)
            if let answer { refusal = "HTTP/1.1 \(answer.status) " + (refusal ?? "") }
            break
        }
        #expect(held.count <= 4, "at most --max-connections are served at once (\(held.count))")
        #expect(refusal?.hasPrefix("HTTP/1.1 503 ") == true, "\(refusal?.prefix(120) ?? "no refusal")")
        try held[0].send(request)
        #expect(try held[0].readResponse().status == 200, "a held connection is still served")
        held.removeLast().close()
        let served = try ProcessInspection.eventually(timeout: 10) {
            let again = try RawConnection(port: daemon.port)
            try? again.send(request)
            return (try? again.readResponse().status) == 200
        }
        #expect(served, "a freed slot is taken again")
    }

    /// Connections over `--max-connections` get 503 at once and the close; the ones held
    /// keep working, and a slot freed is taken again.
    @Test func connectionsOverTheCapAreRefusedCleanly() throws {
        let daemon = try echoDaemon(["--max-connections", "3", "--proxy-relay-threads", "1"])
        defer { daemon.stop() }
        // Each held connection is served once, which proves the loop has taken it.
        var held = try (0..<3).map { _ in
            let connection = try RawConnection(port: daemon.port)
            try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(try connection.readResponse().status == 200)
            return connection
        }
        let extra = try RawConnection(port: daemon.port)
        let refused = String(decoding: try extra.readToEnd(), as: UTF8.self)
        #expect(refused.hasPrefix("HTTP/1.1 503 "), "\(refused.prefix(80))")
        #expect(refused.contains("\"error\":\"too many connections\""))

        try held[0].send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(try held[0].readResponse().status == 200, "a held connection is served")
        held[1].close()
        held.remove(at: 1)
        // The loop notices the close on its next turn: a new connection is served once it has.
        let served = try ProcessInspection.eventually(timeout: 10) {
            let again = try RawConnection(port: daemon.port)
            try? again.send("GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            return (try? again.readResponse().status) == 200
        }
        #expect(served, "a freed slot is taken again")
    }
}
