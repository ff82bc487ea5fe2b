import Foundation
import Hummingbird
import PARCore
import PARLogs
import PARSupervisor
import Prometheus
import Synchronization

/// `GET /metrics`: the Prometheus text format, built at scrape time from the supervisor's
/// state, the proxy's counters and the log store, so an agent that is gone leaves no
/// stale series behind. Management API: it needs the token (Prometheus sends it with
/// `authorization: {credentials_file: ...}` in its scrape config).
struct MetricsRoutes: Sendable {
    let supervisor: Supervisor
    let traffic: ProxyTraffic
    /// Kept across scrapes: a series is made once, not per scrape.
    var exposition = KeptExposition()

    func register(on router: Router<some RequestContext>) {
        router.get("/metrics") { _, _ in try await self.scrape() }
    }

    private func scrape() async throws -> Response {
        let bytes = exposition.scrape { metrics in fill(&metrics) }
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
    }

    private func fill(_ metrics: inout KeptExposition.Scrape) {
        let statuses = supervisor.statuses()
        metrics.gauge("uptime", unit: "seconds", "Seconds since the daemon started.", Date().timeIntervalSince(supervisor.startedAt))

        var byState: [ProcessState: Int] = [:]
        for status in statuses { byState[status.state, default: 0] += 1 }
        for state in ProcessState.allCases {
            metrics.gauge("agents", "Agents by state.", labels: [("state", state.rawValue)], Double(byState[state] ?? 0))
        }
        for status in statuses {
            let labels = [("agent_id", status.agentID)]
            let healthy = status.state == .running && status.healthStatus == "healthy"
            metrics.gauge("agent_up", "1 when the agent runs and passes its health check.", labels: labels, healthy ? 1 : 0)
            metrics.counter("agent_restarts", "Restarts by policy since the agent was spawned.", labels: labels, UInt64(status.restartCount))
            metrics.gauge("agent_health_consecutive_failures", "Health probes failed in a row.", labels: labels, Double(status.consecutiveProbeFailures))
            if let probe = status.lastProbe {
                metrics.gauge("agent_health_probe", unit: "seconds", "Latency of the last health probe.", labels: labels, probe.result.latencySeconds)
            }
            if let uptime = status.uptimeSeconds {
                metrics.gauge("agent_uptime", unit: "seconds", "Seconds the current run has been up.", labels: labels, uptime)
            }
            if let resources = status.resources {
                metrics.gauge("agent_memory_rss", unit: "bytes", "Resident memory of the agent's processes.", labels: labels, Double(resources.memory.rssBytes))
                metrics.gauge("agent_cpu", unit: "ratio", "CPU used over the last sample, in cores.", labels: labels, resources.cpu.percent / 100)
                metrics.gauge("agent_processes", "Processes in the agent's tree.", labels: labels, Double(resources.numProcesses))
            }
        }

        let budget = supervisor.restartBudgetReading()
        metrics.gauge("restart_budget_tokens", "Restarts that may go at once before the restart budget delays them (negative: restarts waiting their turn).", budget.tokens)
        metrics.counter("restarts_rate_limited", "Restarts the supervisor-wide restart budget delayed (none is dropped).", UInt64(budget.rateLimited))

        let traffic = traffic.snapshot()
        for (agentID, counts) in traffic.agents {
            for (index, count) in counts.byClass.enumerated() where count > 0 {
                metrics.counter("proxy_requests", "Requests answered through /agents/{agent_id}, by status class.", labels: [("agent_id", agentID), ("code", "\(index + 1)xx")], count)
            }
            for (reason, count) in [("unreachable", counts.unreachable), ("timeout", counts.timedOut)] where count > 0 {
                metrics.counter("proxy_errors", "Answers the proxy gave itself (502 unreachable, 504 timeout).", labels: [("agent_id", agentID), ("reason", reason)], count)
            }
        }
        metrics.counter("proxy_unknown_agent", "Requests for agents the supervisor does not know (404).", traffic.unknownAgent)

        let logs = supervisor.logs
        // From the store's memory, not the database: a scrape costs the same however much is stored.
        let stored = logs.storedTotals
        metrics.gauge("log_lines", "Log lines stored.", Double(stored.lines))
        metrics.gauge("log", unit: "bytes", "Bytes of stored log lines.", Double(stored.bytes))
        metrics.gauge("log_file", unit: "bytes", "Size of the log database file and its WAL.", Double(logs.fileBytes))
        metrics.gauge("log_fulltext_backlog_blocks", "Stored blocks the full-text index has not reached yet.", Double(stored.fullTextBacklog))
        metrics.gauge("log_buffered", unit: "bytes", "Agents' output read and not yet stored.", Double(logs.bufferedBytes))
        metrics.gauge("log_buffered_peak", unit: "bytes", "The most agents' output held in memory at once since start.", Double(logs.peakBufferedBytes))
        metrics.gauge("log_buffer_limit", unit: "bytes", "Over this, agents wait on their pipes until the store catches up (--log-buffer-mb).", Double(logs.configuration.globalHighWaterBytes))
        metrics.gauge("log_paused_readers", "Agents whose output is not read until the store catches up.", Double(logs.pausedReaders))
        metrics.counter("log_reader_pauses", "Times an agent's output stopped being read because the store was behind (the agent waited; nothing was dropped).", UInt64(logs.readerPauses))
        metrics.gauge("log_live_subscribers", "Open live log tails.", Double(logs.hub.subscriberCount))
        metrics.gauge("log_store_write_failing", "1 while the log store cannot write (a full disk): agents' output waits, nothing is dropped.", logs.writeFault == nil ? 0 : 1)
        metrics.counter("log_store_lost_lines", "Lines never stored: the daemon stopped while the log store could not write.", UInt64(logs.lostLines))
    }
}

/// The scrape's registry, kept from one scrape to the next: making a series (validating
/// and sorting its labels, rendering its prefix) is most of what a scrape cost when the
/// registry was new each time (about 1 ms for 44 agents). Each scrape sets every series it
/// names and unregisters the ones it did not, so an agent that is gone leaves no stale
/// series. Scrapes take turns (the registry's values belong to one scrape at a time).
final class KeptExposition: Sendable {
    fileprivate struct Key: Hashable {
        var name: String
        var labels: [String]
    }

    fileprivate struct Series {
        var gauges: [Key: Gauge] = [:]
        /// Counters only go up; the last value set, so the next scrape adds the difference.
        var counters: [Key: (counter: Counter, value: UInt64)] = [:]
    }

    private let registry = PrometheusCollectorRegistry()
    private let series = Mutex(Series())

    /// What one scrape names; every name is under the `par` namespace.
    struct Scrape: ~Copyable {
        fileprivate let registry: PrometheusCollectorRegistry
        fileprivate var series: Series
        fileprivate var seen: Set<Key> = []

        mutating func gauge(_ name: String, unit: String = "", _ help: String, labels: [(String, String)] = [], _ value: Double) {
            let key = Key(name: name + unit, labels: labels.flatMap { [$0.0, $0.1] })
            seen.insert(key)
            if let gauge = series.gauges[key] {
                gauge.set(value)
            } else {
                let gauge = registry.makeGauge(descriptor: Self.descriptor(name, unit: unit, help), labels: labels)
                gauge.set(value)
                series.gauges[key] = gauge
            }
        }

        mutating func counter(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: UInt64) {
            let key = Key(name: name, labels: labels.flatMap { [$0.0, $0.1] })
            seen.insert(key)
            if let kept = series.counters[key], kept.value <= value {
                if value > kept.value { kept.counter.increment(by: Int64(value - kept.value)) }
                series.counters[key] = (kept.counter, value)
                return
            }
            // New, or it went down (a new agent under an old name): a counter of its own.
            if let kept = series.counters[key] { registry.unregisterCounter(kept.counter) }
            let counter = registry.makeCounter(descriptor: Self.descriptor(name, unit: "total", help), labels: labels)
            counter.increment(by: Int64(value))
            series.counters[key] = (counter, value)
        }

        private static func descriptor(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "par", metricName: name, unitName: unit, helpText: help)
        }
    }

    /// Runs `fill`, drops what it did not name, and renders the text exposition.
    func scrape(_ fill: (inout Scrape) -> Void) -> [UInt8] {
        series.withLock { series in
            var scrape = Scrape(registry: registry, series: series)
            fill(&scrape)
            for (key, gauge) in scrape.series.gauges where !scrape.seen.contains(key) {
                registry.unregisterGauge(gauge)
                scrape.series.gauges[key] = nil
            }
            for (key, kept) in scrape.series.counters where !scrape.seen.contains(key) {
                registry.unregisterCounter(kept.counter)
                scrape.series.counters[key] = nil
            }
            series = scrape.series
            return registry.emitToBuffer()
        }
    }
}
