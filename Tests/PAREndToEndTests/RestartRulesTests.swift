import Foundation
import PARClient
import PARTestKit
import Testing

/// Exit-code rules, the per-agent intensity limit and the supervisor-wide restart budget,
/// against real processes and the real `par` binary.
@Suite("Exit codes, restart intensity and the restart budget")
struct RestartRulesTests {
    // MARK: exit codes

    @Test func anExitCodeListedAsSuccessIsACleanExitForOnFailure() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 3"))
        let answer = try daemon.spawn("done", package: package, ["restart_delay_seconds": 0, "success_exit_codes": [3]])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-done") { state($0) == "stopped" }
        #expect(status["restart_count"] as? Int == 0)
        #expect(status["error"] is NSNull)
        #expect((status["last_exit"] as? [String: Any])?["code"] as? Int == 3)
    }

    @Test func sigtermListedAsSuccessEndsAnOnFailureAgentCleanly() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        // The script ends itself with SIGTERM, as a program that finished its work might.
        let package = try daemon.install(.commandPackage(script: "kill -TERM $$\nsleep 5"))
        _ = try daemon.spawn("termed", package: package, ["restart_delay_seconds": 0, "success_exit_codes": ["SIGTERM"]])
        let status = try daemon.waitFor("par-termed") { state($0) == "stopped" }
        #expect(status["restart_count"] as? Int == 0)
        let exit = try #require(status["last_exit"] as? [String: Any])
        #expect(exit["signal_name"] as? String == "SIGTERM")
    }

    @Test func aNoRestartExitCodeKeepsEvenAnAlwaysAgentDown() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "echo 'bad configuration'\nexit 78"))
        _ = try daemon.spawn("misconfigured", package: package, [
            "restart_policy": "always", "restart_delay_seconds": 0, "no_restart_exit_codes": [78],
        ])
        let status = try daemon.waitFor("par-misconfigured") { state($0) == "crashed" }
        #expect(status["restart_count"] as? Int == 0)
        #expect(status["next_restart_at"] is NSNull)
        #expect(status["port"] is NSNull, "an agent that will not come back gives its port back")
        let error = try #require(status["error"] as? String)
        #expect(error.contains("exit code 78 is in no_restart_exit_codes"), "\(error)")
    }

    @Test func thePackageManifestGivesExitRulesAndTheSpawnBodyReplacesThem() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let builder = APKGBuilder.commandPackage(script: "exit 5").setting("agent.yaml", """
        name: exit-five
        version: 1.0.0
        command: ["./run.sh"]
        health: {type: none}
        success_exit_codes: [5]
        """)
        let package = try daemon.install(builder)
        _ = try daemon.spawn("from-manifest", package: package, ["restart_delay_seconds": 0])
        let clean = try daemon.waitFor("par-from-manifest") { state($0) == "stopped" }
        #expect(clean["restart_count"] as? Int == 0)
        // The request's list replaces the package's: 5 is a failure again, so it is restarted.
        _ = try daemon.spawn("overridden", package: package, ["restart_delay_seconds": 0, "max_restarts": 2, "success_exit_codes": [4]])
        let failed = try daemon.waitFor("par-overridden") { state($0) == "failed" }
        #expect(failed["restart_count"] as? Int == 2)
    }

    @Test(arguments: [
        ("success_exit_codes", "[256]", "0 to 255"),
        ("success_exit_codes", "[\"SIGNOPE\"]", "signal names"),
        ("no_restart_exit_codes", "3", "a list"),
        ("no_restart_exit_codes", "[1.5]", "whole number"),
        ("start_limit_burst", "-1", "from 0"),
        ("start_limit_interval_seconds", "0", "from 0.001"),
        ("backoff_jitter", "2", "from 0.0 to 1.0"),
    ])
    func badRestartFieldsAreRefusedAndNothingStarts(field: String, json: String, expected: String) throws {
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let answer = try daemon.spawn("refused", package: package, [field: value])
        #expect(answer.status == 400, "\(answer.text)")
        #expect((answer.json["field"] as? String)?.hasPrefix(field) == true, "\(answer.text)")
        #expect(answer.text.contains(expected), "\(answer.text)")
        #expect(try daemon.client().get("/supervisor/processes/par-refused").status == 404)
    }

    // MARK: intensity

    @Test func anAgentRestartedTooOftenWithinTheIntervalFails() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 1"))
        _ = try daemon.spawn("looping", package: package, [
            "restart_policy": "always", "restart_delay_seconds": 0, "max_restarts": 1_000,
            "start_limit_burst": 3, "start_limit_interval_seconds": 60,
        ])
        let status = try daemon.waitFor("par-looping") { state($0) == "failed" }
        #expect(status["restart_count"] as? Int == 3)
        let error = try #require(status["error"] as? String)
        #expect(error.contains("start_limit_burst 3"), "\(error)")
        #expect(status["port"] is NSNull)
    }

    // MARK: budget

    @Test func aRestartStormIsHeldToTheBudgetAndNoRestartIsDropped() throws {
        let rate = 5.0
        let burst = 3
        let daemon = try DaemonHarness(extraArguments: ["--restart-rate", "\(rate)", "--restart-burst", "\(burst)"])
        defer { daemon.stop() }
        let client = daemon.client()
        let package = try daemon.install(.commandPackage(script: "exit 1"))
        let crashers = 4
        for index in 0..<crashers {
            let answer = try daemon.spawn("storm-\(index)", package: package, [
                "restart_policy": "always", "restart_delay_seconds": 0, "max_restarts": 1_000_000,
            ])
            #expect(answer.status == 200, "\(answer.text)")
        }
        func totalRestarts() throws -> (count: Int, rateLimited: Int) {
            let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
            let count = processes.values.reduce(0) { $0 + ($1["restart_count"] as? Int ?? 0) }
            let limited = processes.values.filter { $0["next_restart_reason"] as? String == "rate_limited" }.count
            return (count, limited)
        }
        // Let the burst go, then count restarts over a measured window.
        Thread.sleep(forTimeInterval: 1)
        let start = try totalRestarts()
        let started = Date()
        var sawRateLimited = start.rateLimited > 0
        while Date().timeIntervalSince(started) < 3 {
            sawRateLimited = try totalRestarts().rateLimited > 0 || sawRateLimited
            Thread.sleep(forTimeInterval: 0.1)
        }
        let end = try totalRestarts()
        let window = Date().timeIntervalSince(started)
        let restarts = end.count - start.count
        // Unbudgeted, four instant crashers restart hundreds of times a second.
        #expect(Double(restarts) <= rate * window + 2, "\(restarts) restarts in \(window) s over a budget of \(rate)/s")
        #expect(Double(restarts) >= rate * window * 0.6, "the budget delays restarts but keeps them coming: \(restarts) in \(window) s")
        #expect(sawRateLimited, "status shows next_restart_reason rate_limited while restarts wait")
        // Every agent gets its turn: none is starved or dropped.
        let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
        for (id, status) in processes {
            #expect((status["restart_count"] as? Int ?? 0) >= 3, "\(id) was restarted \(status["restart_count"] ?? 0) times")
            #expect(state(status) != "failed", "\(id): \(status["error"] ?? "")")
        }
        let metrics = try client.get("/metrics").text
        let limited = metrics.split(separator: "\n").first { $0.hasPrefix("par_restarts_rate_limited_total ") }
        let value = limited.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(value > 0, "par_restarts_rate_limited_total counts the delayed restarts: \(limited ?? "missing")")
        // The delayed restarts are announced with their reason.
        let events = try client.get("/supervisor/logs?process_id=supervisor&level=WARNING&limit=1000").json["logs"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["message"] as? String)?.contains("rate_limited: the supervisor's restart budget (5 per second, burst 3)") == true }, "restart events name rate_limited")
        // A stop still ends a restart that waits its turn.
        for index in 0..<crashers {
            #expect(try client.post("/supervisor/stop/par-storm-\(index)").status == 200)
        }
        Thread.sleep(forTimeInterval: 0.5)
        for index in 0..<crashers {
            let status = try daemon.process("par-storm-\(index)")
            #expect(state(status) == "stopped", "\(status)")
            #expect(status["next_restart_at"] is NSNull)
        }
    }

    @Test func aRateOfZeroTurnsTheBudgetOff() throws {
        let daemon = try DaemonHarness(extraArguments: ["--restart-rate", "0", "--restart-burst", "1"])
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 1"))
        _ = try daemon.spawn("free", package: package, ["restart_policy": "always", "restart_delay_seconds": 0, "max_restarts": 1_000_000])
        Thread.sleep(forTimeInterval: 1)
        let status = try daemon.process("par-free")
        // With a budget of one restart, a second would wait a full second; without one they run on.
        #expect((status["restart_count"] as? Int ?? 0) > 10, "\(status)")
        #expect(status["next_restart_reason"] as? String != "rate_limited")
    }
}
