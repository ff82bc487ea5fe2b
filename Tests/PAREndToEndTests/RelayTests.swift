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
