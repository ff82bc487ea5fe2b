import Foundation
import PARClient
import PARTestKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// SOAK: does the control plane win under load? 30 idle agents, 6 agents printing
/// 100,000-line bursts, 8 crash-looping agents, keep-alive load through the proxy and a
/// live log tail, for `soak-seconds`. Status, health and /metrics latencies are sampled
/// throughout, against the same requests on the same daemon before the load (the
/// reference); also the full-text backlog, the daemon's CPU, and its RSS before the
/// floods, at their peak and `soak-settle` seconds after they stop.
extension Bench {
    func soak(_ report: inout Report) throws {
        // The daemon shares this process's session, so its scheduling group is this one's:
        // the sampler is weighed with it; the proxy load runs in a session of its own, as
        // an outside client's would, and each agent is its own.
        let daemon = try DaemonHarness(agentPorts: 80, extraArguments: ["--control-plane-nice=\(soakControlPlaneNice)"])
        defer { daemon.stop() }
        let client = daemon.client()
        let idle = try daemon.install(TinyAgent.package())
        try Self.spawnFleet(client, package: idle, count: 30)
        try Self.waitUntilRunning(client, count: 30)
        let endpoints = ["/supervisor/status", "/supervisor/health", "/metrics"]
        var reference: [String: [Double]] = [:]
        // The monitoring client (a Prometheus scrape, a health checker) has a connection of
        // its own, as it would in production, apart from the one that spawns and stops.
        let monitor = daemon.client()
        for path in endpoints { reference[path] = try Self.latencies(monitor, path: path, count: 100) }
        let pid = daemon.process.processIdentifier
        if soakDaemonNice != 0, let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            for thread in threads.compactMap({ id_t($0) }) {
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread) + Int32(soakDaemonNice))
            }
        }
        let rssBefore = try ProcStat.rssKiB(pid)

        let flood = try daemon.install(.commandPackage(name: "bench-flood", script: """
        while :; do
          i=0
          while [ $i -lt 100000 ]; do i=$((i+1)); echo "burst line $i of $PAR_AGENT_ID with some padding to look like a real log line"; done
          sleep 5
        done
        """))
        let crasher = try daemon.install(.commandPackage(name: "bench-crasher", script: "sleep 0.3\nexit 1"))
        for index in 0..<soakFloods {
            _ = try client.post("/supervisor/spawn", json: ["agent_id": "flood-\(index)", "package_path": flood, "nice": soakAgentNice])
        }
        for index in 0..<soakCrashers {
            _ = try client.post("/supervisor/spawn", json: [
                "agent_id": "crash-\(index)", "package_path": crasher, "restart_policy": "always",
                "restart_delay_seconds": 0.2, "backoff_multiplier": 1.0, "max_restarts": 1_000_000, "nice": soakAgentNice,
            ])
        }
        let seconds = soakSeconds
        let stop = Atomic<Bool>(false)
        // A live tail of one flooding agent, read as fast as it comes.
        let withTail = soakLiveTail
        let tail = Thread {
            guard withTail, let stream = try? EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-flood-0", token: daemon.token) else { return }
            while !stop.load(ordering: .relaxed) { _ = try? stream.next(timeout: 1) }
        }
        tail.start()
        let proxied = Mutex<LoadGenerator.Result?>(nil)
        let connections = soakProxyConnections
        let load = Thread {
            guard connections > 0 else { return }
            let result = try? LoadGenerator.runInOwnSession(port: daemon.port, path: "/agents/bench-0/", connections: connections, seconds: seconds)
            proxied.withLock { $0 = result }
        }
        load.start()

        var samples: [String: [Double]] = [:]
        var backlogMax = 0.0
        var rssPeak = rssBefore
        // The sampling thread must not queue behind this process's own load generator.
        let samplerNice = soakSamplerNice ?? soakDaemonNice
        if samplerNice != 0 { setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, Int32(samplerNice)) }
        let cpuStart = try ProcStat.cpuSeconds(pid)
        let start = Clock.now()
        while Clock.now() - start < seconds {
            for path in endpoints {
                let t0 = Clock.now()
                let answer = try monitor.get(path)
                samples[path, default: []].append((Clock.now() - t0) * 1000)
                if path == "/metrics", let line = answer.text.split(separator: "\n").first(where: { $0.hasPrefix("par_log_fulltext_backlog_blocks ") }),
                   let value = Double(line.split(separator: " ").last ?? "") {
                    backlogMax = max(backlogMax, value)
                }
            }
            rssPeak = max(rssPeak, (try? ProcStat.rssKiB(pid)) ?? 0)
            usleep(100_000)
        }
        let cpu = (try ProcStat.cpuSeconds(pid) - cpuStart) / (Clock.now() - start) * 100
        for index in 0..<soakFloods { _ = try client.post("/supervisor/stop/par-flood-\(index)") }
        for index in 0..<soakCrashers { _ = try client.post("/supervisor/stop/par-crash-\(index)") }
        stop.store(true, ordering: .relaxed)
        while load.isExecuting || !load.isFinished { usleep(50_000) }
        Thread.sleep(forTimeInterval: soakSettle)
        let rssAfter = try ProcStat.rssKiB(pid)
        let stats = try client.get("/supervisor/logs/stats").json

        for path in endpoints {
            let sampled = samples[path] ?? []
            let bar: Double? = path == "/metrics" ? 10 : 20
            report.add("SOAK", "\(path) p99 under load (\(sampled.count) samples)", agents: 44, value: percentile(sampled, 99), unit: "ms", bar: bar)
            report.add("SOAK", "\(path) p50 under load", agents: 44, value: percentile(sampled, 50), unit: "ms", bar: nil)
            report.add("SOAK", "reference: \(path) p99 before the load", agents: 30, value: percentile(reference[path] ?? [], 99), unit: "ms", bar: nil)
        }
        report.add("SOAK", "full-text backlog, largest seen", agents: 44, value: backlogMax, unit: "blocks", bar: 1000)
        report.add("SOAK", "daemon CPU during the load", agents: 44, value: cpu, unit: "% of a core", bar: nil)
        report.add("SOAK", "proxied requests per second (\(connections) connections)", agents: 44, value: proxied.withLock { $0?.requestsPerSecond } ?? .nan, unit: "req/s", bar: nil)
        report.add("SOAK", "daemon RSS before the floods", agents: 44, value: Double(rssBefore) / 1024, unit: "MiB", bar: nil)
        report.add("SOAK", "daemon RSS at its peak", agents: 44, value: Double(rssPeak) / 1024, unit: "MiB", bar: nil)
        report.add("SOAK", "daemon RSS \(Int(soakSettle)) s after the floods stopped, over before", agents: 44, value: Double(rssAfter) / Double(max(1, rssBefore)), unit: "x", bar: 1.2)
        report.add("SOAK", "log lines stored", agents: 44, value: Double(stats["lines"] as? Int ?? 0), unit: "lines", bar: nil)
    }
}
