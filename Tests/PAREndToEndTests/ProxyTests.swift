import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `/agents/{id}/...` through the real daemon to a real agent.
@Suite("Reverse proxy")
struct ProxyTests {
    @Test func everyMethodAndTheQueryStringReachTheAgent() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let proxy = HTTPConnection(port: daemon.port)
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let body: [UInt8]? = method == "GET" || method == "OPTIONS" ? nil : Array("payload-\(method)".utf8)
            let answer = try proxy.request(method, "/agents/echo/echo/deep/path?a=1&b=two%20words", headers: ["X-Custom": "kept"], body: body)
            #expect(answer.status == 200, "\(method): \(answer.text)")
            #expect(answer.json["method"] as? String == method)
            #expect(answer.json["path"] as? String == "/echo/deep/path")
            #expect(answer.json["query"] as? String == "a=1&b=two%20words")
            let headers = answer.json["headers"] as? [String: String] ?? [:]
            #expect(headers["x-custom"] == "kept")
            #expect(answer.json["body_length"] as? Int == body?.count ?? 0)
        }
        let head = try proxy.request("HEAD", "/agents/echo/echo")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        let root = try proxy.request("GET", "/agents/echo")
        #expect(root.json["path"] as? String == "/")
    }

    @Test func forwardedHeadersAreAddedAndHopByHopDropped() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let answer = try HTTPConnection(port: daemon.port).request("GET", "/agents/echo/echo", headers: [
            "X-Forwarded-For": "10.1.2.3", "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "secret", "Proxy-Authorization": "Basic abc",
        ])
        let headers = answer.json["headers"] as? [String: String] ?? [:]
        #expect(headers["x-forwarded-for"] == "10.1.2.3, 127.0.0.1")
        #expect(headers["x-forwarded-proto"] == "http")
        #expect(headers["x-forwarded-host"] == "127.0.0.1:\(daemon.port)")
        #expect(headers["x-forwarded-prefix"] == "/agents/echo")
        #expect(headers["x-drop-me"] == nil)
        #expect(headers["proxy-authorization"] == nil)
        #expect(headers["host"] == "127.0.0.1:\(answer.json["path"] == nil ? 0 : (try daemon.process("par-echo")["port"] as? Int ?? 0))")
    }

    @Test func largeBodiesStreamBothWays() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let proxy = HTTPConnection(port: daemon.port, timeoutSeconds: 120)
        var upload = [UInt8](repeating: 0, count: 48 << 20)
        for index in stride(from: 0, to: upload.count, by: 4096) { upload[index] = UInt8(truncatingIfNeeded: index / 4096) }
        let answer = try proxy.request("POST", "/agents/echo/upload", headers: ["Content-Type": "application/octet-stream"], body: upload)
        #expect(answer.status == 200)
        #expect(answer.json["body_length"] as? Int == upload.count)
        let download = try proxy.request("GET", "/agents/echo/download?mb=64")
        #expect(download.status == 200)
        #expect(download.body.count == 64 << 20)
        #expect(download.headers["content-length"] == String(64 << 20))
    }

    @Test func serverSentEventsPassThroughAsTheyAreWritten() throws {
        let daemon = try echoDaemon(["--proxy-timeout", "2"])
        defer { daemon.stop() }
        // A raw socket: read the first events of a never-ending response.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(daemon.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let request = Array("GET /agents/echo/sse HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        let start = Date()
        // Longer than the proxy timeout: the timeout covers the response head only.
        while !received.contains("tick 50") && Date().timeIntervalSince(start) < 10 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += String(decoding: buffer[0..<count], as: UTF8.self)
        }
        #expect(received.hasPrefix("HTTP/1.1 200"))
        #expect(received.lowercased().contains("content-type: text/event-stream"))
        #expect(received.contains("data: tick 0"))
        #expect(received.contains("tick 50"), "events kept flowing past the 2 s proxy timeout")
    }

    @Test func redirectsGoBackToTheClientUnfollowed() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let answer = try HTTPConnection(port: daemon.port).request("GET", "/agents/echo/redirect")
        #expect(answer.status == 302)
        #expect(answer.headers["location"] == "/echo")
    }

    @Test func errorsAreJSONWithTheRightStatus() throws {
        let daemon = try echoDaemon(["--proxy-timeout", "0.5"])
        defer { daemon.stop() }
        let proxy = HTTPConnection(port: daemon.port)

        let unknown = try proxy.request("GET", "/agents/ghost/x")
        #expect(unknown.status == 404)
        #expect(unknown.json["error"] as? String == "unknown agent")

        let slow = try proxy.request("GET", "/agents/echo/slow?seconds=3")
        #expect(slow.status == 504, "\(slow.text)")
        #expect(slow.json["error"] as? String == "agent timed out")

        // A running agent whose port has nothing listening: connection refused.
        let silent = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("silent", package: silent).status == 200)
        let refused = try proxy.request("GET", "/agents/silent/")
        #expect(refused.status == 502, "\(refused.text)")
        #expect(refused.json["error"] as? String == "agent unreachable")

        // A crashed agent waiting to restart: 503 with Retry-After.
        let crasher = try daemon.install(.commandPackage(script: "exit 1"))
        #expect(try daemon.spawn("crasher", package: crasher, ["restart_delay_seconds": 30, "max_restart_delay_seconds": 60]).status == 200)
        try daemon.waitFor("par-crasher") { $0["next_restart_at"] is String }
        let waiting = try proxy.request("GET", "/agents/crasher/")
        #expect(waiting.status == 503)
        #expect(Int(waiting.headers["retry-after"] ?? "") ?? 0 >= 1)
        #expect(waiting.json["error"] as? String == "agent not running")
    }

    @Test func proxyNeedsNoTokenUnlessConfigured() throws {
        let open = try echoDaemon()
        defer { open.stop() }
        #expect(try HTTPConnection(port: open.port).request("GET", "/agents/echo/echo").status == 200)

        let guarded = try echoDaemon(["--proxy-requires-token"])
        defer { guarded.stop() }
        #expect(try HTTPConnection(port: guarded.port).request("GET", "/agents/echo/echo").status == 401)
        #expect(try HTTPConnection(port: guarded.port).request("GET", "/agents/echo/echo", headers: ["Authorization": "Bearer \(guarded.token)"]).status == 200)
    }

    @Test func theTargetIsAlwaysTheAgentsOwnLoopbackPort() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        let proxy = HTTPConnection(port: daemon.port)
        // Absolute-form targets, odd ids and traversal never leave the agent's port.
        for path in ["/agents/echo/http://127.0.0.1:1/x", "/agents/echo/../../supervisor/status", "/agents/127.0.0.1:22/x", "/agents/echo@evil/x"] {
            let answer = try proxy.request("GET", path)
            if answer.status == 200 {
                #expect(answer.json["path"] is String, "\(path) reached something other than the echo agent: \(answer.text)")
            } else {
                #expect([400, 404].contains(answer.status), "\(path): \(answer.status) \(answer.text)")
            }
        }
    }
}
