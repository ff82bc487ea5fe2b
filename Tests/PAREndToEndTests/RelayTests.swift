import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The relay that owns the public port: what it takes itself, what it hands to the HTTP
/// server, and that a connection keeps working (and keeps its client's address) across.
@Suite("Relay")
struct RelayTests {
    @Test func aConnectionHandedToTheHTTPServerMidwayKeepsWorkingAndKeepsItsAddress() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        // Relayed, then the API (the connection moves to the HTTP server), then proxied there.
        try connection.send("GET /agents/echo/echo?n=1 HTTP/1.1\r\nHost: front:1\r\n\r\n")
        let relayed = try connection.readResponse()
        try connection.send("GET /runtime/health HTTP/1.1\r\nHost: x\r\n\r\n")
        let api = try connection.readResponse()
        try connection.send("POST /agents/echo/echo?n=2 HTTP/1.1\r\nHost: front:1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        let proxied = try connection.readResponse()
        #expect(relayed.status == 200)
        #expect(api.status == 200)
        #expect(proxied.status == 200)
        #expect(proxied.json["body_length"] as? Int == 3)
        for answer in [relayed, proxied] {
            let headers = answer.json["headers"] as? [String: String] ?? [:]
            #expect(headers["x-forwarded-for"] == "127.0.0.1", "\(headers)")
            #expect(headers["x-forwarded-host"] == "front:1")
            #expect(headers["x-forwarded-prefix"] == "/agents/echo")
            #expect(headers["host"]?.hasPrefix("127.0.0.1:") == true, "the agent's own address, never the client's")
        }
    }

    /// A connection that starts with a status read is served on the control plane's own
    /// thread (`ControlPlaneLane`); the management API it asks later works there as well:
    /// a restart, a log query, a log stream.
    @Test func aConnectionThatStartsOnTheControlPlaneLaneServesEverythingAfter() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let auth = "Authorization: Bearer \(daemon.token)\r\n"
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /supervisor/status HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        let status = try connection.readResponse()
        #expect(status.status == 200)
        #expect((status.json["processes"] as? [String: Any])?["par-echo"] != nil, "\(status.text)")
        try connection.send("HEAD /runtime/health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readHead().status == 200)
        try connection.send("POST /supervisor/restart/par-echo HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 0\r\n\r\n")
        let restarted = try connection.readResponse()
        #expect(restarted.status == 200, "\(restarted.text)")
        try connection.send("GET /supervisor/logs?process_id=par-echo&limit=5 HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        let logs = try connection.readResponse()
        #expect(logs.status == 200)
        #expect(logs.text.contains("echo agent listening"), "\(logs.text)")
        try connection.send("GET /supervisor/logs/stream?process_id=par-echo&tail=1 HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        let stream = try connection.readHead()
        #expect(stream.status == 200)
        #expect(stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        var streamed: [UInt8] = []
        while !String(decoding: streamed, as: UTF8.self).contains("echo agent listening") {
            let more = try connection.readSome()
            guard !more.isEmpty else { Issue.record("the stream closed: \(String(decoding: streamed, as: UTF8.self))"); return }
            streamed += more
        }

        try daemon.waitFor("par-echo", timeout: 20) { state($0) == "running" }
        let upgrade = try RawConnection(port: daemon.port)
        try upgrade.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\(auth)\r\n")
        #expect(try upgrade.readResponse().text.contains("par_agents{state=\"running\"} 1"))
        try upgrade.send(
            "GET /supervisor/logs/ws?process_id=par-echo&tail=1 HTTP/1.1\r\nHost: x\r\n\(auth)Upgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        // An upgrade is taken only as a connection's first request, on the lane as anywhere:
        // later, the client is sent to the same address on a fresh connection.
        let redirected = try upgrade.readHead()
        #expect(redirected.status == 307)
        #expect(redirected.headers["location"] == "/supervisor/logs/ws?process_id=par-echo&tail=1")
        #expect(redirected.headers["connection"] == "close")
    }

    /// Agents' traffic never rides the lane: a client with no token that opens with a health
    /// check and then asks for an agent is sent back (307 to the same target, the connection
    /// closed), and the same request on a connection of its own is relayed.
    @Test func anAgentsRequestOnTheControlPlaneLaneIsSentToAConnectionOfItsOwn() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        // The same chunked upload, first on the lane, then on a connection of its own.
        let upload = "POST /agents/echo/echo?n=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        let connection = try RawConnection(port: daemon.port)
        try connection.send("HEAD /runtime/health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readHead().status == 200)
        try connection.send(upload)
        let sent = try connection.readResponse()
        #expect(sent.status == 307)
        #expect(sent.headers["location"] == "/agents/echo/echo?n=1")
        #expect(sent.headers["connection"] == "close")
        #expect(sent.json["error"] as? String == "use a new connection", "\(sent.text)")
        #expect(try connection.readToEnd().isEmpty, "the connection is closed after the answer")

        let fresh = try RawConnection(port: daemon.port)
        try fresh.send(upload)
        let proxied = try fresh.readResponse()
        #expect(proxied.status == 200)
        #expect(proxied.json["body_length"] as? Int == 3)
        // And goes on doing so on that connection.
        try fresh.send("GET /agents/echo/echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try fresh.readResponse().status == 200)
    }

    /// Status, health and metrics are built on the daemon's `par-control` thread, not on the
    /// loops that carry log streams: its time on the CPU grows with them and not with log queries.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/schedstat"), "needs the kernel's scheduler statistics"))
    func quickReadsRunOnTheControlPlanesOwnThread() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let pid = daemon.process.processIdentifier
        let client = daemon.client()
        _ = try client.get("/supervisor/status")
        let lane = try #require(Self.thread(named: "par-control", of: pid), "the daemon has no par-control thread")
        let before = try Self.nanosecondsOnCPU(pid, lane)
        for _ in 0..<100 {
            for path in ["/supervisor/status", "/supervisor/health", "/metrics"] {
                #expect(try client.get(path).status == 200)
            }
        }
        let served = try Self.nanosecondsOnCPU(pid, lane) - before
        #expect(served > 1_000_000, "300 answers took \(served) ns on par-control")

        // A connection that starts with a log query stays on the shared loops.
        let other = daemon.client()
        let idleBefore = try Self.nanosecondsOnCPU(pid, lane)
        for _ in 0..<300 { #expect(try other.get("/supervisor/logs?limit=1").status == 200) }
        let idle = try Self.nanosecondsOnCPU(pid, lane) - idleBefore
        #expect(idle < served / 4, "log queries took \(idle) ns on par-control, quick reads \(served) ns")
    }

    private static func thread(named name: String, of pid: Int32) -> String? {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.first { tid in
            (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == name
        }
    }

    /// The thread's time on a CPU (the first field of schedstat), to the nanosecond.
    private static func nanosecondsOnCPU(_ pid: Int32, _ tid: String) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/task/\(tid)/schedstat", encoding: .utf8)
        return Int(text.split(separator: " ").first ?? "") ?? 0
    }

    @Test func chunkedAnswersAndTheirTrailersPassThroughUntouched() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        for _ in 0..<2 {
            try connection.send("GET /agents/echo/chunked HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try connection.readHead()
            #expect(head.status == 200)
            #expect(head.headers["transfer-encoding"] == "chunked")
            #expect(head.headers["trailer"] == nil, "Trailer is dropped from answers, as on every proxy path")
            var body: [UInt8] = []
            let end = Array("0\r\nX-Sum: 42\r\n\r\n".utf8)
            while !(body.count >= end.count && Array(body.suffix(end.count)) == end) {
                let more = try connection.readSome()
                guard !more.isEmpty else { Issue.record("closed inside the body"); return }
                body += more
            }
            #expect(String(decoding: body, as: UTF8.self) == "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n")
        }
    }

    @Test func anAgentThatHangsUpWithoutAnsweringIsA502() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        // Warm a pooled connection first, so the GET also exercises the one retry.
        try connection.send("GET /agents/echo/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try connection.readResponse().status == 200)
        for method in ["GET", "POST"] {
            try connection.send("\(method) /agents/echo/hangup HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
            let answer = try connection.readResponse()
            #expect(answer.status == 502, "\(method): \(answer.text)")
            let error = answer.json["error"] as? String
            let detail = answer.json["detail"] as? String ?? ""
            #expect(error == "agent unreachable")
            #expect(detail.contains("closed the connection before answering"), "\(detail)")
        }
        try connection.send("GET /agents/echo/echo?after HTTP/1.1\r\nHost: x\r\n\r\n")
        let after = try connection.readResponse()
        #expect(after.status == 200, "the client's connection survives an agent's hang-up")
    }

    @Test func withoutRelayThreadsTheHTTPServerTakesThePublicPort() throws {
        let daemon = try echoDaemon(["--proxy-relay-threads", "0"])
        defer { daemon.stop() }
        let answer = try HTTPConnection(port: daemon.port).request("GET", "/agents/echo/echo?x=1")
        #expect(answer.status == 200)
        #expect(answer.json["query"] as? String == "x=1")
        #expect(!FileManager.default.fileExists(atPath: daemon.dataDirectory.appendingPathComponent("http.sock").path))
    }

    @Test func theHTTPServersPrivateSocketIsTheOwnersAndGoesAwayAtExit() throws {
        let daemon = try echoDaemon()
        let socket = daemon.dataDirectory.appendingPathComponent("http.sock").path
        var info = stat()
        #expect(stat(socket, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600, "mode \(String(info.st_mode & 0o777, radix: 8))")
        #expect(daemon.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
        daemon.stop()
    }

    @Test func aBadRelayThreadCountIsRefused() throws {
        let (status, output) = try runPar(["serve", "--port", "0", "--proxy-relay-threads", "65", "--data-dir", NSTemporaryDirectory() + "par-relay-\(UUID().uuidString)"])
        #expect(status != 0)
        #expect(output.contains("--proxy-relay-threads must be from 0 to 64"), "\(output)")
    }

    @Test func aPortAlreadyTakenIsAClearErrorNotACrash() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let dataDirectory = daemon.root.appendingPathComponent("second").path
        let (status, output) = try runPar(["serve", "--port", String(daemon.port), "--data-dir", dataDirectory])
        #expect(status == 1, "exit \(status): \(output)")
        #expect(output.contains("listening on 127.0.0.1:\(daemon.port) failed: Address already in use"), "\(output)")
    }

    @Test func anAnswerEndedByTheAgentsCloseReachesTheClientWhole() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        for _ in 0..<3 {
            let connection = try RawConnection(port: daemon.port)
            try connection.send("GET /agents/echo/until-close HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try connection.readHead()
            #expect(head.status == 200)
            #expect(head.headers["connection"] == "close")
            #expect(String(decoding: try connection.readToEnd(), as: UTF8.self) == "hello until close")
        }
    }

    @Test func aClientThatHalfClosesGetsItsAnswerAndThenTheClose() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let connection = try RawConnection(port: daemon.port)
        try connection.send("GET /agents/echo/echo?half HTTP/1.1\r\nHost: x\r\n\r\n")
        connection.shutdownWrite()
        let answer = try connection.readResponse()
        #expect(answer.json["query"] as? String == "half")
        #expect(try connection.readToEnd().isEmpty, "the relay closes once the answer is out")
    }

    @Test func severalRelayThreadsShareTheClients() throws {
        let daemon = try echoDaemon(["--proxy-relay-threads", "3"])
        defer { daemon.stop() }
        let connections = try (0..<12).map { _ in try RawConnection(port: daemon.port) }
        for round in 0..<10 {
            for (index, connection) in connections.enumerated() {
                try connection.send("GET /agents/echo/echo?c=\(index)&r=\(round) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            for (index, connection) in connections.enumerated() {
                let answer = try connection.readResponse()
                #expect(answer.status == 200)
                #expect(answer.json["query"] as? String == "c=\(index)&r=\(round)")
            }
        }
    }
}
