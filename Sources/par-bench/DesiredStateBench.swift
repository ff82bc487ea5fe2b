import Foundation
import PARClient
import PARSupervisor
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

/// W8 (daemon crash recovery), R1 (config reload), W4H (idle cost with health probes),
/// S1 (spawn request latency, persistence included).
extension Bench {
    /// Whether every agent `bench-0..<count` answers through the router.
    static func allAnswer(_ client: PARAPIClient, count: Int) -> Bool {
        (0..<count).allSatisfy { index in (try? client.get("/agents/bench-\(index)/"))?.status == 200 }
    }

    /// Seconds until every agent answers through the router (polling, each poll a pass over all).
    static func secondsUntilAllAnswer(_ client: PARAPIClient, count: Int, since start: Double, limit: Double = 60) throws -> Double {
        while Clock.now() - start < limit {
            if allAnswer(client, count: count) { return Clock.now() - start }
            usleep(5_000)
        }
        throw BenchError.failed("not all \(count) agents answered within \(limit) s")
    }

    /// W8: `agents` agents run and a few are stopped; the daemon is killed with -9 and started
    /// again on the same data dir. Time until all answer through the router, against the
    /// time the same daemon took to start them from nothing (the reference, same run).
    func crashRecovery(_ report: inout Report) throws {
        let count = agents
        let marker = UUID().uuidString
        let first = try DaemonHarness(agentPorts: count + 20)
        let package = try first.install(TinyAgent.package())
        var client = first.client()
        let coldStart = Clock.now()
        try Self.spawnFleet(client, package: package, count: count, fields: ["restart_policy": "always", "env_vars": ["MARKER": marker]])
        let cold = try Self.secondsUntilAllAnswer(client, count: count, since: coldStart)
        let stopped = 5
        for index in 0..<stopped {
            let answer = try client.post("/supervisor/spawn", json: ["agent_id": "rest-\(index)", "package_path": package, "env_vars": ["MARKER": marker]])
            guard answer.status == 200 else { throw BenchError.failed("spawn rest-\(index): \(answer.text)") }
            _ = try client.post("/supervisor/stop/par-rest-\(index)")
        }
        let old = Set(ProcessInspection.processes(withEnvironment: "MARKER", value: marker))
        guard old.count == count else { throw BenchError.failed("\(old.count) agent processes before the crash, expected \(count)") }

        first.crash()
        let restart = Clock.now()
        let second = try DaemonHarness(root: first.root, portRange: first.portRange)
        defer { second.stop() }
        client = second.client()
        let recovered = try Self.secondsUntilAllAnswer(client, count: count, since: restart)
        let now = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        let survivors = old.intersection(now).count
        let doubled = now.count - count
        let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
        let stillStopped = (0..<stopped).filter { processes["par-rest-\($0)"]?["state"] as? String == "stopped" }.count
        report.add("W8", "kill -9 of the daemon to all \(count) answering through the router (tiny Python agents, TCP readiness)", agents: count, value: recovered, unit: "s", bar: 2)
        report.add("W8", "reference: \(count) agents spawned from nothing until all answer", agents: count, value: cold, unit: "s", bar: nil)
        report.add("W8", "recovery as a share of the cold start", agents: count, value: recovered / cold, unit: "ratio", bar: nil)
        report.add("W8", "processes of the old daemon left", agents: count, value: Double(survivors), unit: "processes", bar: 0)
        report.add("W8", "agents started twice", agents: count, value: Double(max(0, doubled)), unit: "agents", bar: 0)
        report.add("W8", "stopped agents still stopped (of \(stopped))", agents: count, value: Double(stillStopped), unit: "agents", bar: nil, floor: Double(stopped))
    }

    /// R1: `agents` agents from a config file; one agent's env changes per reload. Reload
    /// answer time, and how many agents got a new pid (only the changed one should).
    func configReload(_ report: inout Report) throws {
        let count = agents
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("packages"), withIntermediateDirectories: true)
        try TinyAgent.package().write(to: root.appendingPathComponent("packages/tiny.apkg"))
        let config = root.appendingPathComponent("par.yaml")
        var generations = Array(repeating: 0, count: count)
        func write(generation: Int, changed: Int) throws {
            if changed >= 0 { generations[changed] = generation }
            var text = "agents:\n"
            for index in 0..<count {
                text += "  bench-\(index):\n    package_path: packages/tiny.apkg\n    env_vars: {GENERATION: \"\(generations[index])\"}\n"
            }
            try text.write(to: config, atomically: true, encoding: .utf8)
        }
        try write(generation: 0, changed: -1)
        let daemon = try DaemonHarness(agentPorts: count + 10, extraArguments: ["--config", config.path], root: root)
        defer { daemon.stop() }
        let client = daemon.client()
        _ = try Self.secondsUntilAllAnswer(client, count: count, since: Clock.now())
        func pids() throws -> [String: Int] {
            let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
            return processes.compactMapValues { $0["pid"] as? Int }
        }
        var latencies: [Double] = []
        var unchangedLatencies: [Double] = []
        var maxRestarted = 0
        for round in 1...10 {
            let before = try pids()
            try write(generation: round, changed: round % count)
            let t0 = Clock.now()
            let answer = try client.post("/supervisor/reload")
            latencies.append((Clock.now() - t0) * 1000)
            guard answer.status == 200, (answer.json["changed"] as? [String])?.count == 1 else { throw BenchError.failed("reload: \(answer.text)") }
            let after = try pids()
            maxRestarted = max(maxRestarted, before.filter { after[$0.key] != $0.value }.count)
            let t1 = Clock.now()
            _ = try client.post("/supervisor/reload")
            unchangedLatencies.append((Clock.now() - t1) * 1000)
        }
        report.add("R1", "reload with one of \(count) agents changed, answer p50", agents: count, value: percentile(latencies, 50), unit: "ms", bar: 100)
        report.add("R1", "reload with one of \(count) agents changed, answer max", agents: count, value: latencies.max() ?? .nan, unit: "ms", bar: 100)
        report.add("R1", "reload of an unchanged file, answer p50", agents: count, value: percentile(unchangedLatencies, 50), unit: "ms", bar: nil)
        // The package rebuilt under the same name: every agent is changed, every one restarts.
        try TinyAgent.package().adding(.file(path: "rebuilt.txt", contents: UUID().uuidString)).write(to: root.appendingPathComponent("packages/tiny.apkg"))
        Thread.sleep(forTimeInterval: 2.1)
        let t2 = Clock.now()
        let rebuilt = try client.post("/supervisor/reload")
        let rebuiltSeconds = Clock.now() - t2
        guard rebuilt.status == 200, (rebuilt.json["changed"] as? [String])?.count == count else { throw BenchError.failed("reload after a rebuild: \(rebuilt.text)") }
        report.add("R1", "reload after the package was rebuilt: all \(count) restart, answer", agents: count, value: rebuiltSeconds * 1000, unit: "ms", bar: nil)
        report.add("R1", "agents given a new pid by one reload (most of 10)", agents: count, value: Double(maxRestarted), unit: "agents", bar: 1)
    }

    /// W4H: the idle daemon's CPU with `agents` HTTP agents probed every 10 s (the default),
    /// against the same fleet with probes off, measured in the same run.
    func idleWithHealthProbes(_ report: inout Report) throws {
        for (label, check) in [("HTTP probes every 10 s", ["type": "http"]), ("TCP probes every 10 s", ["type": "tcp"]), ("no probes", ["type": "none"])] {
            let daemon = try DaemonHarness(agentPorts: agents + 10)
            defer { daemon.stop() }
            let client = daemon.client()
            try Self.spawnFleet(client, package: try daemon.install(TinyAgent.package()), count: agents, fields: ["health_check": check])
            try Self.waitUntilRunning(client, count: agents)
            Thread.sleep(forTimeInterval: 2)
            let pid = daemon.process.processIdentifier
            let before = try ProcStat.cpuSeconds(pid)
            let t0 = Clock.now()
            Thread.sleep(forTimeInterval: w4Seconds)
            let cpu = (try ProcStat.cpuSeconds(pid) - before) / (Clock.now() - t0) * 100
            report.add("W4H", "daemon CPU over \(Int(w4Seconds)) s, \(agents) idle agents, \(label)", agents: agents, value: cpu, unit: "% of a core", bar: label.hasPrefix("HTTP") ? 0.3 : nil)
        }
    }

    /// S1: one spawn request's latency (a state write included), against a status request
    /// on the same connection as the reference.
    func spawnLatency(_ report: inout Report) throws {
        // The spawn path without any cgroup, as agents without limits had on v1 before every
        // agent got a tracking cgroup: the reference for what isolation adds.
        // Neither cgroups nor (as root) uids of their own: the bare spawn path.
        let bare = try spawnAndStopLatencies(arguments: ["--cgroup-root", "none", "--agent-users", "none"])
        report.add("S1", "reference: spawn request latency p50 without cgroups or own uids", agents: agents, value: percentile(bare.spawns, 50), unit: "ms", bar: nil)
        report.add("S1", "reference: stop request latency p50 without cgroups or own uids", agents: agents, value: percentile(bare.stops, 50), unit: "ms", bar: nil)
        // As root, the default gives each agent its own uid and folder: this is what that costs.
        if getuid() == 0 {
            let shared = try spawnAndStopLatencies(arguments: ["--agent-users", "none"])
            report.add("S1", "reference: spawn request latency p50, agents as the daemon's user (--agent-users none)", agents: agents, value: percentile(shared.spawns, 50), unit: "ms", bar: nil)
            report.add("S1", "reference: stop request latency p50, agents as the daemon's user", agents: agents, value: percentile(shared.stops, 50), unit: "ms", bar: nil)
        }
        let count = agents
        let daemon = try DaemonHarness(agentPorts: count + 10)
        defer { daemon.stop() }
        let client = daemon.client()
        let (spawns, stops) = try Self.spawnAndStop(client, package: try daemon.install(Self.sleeper()), count: count)
        let reference = try Self.latencies(client, path: "/runtime/health", count: 200)
        // The write itself, in this process, on the same disk: one small transaction.
        let folder = daemon.root.appendingPathComponent("bench-state")
        let store = try DesiredStateStore(path: folder.appendingPathComponent("state.sqlite").path)
        let spec = String(repeating: "s", count: 600)
        var writes: [Double] = []
        for index in 0..<2000 {
            let t0 = Clock.now()
            try store.save(StoredAgent(agentID: "bench-\(index % count)", spec: spec, owner: nil, desired: .running, port: 8001, run: index))
            writes.append((Clock.now() - t0) * 1_000_000)
        }
        report.add("S1", "spawn request latency p50 (defaults: state write, tracking cgroup, own uid as root)", agents: count, value: percentile(spawns, 50), unit: "ms", bar: nil)
        report.add("S1", "spawn request latency p99", agents: count, value: percentile(spawns, 99), unit: "ms", bar: nil)
        report.add("S1", "stop request latency p50 (state write included)", agents: count, value: percentile(stops, 50), unit: "ms", bar: nil)
        report.add("S1", "reference: /runtime/health latency p50", agents: count, value: percentile(reference, 50), unit: "ms", bar: nil)
        report.add("S1", "one desired-state write p50 (what persistence adds to a request)", agents: count, value: percentile(writes, 50), unit: "us", bar: 1000)
        report.add("S1", "one desired-state write p99", agents: count, value: percentile(writes, 99), unit: "us", bar: nil)
    }

    private func spawnAndStopLatencies(arguments: [String]) throws -> (spawns: [Double], stops: [Double]) {
        let daemon = try DaemonHarness(agentPorts: agents + 10, extraArguments: arguments)
        defer { daemon.stop() }
        return try Self.spawnAndStop(daemon.client(), package: try daemon.install(Self.sleeper()), count: agents)
    }

    /// Spawns `count` agents one request at a time, then stops them: each request's latency in ms.
    static func spawnAndStop(_ client: PARAPIClient, package: String, count: Int) throws -> (spawns: [Double], stops: [Double]) {
        for _ in 0..<20 { _ = try client.get("/supervisor/status") }
        var spawns: [Double] = []
        var stops: [Double] = []
        for index in 0..<count {
            let t0 = Clock.now()
            let answer = try client.post("/supervisor/spawn", json: ["agent_id": "bench-\(index)", "package_path": package])
            spawns.append((Clock.now() - t0) * 1000)
            guard answer.status == 200 else { throw BenchError.failed("spawn: \(answer.text)") }
        }
        for index in 0..<count {
            let t0 = Clock.now()
            _ = try client.post("/supervisor/stop/par-bench-\(index)?timeout=5")
            stops.append((Clock.now() - t0) * 1000)
        }
        return (spawns, stops)
    }
}
