import Foundation
import PARClient
import PARTestKit
import Testing

/// The dashboard's front: the page served offline on a port of its own, the token
/// exchanged once for an HttpOnly SameSite=Strict session cookie, CSRF on every change,
/// forged and expired cookies refused, a session never honoured on the port agents' pages
/// share, and the session cookie never reaching an agent.
@Suite("Dashboard sessions")
struct DashboardSessionTests {
    /// A request to the dashboard's port (or, with `port`, to another).
    static func request(_ daemon: DaemonHarness, _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil, port: Int? = nil) throws -> HTTPAnswer {
        var headers = headers
        if body != nil { headers["Content-Type"] = "application/json" }
        let target = try port ?? #require(daemon.dashboardPort(), "the dashboard listens by default")
        return try HTTPConnection(port: target).request(method, path, headers: headers, body: body.map { Array($0.utf8) })
    }

    static func header(_ answer: HTTPAnswer, _ name: String) -> String? {
        answer.headers.first { $0.key.lowercased() == name }?.value
    }

    /// Signs in; the cookie pair (`par_session=...`) and the CSRF token.
    static func signIn(_ daemon: DaemonHarness) throws -> (cookie: String, csrf: String) {
        let answer = try request(daemon, "POST", "/ui/session", body: #"{"token":"\#(daemon.token)"}"#)
        #expect(answer.status == 200, "\(answer.text)")
        let setCookie = try #require(header(answer, "set-cookie"))
        let cookie = try #require(setCookie.split(separator: ";").first.map(String.init))
        let csrf = try #require(answer.json["csrf_token"] as? String)
        return (cookie, csrf)
    }

    @Test func thePageIsServedOfflineWithoutData() throws {
        let off = try DaemonHarness(extraArguments: ["--no-dashboard"])
        let refused = try Self.request(off, "GET", "/ui", port: off.port)
        #expect(refused.status == 404)
        #expect(refused.text.contains("--no-dashboard"))
        #expect(off.dashboardPort(timeoutSeconds: 0.5) == nil)
        off.stop()
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let dashboardPort = try #require(daemon.dashboardPort())
        #expect(dashboardPort != daemon.port)
        // The public port sends a browser to the dashboard's, and signs nobody in itself.
        let moved = try Self.request(daemon, "GET", "/ui", port: daemon.port)
        #expect(moved.status == 307)
        #expect(Self.header(moved, "location") == "http://127.0.0.1:\(dashboardPort)/ui")
        let noSignIn = try Self.request(daemon, "POST", "/ui/session", body: #"{"token":"\#(daemon.token)"}"#, port: daemon.port)
        #expect(noSignIn.status == 404)
        #expect(Self.header(noSignIn, "set-cookie") == nil)
        #expect(noSignIn.text.contains("http://127.0.0.1:\(dashboardPort)/ui"), "\(noSignIn.text)")
        #expect(try Self.request(daemon, "GET", "/").status == 307, "the dashboard's bare address leads to the page")
        let page = try Self.request(daemon, "GET", "/ui")
        #expect(page.status == 200)
        #expect(Self.header(page, "content-type")?.hasPrefix("text/html") == true)
        #expect(page.text.contains("<script src=\"/ui/app.js\">"))
        #expect(!page.text.contains("http://") && !page.text.contains("https://"), "no CDN: everything comes from the daemon")
        let policy = try #require(Self.header(page, "content-security-policy"))
        #expect(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"))
        let script = try Self.request(daemon, "GET", "/ui/app.js")
        #expect(script.status == 200)
        #expect(script.text.contains("EventSource(\"/supervisor/events\")"))
        #expect(try Self.request(daemon, "GET", "/ui/session").status == 401, "no session yet")
    }

    @Test func theTokenIsExchangedForAnHttpOnlyStrictCookieWithCSRF() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.spawn("guarded", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-guarded", timeout: 20) { state($0) == "running" }

        let wrong = try Self.request(daemon, "POST", "/ui/session", body: #"{"token":"not-it"}"#)
        #expect(wrong.status == 401)
        #expect(Self.header(wrong, "set-cookie") == nil)
        #expect(try Self.request(daemon, "POST", "/ui/session", body: "{}").status == 400)

        let answer = try Self.request(daemon, "POST", "/ui/session", body: #"{"token":"\#(daemon.token)"}"#)
        let setCookie = try #require(Self.header(answer, "set-cookie"))
        #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/"), "\(setCookie)")
        let (cookie, csrf) = try Self.signIn(daemon)

        // Reads and streams work on the cookie alone.
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 200)
        #expect(try Self.request(daemon, "GET", "/ui/session", headers: ["Cookie": cookie]).json["csrf_token"] as? String == csrf)
        let events = try EventStreamClient(port: #require(daemon.dashboardPort()), path: "/supervisor/events", token: nil, headers: ["Cookie": cookie])
        #expect(events.status == 200)

        // A change needs the CSRF token, and not from another site.
        let noCSRF = try Self.request(daemon, "POST", "/supervisor/stop/par-guarded", headers: ["Cookie": cookie])
        #expect(noCSRF.status == 403)
        #expect(noCSRF.json["error"] as? String == "csrf token missing")
        #expect(try Self.request(daemon, "POST", "/supervisor/stop/par-guarded", headers: ["Cookie": cookie, "X-CSRF-Token": String(csrf.reversed())]).status == 403)
        let crossSite = try Self.request(daemon, "POST", "/supervisor/stop/par-guarded", headers: ["Cookie": cookie, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"])
        #expect(crossSite.status == 403)
        #expect(state(try daemon.process("par-guarded")) == "running", "refused requests changed nothing")
        let stopped = try Self.request(daemon, "POST", "/supervisor/stop/par-guarded", headers: ["Cookie": cookie, "X-CSRF-Token": csrf, "Sec-Fetch-Site": "same-origin"])
        #expect(stopped.status == 200, "\(stopped.text)")

        // The bearer token keeps working without any of this.
        #expect(try daemon.client().post("/supervisor/restart/par-guarded").status == 200)

        // Signing out ends the session.
        #expect(try Self.request(daemon, "DELETE", "/ui/session", headers: ["Cookie": cookie, "X-CSRF-Token": csrf]).status == 200)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 401)
    }

    @Test func forgedAndExpiredCookiesAreRefused() throws {
        let daemon = try DaemonHarness(extraArguments: ["--ui-session-timeout", "3"])
        defer { daemon.stop() }
        let forged = "par_session=" + String(repeating: "ab", count: 32)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": forged]).status == 401)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": "par_session=../../token"]).status == 401)
        let (cookie, _) = try Self.signIn(daemon)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 200)
        #expect(try ProcessInspection.eventually(timeout: 30) {
            try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 401
        }, "expired")
        // Another origin (a page on some other local port) cannot use the session, not even to read.
        let (fresh, _) = try Self.signIn(daemon)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": fresh, "Origin": "http://127.0.0.1:1"]).status == 403)
        let own = try #require(daemon.dashboardPort())
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": fresh, "Origin": "http://127.0.0.1:\(own)"]).status == 200)
    }

    /// The attack the separate port closes: a page an agent serves under `/agents/` is on
    /// the public port's origin. There a cookie stands for nothing, and from there (its
    /// `Origin`) the dashboard's port refuses the session, reads and upgrades included.
    @Test func aSessionIsGoodOnlyOnTheDashboardsPort() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let (cookie, csrf) = try Self.signIn(daemon)
        let agentsOrigin = "http://127.0.0.1:\(daemon.port)"
        let onPublic = try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie], port: daemon.port)
        #expect(onPublic.status == 401, "the public port honours no cookie")
        let actOnPublic = try Self.request(daemon, "POST", "/supervisor/spawn", headers: ["Cookie": cookie, "X-CSRF-Token": csrf, "Origin": agentsOrigin], body: "{}", port: daemon.port)
        #expect(actOnPublic.status == 401)
        #expect(try Self.request(daemon, "GET", "/ui/session", headers: ["Cookie": cookie, "Origin": agentsOrigin]).status == 403, "the CSRF token is not handed to an agent's page")
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie, "Origin": agentsOrigin]).status == 403)
        let upgrade = try Self.request(daemon, "GET", "/supervisor/events", headers: [
            "Cookie": cookie, "Origin": agentsOrigin, "Connection": "Upgrade", "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        ])
        #expect(upgrade.status != 101 && (400..<500).contains(upgrade.status), "\(upgrade.status) \(upgrade.text)")
        // The bearer token works on both ports.
        #expect(try daemon.client().get("/supervisor/status").status == 200)
        #expect(try PARAPIClient(port: #require(daemon.dashboardPort()), token: daemon.token).get("/supervisor/status").status == 200)
    }

    @Test func aTakenOrBadDashboardPortIsRefusedWithAReason() throws {
        let port = DaemonHarness.reservePortRange(count: 1).lowerBound
        let blocker = try ListeningSocket(port: port)
        defer { blocker.close() }
        // `par serve` run to its end: each of these refuses to start.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        func failure(_ arguments: [String]) -> String {
            let data = scratch.appendingPathComponent(UUID().uuidString).path
            // Under `timeout`: one that started after all must not hang the run.
            guard let par = try? DaemonHarness.locateBinary().path,
                  let (status, output) = try? runProgram(URL(fileURLWithPath: "/usr/bin/timeout"), ["20", par, "serve", "--port", "0", "--data-dir", data, "--port-range", "\(port + 1)-\(port + 1)"] + arguments)
            else { return "did not run" }
            return status == 0 ? "started" : output
        }
        #expect(failure(["--ui-port", "\(port)"]).contains("--ui-port \(port) is in use"))
        #expect(failure(["--ui-port", "70000"]).contains("--ui-port must be from 0 to 65535"))
        let inRange = failure(["--ui-port", "\(port)", "--port-range", "\(port)-\(port)"])
        #expect(inRange.contains("inside --port-range"), "\(inRange)")
    }

    /// Agents are hostile: the dashboard's session cookie is stripped from what reaches
    /// them, on the relay and on the HTTP server's path; their own cookies pass.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func theSessionCookieNeverReachesAnAgent(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments)
        defer { daemon.stop() }
        let (cookie, _) = try Self.signIn(daemon)
        let answer = try Self.request(daemon, "GET", "/agents/echo/echo", headers: ["Cookie": "theme=dark; " + cookie + "; lang=en"], port: daemon.port)
        #expect(answer.status == 200)
        let seen = answer.json["headers"] as? [String: Any] ?? [:]
        let forwarded = seen.first { $0.key.lowercased() == "cookie" }?.value as? String
        #expect(forwarded == "theme=dark; lang=en", "\(forwarded ?? "none")")
        #expect(!answer.text.contains(cookie.split(separator: "=").last.map(String.init) ?? "-"))
        let only = try Self.request(daemon, "GET", "/agents/echo/echo", headers: ["Cookie": cookie], port: daemon.port)
        #expect(!only.text.contains("par_session"), "\(only.text.prefix(300))")
    }
}
