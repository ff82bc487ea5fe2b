import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Restart policy against real processes")
struct SupervisionTests {
    @Test func killedAgentIsRestartedWithANewPid() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let answer = try daemon.spawn("victim", package: package, ["restart_delay_seconds": 0])
        let firstPID = try #require((answer.json["pid"] as? NSNumber).map { Int32(truncating: $0) })
        let port = answer.json["port"] as? Int

        kill(firstPID, SIGKILL)
        let status = try daemon.waitFor("par-victim") { pid($0) != nil && pid($0) != firstPID && state($0) == "running" }
        #expect(status["restart_count"] as? Int == 1)
        #expect(status["port"] as? Int == port, "the agent keeps its port across restarts")
        let exit = try #require(status["last_exit"] as? [String: Any])
        #expect(exit["signal"] as? Int == 9)
        #expect(exit["reason"] as? String == "signaled")
    }

    @Test func neverPolicyLeavesACrashedAgentDown() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "echo 'about to fail'\nexit 3"))
        let answer = try daemon.spawn("once", package: package, ["restart_policy": "never"])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-once") { state($0) == "crashed" }
        #expect(status["pid"] is NSNull)
        #expect(status["restart_count"] as? Int == 0)
        #expect((status["last_exit"] as? [String: Any])?["code"] as? Int == 3)
        #expect(status["next_restart_at"] is NSNull)
        // The last line before the crash is kept.
        let logs = try daemon.client().get("/supervisor/logs?process_id=par-once").json
        #expect((logs["logs"] as? [[String: Any]] ?? []).contains { $0["message"] as? String == "about to fail" })
    }

    @Test func onFailureDoesNotRestartACleanExit() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 0"))
        _ = try daemon.spawn("clean", package: package, ["restart_delay_seconds": 0])
        let status = try daemon.waitFor("par-clean") { state($0) == "stopped" }
        #expect(status["restart_count"] as? Int == 0)
        #expect((status["last_exit"] as? [String: Any])?["code"] as? Int == 0)
    }

    @Test func agentThatKeepsCrashingFailsAfterMaxRestarts() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 1"))
        _ = try daemon.spawn("flaky", package: package, ["restart_delay_seconds": 0, "max_restarts": 2])
        let status = try daemon.waitFor("par-flaky") { state($0) == "failed" }
        #expect(status["restart_count"] as? Int == 2)
        #expect((status["error"] as? String)?.contains("max_restarts 2") == true)
        #expect(status["port"] is NSNull)
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&level=CRITICAL").json
        #expect((events["logs"] as? [[String: Any]] ?? []).contains { ($0["message"] as? String)?.contains("gave up") == true })
    }

    @Test func stopCancelsAPendingRestart() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "exit 1"))
        _ = try daemon.spawn("waiting", package: package, ["restart_delay_seconds": 30, "max_restart_delay_seconds": 60])
        let crashed = try daemon.waitFor("par-waiting") { state($0) == "crashed" && $0["next_restart_at"] is String }
        #expect(crashed["pid"] is NSNull)
        let stopped = try daemon.client().post("/supervisor/stop/par-waiting")
        #expect(stopped.json["state"] as? String == "stopped")
        let status = try daemon.process("par-waiting")
        #expect(status["next_restart_at"] is NSNull)
        #expect(status["port"] is NSNull)
    }

    @Test func daemonSigtermStopsEveryAgentAndExitsZero() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let marker = UUID().uuidString
        let package = try daemon.install(sleeperPackage())
        for index in 0..<5 {
            #expect(try daemon.spawn("fleet-\(index)", package: package, ["env_vars": ["MARKER": marker]]).status == 200)
        }
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).count == 5)
        #expect(daemon.terminate() == 0)
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).isEmpty)
    }

    @Test func agentsLeftByAKilledDaemonAreReplacedNotDoubled() throws {
        let first = try DaemonHarness()
        let marker = UUID().uuidString
        let package = try first.install(sleeperPackage())
        #expect(try first.spawn("orphan", package: package, ["env_vars": ["MARKER": marker]]).status == 200)
        first.crash()
        // Read until the agent's environment is readable (a process in the middle of its
        // own exec, as a shell script exec-ing its program is, reads as empty for a moment).
        var old: [Int32] = []
        #expect(ProcessInspection.eventually(timeout: 5) {
            old = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
            return old.count == 1
        }, "the agent outlives a daemon killed with -9: \(old)")

        let second = try DaemonHarness(root: first.root)
        defer { second.stop() }
        // The next daemon kills the old process and starts the agent again: one, never two.
        let now = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        #expect(now.count == 1)
        #expect(Set(now).isDisjoint(with: old))
        #expect(try second.process("par-orphan")["pid"] as? Int == now.first.map(Int.init))
    }
}
