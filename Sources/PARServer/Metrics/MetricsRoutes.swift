import Foundation
import Hummingbird
import PARCore
import PARLogs
import PARSupervisor
import Prometheus

/// `GET /metrics`: the Prometheus text format, built at scrape time from the supervisor's
/// state, the proxy's counters and the log store, so an agent that is gone leaves no
/// stale series behind. Management API: it needs the token (Prometheus sends it with
/// `authorization: {credentials_file: ...}` in its scrape config).
struct MetricsRoutes: Sendable {
    let supervisor: Supervisor
    let traffic: ProxyTraffic

    func register(on router: Router<some RequestContext>) {
        router.get("/metrics") { _, _ in try await self.scrape() }
    }

    private func scrape() async throws -> Response {
        let registry = PrometheusCollectorRegistry()
        let statuses = await supervisor.statuses()
        registry.makeGauge(name: "par_uptime_seconds", help: "Seconds since the daemon started.")
            .set(Date().timeIntervalSince(supervisor.startedAt))

        var byState: [ProcessState: Int] = [:]
        for status in statuses { byState[status.state, default: 0] += 1 }
        for state in ProcessState.allCases {
            registry.makeGauge(name: "par_agents", labels: [("state", state.rawValue)], help: "Agents by state.")
                .set(Double(byState[state] ?? 0))
        }
        for status in statuses {
            let labels = [("agent_id", status.agentID)]
            let healthy = status.state == .running && status.healthStatus == "healthy"
            registry.makeGauge(name: "par_agent_up", labels: labels, help: "1 when the agent runs and passes its health check.")
                .set(healthy ? 1.0 : 0.0)
            registry.makeCounter(name: "par_agent_restarts_total", labels: labels, help: "Restarts by policy since the agent was spawned.")
                .increment(by: Int64(status.restartCount))
            registry.makeGauge(name: "par_agent_health_consecutive_failures", labels: labels, help: "Health probes failed in a row.")
                .set(Double(status.consecutiveProbeFailures))
            if let probe = status.lastProbe {
                registry.makeGauge(name: "par_agent_health_probe_seconds", labels: labels, help: "Latency of the last health probe.")
                    .set(probe.result.latencySeconds)
            }
            if let uptime = status.uptimeSeconds {
                registry.makeGauge(name: "par_agent_uptime_seconds", labels: labels, help: "Seconds the current run has been up.")
                    .set(uptime)
            }
            if let resources = status.resources {
                registry.makeGauge(name: "par_agent_memory_rss_bytes", labels: labels, help: "Resident memory of the agent's processes.")
                    .set(Double(resources.memory.rssBytes))
                registry.makeGauge(name: "par_agent_cpu_ratio", labels: labels, help: "CPU used over the last sample, in cores.")
                    .set(resources.cpu.percent / 100)
                registry.makeGauge(name: "par_agent_processes", labels: labels, help: "Processes in the agent's tree.")
                    .set(Double(resources.numProcesses))
            }
        }

        let traffic = traffic.snapshot()
        for (agentID, counts) in traffic.agents {
            for (index, count) in counts.byClass.enumerated() where count > 0 {
                registry.makeCounter(name: "par_proxy_requests_total", labels: [("agent_id", agentID), ("code", "\(index + 1)xx")], help: "Requests answered through /agents/{agent_id}, by status class.")
                    .increment(by: Int64(count))
            }
            for (reason, count) in [("unreachable", counts.unreachable), ("timeout", counts.timedOut)] where count > 0 {
                registry.makeCounter(name: "par_proxy_errors_total", labels: [("agent_id", agentID), ("reason", reason)], help: "Answers the proxy gave itself (502 unreachable, 504 timeout).")
                    .increment(by: Int64(count))
            }
        }
        registry.makeCounter(name: "par_proxy_unknown_agent_total", help: "Requests for agents the supervisor does not know (404).")
            .increment(by: Int64(traffic.unknownAgent))

        let logs = supervisor.logs
        if let stats = try? await logs.statistics() {
            registry.makeGauge(name: "par_log_lines", help: "Log lines stored.").set(Double(stats.lines))
            registry.makeGauge(name: "par_log_bytes", help: "Bytes of stored log lines.").set(Double(stats.bytes))
            registry.makeGauge(name: "par_log_file_bytes", help: "Size of the log database file.").set(Double(stats.fileBytes))
        }
        registry.makeGauge(name: "par_log_live_subscribers", help: "Open live log tails.").set(Double(logs.hub.subscriberCount))

        var buffer = ByteBuffer()
        buffer.writeBytes(registry.emitToBuffer())
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
    }
}
