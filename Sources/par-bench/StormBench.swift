import Foundation
import PARClient
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

/// W7: a restart storm. 50 agents that exit 1 after 50 ms, restart always, no delay, for
/// `w7-seconds`, beside one healthy agent (the fast agent of W6). Reported: restarts per second, the
/// daemon's CPU per restart, status p99 and the healthy agent's p99 through the proxy
/// while it lasts, and exits the daemon missed; once with the default restart budget and
/// once with none. The reference, measured in the same run: a bare spawn and reap of the
/// same script by this process (its own CPU per spawn).
extension Bench {
    func restartStorm(_ report: inout Report) throws {
        let bare = try Self.bareSpawnCost(script: Self.stormScript, concurrent: 50, seconds: 3)
        report.add("W7", "reference: bare spawn + reap of the same script, CPU per spawn", agents: 50, value: bare, unit: "ms", bar: nil)
        for (label, arguments) in [("default budget", [String]()), ("no budget", ["--restart-rate", "0"])] {
            let daemon = try DaemonHarness(agentPorts: 70, extraArguments: arguments)
            defer { daemon.stop() }
            let client = daemon.client()
            let echo = try daemon.install(FastAgent.package())
            guard try client.post("/supervisor/spawn", json: ["agent_id": "echo", "package_path": echo]).status == 200 else {
                throw BenchError.failed("spawn echo")
            }
            try Self.waitUntilRunning(client, count: 1)
            guard let echoPort = try client.get("/supervisor/processes/par-echo").json["port"] as? Int else {
                throw BenchError.failed("no port for echo")
            }
            let direct = PARAPIClient(port: echoPort, token: nil)
            // One round: status, the echo agent through the proxy, the echo agent directly.
            typealias Samples = (status: [Double], proxied: [Double], direct: [Double], logs: [Double])
            func sample(rounds: Int) throws -> Samples {
                var result: Samples = ([], [], [], [])
                for _ in 0..<rounds {
                    result.status += try Self.latencies(client, paths: ["/supervisor/status"])
                    result.proxied += try Self.latencies(client, paths: ["/agents/echo/echo"])
                    result.direct += try Self.latencies(direct, paths: ["/echo"])
                    result.logs += try Self.latencies(client, paths: ["/supervisor/logs?process_id=supervisor&limit=100"])
                }
                return result
            }
            let quiet = try sample(rounds: 300)
            // The daemon's own cost without the storm (probes, sampling), taken off each restart's.
            let pid = daemon.process.processIdentifier
            let idleCPUBefore = try ProcStat.cpuSeconds(pid)
            let idleStart = Clock.now()
            Thread.sleep(forTimeInterval: min(5, w7Seconds / 4))
            let idleCPUPerSecond = (try ProcStat.cpuSeconds(pid) - idleCPUBefore) / (Clock.now() - idleStart)
            let crasher = try daemon.install(.commandPackage(name: "bench-storm", script: Self.stormScript))
            try Self.spawnFleet(client, package: crasher, count: 50, fields: [
                "restart_policy": "always", "restart_delay_seconds": 0, "max_restarts": 1_000_000,
            ])
            Thread.sleep(forTimeInterval: 1)
            // First half: nothing but the storm, for the daemon's CPU per restart.
            let restartsBefore = try Self.totalRestarts(client)
            let cpuBefore = try ProcStat.cpuSeconds(pid)
            let start = Clock.now()
            Thread.sleep(forTimeInterval: w7Seconds / 2)
            let elapsed = Clock.now() - start
            let cpu = try ProcStat.cpuSeconds(pid) - cpuBefore
            let restarts = try Self.totalRestarts(client) - restartsBefore
            // Second half: latencies while it goes on.
            var stormy: Samples = ([], [], [], [])
            let second = Clock.now()
            while Clock.now() - second < w7Seconds / 2 {
                let round = try sample(rounds: 20)
                stormy.status += round.status
                stormy.proxied += round.proxied
                stormy.direct += round.direct
                stormy.logs += round.logs
            }
            // Every run's exit handled: once stopped, each agent's last exit is its last run.
            for index in 0..<50 { _ = try client.post("/supervisor/stop/par-bench-\(index)") }
            let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
            let missed = processes.filter { id, status in
                guard id != "par-echo" else { return false }
                let lastRun = (status["last_exit"] as? [String: Any])?["run"] as? Int
                return status["state"] as? String != "stopped" || lastRun != status["run"] as? Int
            }.count
            let perRestart = restarts > 0 ? max(0, cpu - idleCPUPerSecond * elapsed) * 1000 / Double(restarts) : .nan
            let budgeted = arguments.isEmpty
            report.add("W7", "\(label): restarts per second", agents: 50, value: Double(restarts) / elapsed, unit: "/s", bar: nil)
            report.add("W7", "\(label): daemon CPU", agents: 50, value: cpu / elapsed * 100, unit: "% of a core", bar: nil)
            report.add("W7", "\(label): daemon CPU per restart (over its idle \(String(format: "%.1f", idleCPUPerSecond * 100))% of a core)", agents: 50, value: perRestart, unit: "ms", bar: 1.5)
            report.add("W7", "\(label): CPU per restart over a bare spawn's", agents: 50, value: perRestart / bare, unit: "ratio", bar: nil)
            report.add("W7", "\(label): status latency p99 (before the storm \(Self.format(percentile(quiet.status, 99))))", agents: 50, value: percentile(stormy.status, 99), unit: "ms", bar: budgeted ? 5 : nil)
            report.add("W7", "\(label): healthy agent through the proxy, p99 (before \(Self.format(percentile(quiet.proxied, 99))))", agents: 50, value: percentile(stormy.proxied, 99), unit: "ms", bar: budgeted ? 5 : nil)
            report.add("W7", "\(label): log query (100 newest events) p99 (before \(Self.format(percentile(quiet.logs, 99))))", agents: 50, value: percentile(stormy.logs, 99), unit: "ms", bar: nil)
            report.add("W7", "\(label): the same agent directly, p99 (before \(Self.format(percentile(quiet.direct, 99))))", agents: 50, value: percentile(stormy.direct, 99), unit: "ms", bar: nil)
            report.add("W7", "\(label): agents whose last exit was missed", agents: 50, value: Double(missed), unit: "agents", bar: 0)
        }
    }

    static let stormScript = "sleep 0.05\nexit 1"

    static func format(_ milliseconds: Double) -> String {
        String(format: "%.2f ms", milliseconds)
    }

    static func totalRestarts(_ client: PARAPIClient) throws -> Int {
        let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
        return processes.values.reduce(0) { $0 + ($1["restart_count"] as? Int ?? 0) }
    }

    /// This process's CPU (ms) per spawn and reap of `/bin/sh -c script`, `concurrent` at a
    /// time, each replaced the moment it exits: what a minimal supervisor pays.
    static func bareSpawnCost(script: String, concurrent: Int, seconds: Double) throws -> Double {
        func spawn() throws -> pid_t {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", script].map { (text: String) in strdup(text) } + [nil]
            defer { argv.forEach { free($0) } }
            let result = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
            guard result == 0 else { throw BenchError.failed("posix_spawn: \(result)") }
            return pid
        }
        func cpuSelf() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        var live = Set<pid_t>()
        for _ in 0..<concurrent { live.insert(try spawn()) }
        let cpuBefore = cpuSelf()
        let start = Clock.now()
        var spawned = 0
        while Clock.now() - start < seconds {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            guard pid > 0 else { continue }
            if live.remove(pid) != nil {
                live.insert(try spawn())
                spawned += 1
            }
        }
        let cpu = cpuSelf() - cpuBefore
        for pid in live {
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        return spawned > 0 ? cpu * 1000 / Double(spawned) : .nan
    }
}
