import Foundation
import PARClient
import PARTestKit
import Testing

/// `GET /metrics` as Prometheus scrapes it, against a real daemon and agents.
@Suite("Prometheus metrics")
struct MetricsTests {
    /// `name{labels} value` lines, keyed by everything before the value.
    private static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func agentsProxyTrafficAndLogsAreExported() throws {
        let daemon = try echoDaemon()
        defer { daemon.stop() }
        #expect(try daemon.spawn("idle", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-idle") { state($0) == "running" }
        #expect(try daemon.client().post("/supervisor/stop/par-idle").status == 200)
        let proxy = HTTPConnection(port: daemon.port)
        for _ in 0..<3 { #expect(try proxy.request("GET", "/agents/echo/echo").status == 200) }
        #expect(try proxy.request("GET", "/agents/echo/redirect").status == 302)
        #expect(try proxy.request("GET", "/agents/ghost/x").status == 404)
        #expect(try proxy.request("GET", "/agents/idle/x").status == 503)

        let answer = try daemon.client().get("/metrics")
        #expect(answer.status == 200)
        #expect(answer.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let text = answer.text
        #expect(text.contains("# TYPE par_proxy_requests_total counter"))
        let samples = Self.samples(text)
        #expect(samples[#"par_agents{state="running"}"#] == 1)
        #expect(samples[#"par_agents{state="stopped"}"#] == 1)
        #expect(samples[#"par_agent_up{agent_id="echo"}"#] == 1)
        #expect(samples[#"par_agent_up{agent_id="idle"}"#] == 0)
        #expect(samples[#"par_proxy_requests_total{agent_id="echo",code="2xx"}"#] == 3)
        #expect(samples[#"par_proxy_requests_total{agent_id="echo",code="3xx"}"#] == 1)
        #expect(samples[#"par_proxy_requests_total{agent_id="idle",code="5xx"}"#] == 1)
        #expect(samples["par_proxy_unknown_agent_total"] == 1)
        #expect(samples.keys.allSatisfy { !$0.contains("ghost") }, "unknown ids never become series")
        // Counted once the store commits, which a loaded machine may do after this scrape.
        #expect(try ProcessInspection.eventually {
            (Self.samples(try daemon.client().get("/metrics").text)["par_log_lines"] ?? 0) > 0
        }, "stored lines are counted")
        #expect((samples["par_uptime_seconds"] ?? 0) > 0)
        #expect(samples[#"par_agent_restarts_total{agent_id="echo"}"#] == 0)
    }

    /// The scrape's series are kept between scrapes (made once): values follow the agents,
    /// a removed agent's series go with it, and a new agent under its name starts at 0.
    @Test func seriesFollowTheAgentsAcrossScrapes() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let crasher = try daemon.install(.commandPackage(script: "sleep 0.2\nexit 3"))
        #expect(try daemon.spawn("flaky", package: crasher, ["restart_policy": "always", "restart_delay_seconds": 0.1, "max_restarts": 100]).status == 200)
        var restarts: Double = 0
        let counted = try ProcessInspection.eventually(timeout: 20) { () throws -> Bool in
            restarts = Self.samples(try daemon.client().get("/metrics").text)[#"par_agent_restarts_total{agent_id="flaky"}"#] ?? 0
            return restarts >= 2
        }
        #expect(counted, "restarts counted across scrapes: \(restarts)")
        let later = try ProcessInspection.eventually(timeout: 20) { () throws -> Bool in
            (Self.samples(try daemon.client().get("/metrics").text)[#"par_agent_restarts_total{agent_id="flaky"}"#] ?? 0) > restarts
        }
        #expect(later, "a kept counter goes on counting")
        #expect(try daemon.client().delete("/supervisor/processes/par-flaky?force=true").status == 200)
        let gone = try daemon.client().get("/metrics").text
        #expect(!gone.contains(#"agent_id="flaky""#), "a removed agent leaves no series")
        #expect(Self.samples(gone)[#"par_agents{state="running"}"#] == 0)

        #expect(try daemon.spawn("flaky", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-flaky") { state($0) == "running" }
        let again = Self.samples(try daemon.client().get("/metrics").text)
        #expect(again[#"par_agent_restarts_total{agent_id="flaky"}"#] == 0, "a new agent under the old name starts at 0")
        #expect(again[#"par_agent_up{agent_id="flaky"}"#] != nil)
    }

    @Test func proxyFailuresAreCountedByReason() throws {
        let daemon = try echoDaemon(["--proxy-timeout", "1"])
        defer { daemon.stop() }
        #expect(try HTTPConnection(port: daemon.port).request("GET", "/agents/echo/slow?seconds=3").status == 504)
        let samples = Self.samples(try daemon.client().get("/metrics").text)
        #expect(samples[#"par_proxy_errors_total{agent_id="echo",reason="timeout"}"#] == 1)
        #expect(samples[#"par_proxy_requests_total{agent_id="echo",code="5xx"}"#] == 1)
    }

    @Test func metricsNeedTheToken() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try HTTPConnection(port: daemon.port).request("GET", "/metrics").status == 401)
    }
}
