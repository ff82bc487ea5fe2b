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
        #expect((samples["par_log_lines"] ?? 0) > 0)
        #expect((samples["par_uptime_seconds"] ?? 0) > 0)
        #expect(samples[#"par_agent_restarts_total{agent_id="echo"}"#] == 0)
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
