import Foundation
import PARClient
import PARTestKit
import Synchronization

/// RR: keep-alive load through the proxy for `rr-seconds` while the agent is restarted
/// with `strategy=rolling` three times: every answer must be a 200, no socket may fail.
/// D1: a chain of ten agents, each `depends_on` the one before with `condition: healthy`:
/// the time until all run, against the sum of their own start times.
extension Bench {
    func rollingRestartUnderLoad(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 20)
        defer { daemon.stop() }
        let client = daemon.client()
        guard try client.post("/supervisor/spawn", json: ["agent_id": "fast", "package_path": try daemon.install(FastAgent.package())]).status == 200 else {
            throw BenchError.failed("spawn fast")
        }
        try Self.waitUntilRunning(client, count: 1)
        let result = Mutex<LoadGenerator.Result?>(nil)
        let seconds = rrSeconds
        let load = Thread {
            let outcome = try? LoadGenerator.run(port: daemon.port, path: "/agents/fast/", connections: 8, seconds: seconds)
            result.withLock { $0 = outcome }
        }
        load.stackSize = 1 << 20
        load.start()
        let loadStart = Clock.now()
        var durations: [Double] = []
        for index in 1...3 {
            // At a quarter, a half and three quarters of the load.
            Thread.sleep(forTimeInterval: max(0, loadStart + seconds / 4 * Double(index) - Clock.now()))
            let t0 = Clock.now()
            let answer = try client.post("/supervisor/restart/par-fast?strategy=rolling")
            guard answer.status == 200 else { throw BenchError.failed("rolling restart \(index): \(answer.text)") }
            durations.append((Clock.now() - t0) * 1000)
        }
        guard ProcessInspection.eventually(timeout: seconds + 30, { result.withLock { $0 } != nil }), let outcome = result.withLock({ $0 }) else {
            throw BenchError.failed("the load generator did not finish")
        }
        report.add("RR", "requests/s through the proxy during 3 rolling restarts", agents: 1, value: outcome.requestsPerSecond, unit: "req/s", bar: nil)
        report.add("RR", "answers other than 200", agents: 1, value: Double(outcome.badStatus), unit: "requests", bar: 0)
        report.add("RR", "socket errors", agents: 1, value: Double(outcome.socketErrors), unit: "requests", bar: 0)
        report.add("RR", "latency p99 under load and restarts", agents: 1, value: outcome.p99Milliseconds, unit: "ms", bar: nil)
        report.add("RR", "rolling restart request to answer, median of 3", agents: 1, value: percentile(durations, 50), unit: "ms", bar: nil)
    }

    func dependencyChain(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 20)
        defer { daemon.stop() }
        let client = daemon.client()
        let package = try daemon.install(TinyAgent.package())
        let count = 10
        let start = Date()
        for index in 0..<count {
            var body: [String: Any] = ["agent_id": "link-\(index)", "package_path": package]
            if index > 0 { body["depends_on"] = [["agent": "link-\(index - 1)", "condition": "healthy"]] }
            let answer = try client.post("/supervisor/spawn", json: body)
            guard answer.status == 200 else { throw BenchError.failed("spawn link-\(index): \(answer.text)") }
        }
        try Self.waitUntilRunning(client, count: count)
        let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
        var startSeconds = 0.0
        var lastReady = start
        for (_, status) in processes {
            guard let started = (status["started_at"] as? String).flatMap(parseDate),
                  let ready = (status["ready_at"] as? String).flatMap(parseDate) else { throw BenchError.failed("no start or ready time: \(status)") }
            startSeconds += ready.timeIntervalSince(started)
            lastReady = max(lastReady, ready)
        }
        let total = lastReady.timeIntervalSince(start)
        report.add("D1", "chain of \(count) (condition healthy): spawn of the first to the last ready", agents: count, value: total * 1000, unit: "ms", bar: nil)
        report.add("D1", "the agents' own start times, summed", agents: count, value: startSeconds * 1000, unit: "ms", bar: nil)
        report.add("D1", "waiting added by the chain beyond its start times", agents: count, value: (total - startSeconds) * 1000, unit: "ms", bar: 500)
    }
}
