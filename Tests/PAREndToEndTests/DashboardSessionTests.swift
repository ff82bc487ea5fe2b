import Foundation
import PARClient
import PARTestKit
import Testing

/// The dashboard's front: the page served offline, the token exchanged once for an
/// HttpOnly SameSite=Strict session cookie, CSRF on every change, forged and expired
/// cookies refused, and the session cookie never reaching an agent.
@Suite("Dashboard sessions")
struct DashboardSessionTests {
    static func request(_ daemon: DaemonHarness, _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil) throws -> HTTPAnswer {
        var headers = headers
        if body != nil { headers["Content-Type"] = "application/json" }
        return try HTTPConnection(port: daemon.port).request(method, path, headers: headers, body: body.map { Array($0.utf8) })
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
        let off = try DaemonHarness()
        let refused = try Self.request(off, "GET", "/ui")
        #expect(refused.status == 404, "off by default")
        #expect(refused.text.contains("--dashboard"))
        off.stop()
        let daemon = try DaemonHarness(extraArguments: ["--dashboard"])
        defer { daemon.stop() }
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
        let daemon = try DaemonHarness(extraArguments: ["--dashboard"])
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
        let events = try EventStreamClient(port: daemon.port, path: "/supervisor/events", token: nil, headers: ["Cookie": cookie])
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
        let daemon = try DaemonHarness(extraArguments: ["--dashboard", "--ui-session-timeout", "3"])
        defer { daemon.stop() }
        let forged = "par_session=" + String(repeating: "ab", count: 32)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": forged]).status == 401)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": "par_session=../../token"]).status == 401)
        let (cookie, _) = try Self.signIn(daemon)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 200)
        #expect(try ProcessInspection.eventually(timeout: 10) {
            try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": cookie]).status == 401
        }, "expired")
        // Another origin (a page on some other local port) cannot use the session, not even to read.
        let (fresh, _) = try Self.signIn(daemon)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": fresh, "Origin": "http://127.0.0.1:1"]).status == 403)
        #expect(try Self.request(daemon, "GET", "/supervisor/status", headers: ["Cookie": fresh, "Origin": "http://127.0.0.1:\(daemon.port)"]).status == 200)
    }

    /// Agents are hostile: the dashboard's session cookie is stripped from what reaches
    /// them, on the relay and on the HTTP server's path; their own cookies pass.
    @Test(arguments: [[String](), ["--proxy-relay-threads", "0"]])
    func theSessionCookieNeverReachesAnAgent(arguments: [String]) throws {
        let daemon = try echoDaemon(arguments + ["--dashboard"])
        defer { daemon.stop() }
        let (cookie, _) = try Self.signIn(daemon)
        let answer = try Self.request(daemon, "GET", "/agents/echo/echo", headers: ["Cookie": "theme=dark; " + cookie + "; lang=en"])
        #expect(answer.status == 200)
        let seen = answer.json["headers"] as? [String: Any] ?? [:]
        let forwarded = seen.first { $0.key.lowercased() == "cookie" }?.value as? String
        #expect(forwarded == "theme=dark; lang=en", "\(forwarded ?? "none")")
        #expect(!answer.text.contains(cookie.split(separator: "=").last.map(String.init) ?? "-"))
        let only = try Self.request(daemon, "GET", "/agents/echo/echo", headers: ["Cookie": cookie])
        #expect(!only.text.contains("par_session"), "\(only.text.prefix(300))")
    }
}
