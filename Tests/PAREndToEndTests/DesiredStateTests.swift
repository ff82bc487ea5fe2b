import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Desired state survives the daemon: SIGTERM, kill -9, a damaged state file, a full disk.
@Suite("Desired state across daemon restarts")
struct DesiredStateTests {
    /// A second daemon on the first one's files and agent ports; it removes them when stopped.
    private func restart(after first: DaemonHarness, arguments: [String] = []) throws -> DaemonHarness {
        try DaemonHarness(extraArguments: arguments, root: first.root, portRange: first.portRange)
    }

    @Test func everyAgentComesBackAsItWasAfterKillDashNine() throws {
        let first = try DaemonHarness()
        let marker = UUID().uuidString
        let sleeper = try first.install(sleeperPackage())
        let env: [String: Any] = ["env_vars": ["MARKER": marker]]
        let up = try first.spawn("up", package: sleeper, ["env_vars": ["MARKER": marker], "restart_delay_seconds": 0, "restart_policy": "always"])
        #expect(up.status == 200, "\(up.text)")
        let port = try #require(up.json["port"] as? Int)
        let firstPID = try #require(pid(up.json))
        kill(firstPID, SIGKILL)
        let restarted = try first.waitFor("par-up") { pid($0) != nil && pid($0) != firstPID && state($0) == "running" }
        #expect(restarted["restart_count"] as? Int == 1)
        #expect(try first.spawn("down", package: sleeper, env).status == 200)
        #expect(try first.client().post("/supervisor/stop/par-down").status == 200)
        let crashy = try first.install(.commandPackage(script: "exit 3"))
        #expect(try first.spawn("crashy", package: crashy, ["restart_policy": "never"]).status == 200)
        try first.waitFor("par-crashy") { state($0) == "crashed" }
        let old = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        #expect(old.count == 1)
        first.crash()

        let second = try restart(after: first)
        defer { second.stop() }
        let back = try second.waitFor("par-up") { state($0) == "running" }
        #expect(back["port"] as? Int == port, "the agent gets its port back")
        #expect(back["restart_count"] as? Int == 1, "counters are kept")
        #expect((back["run"] as? Int ?? 0) >= 3, "run numbers go on: \(back)")
        let now = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        #expect(now.count == 1, "one process for the agent, never two")
        #expect(Set(now).isDisjoint(with: old), "nothing of the old daemon's agents is left")
        let down = try second.process("par-down")
        #expect(state(down) == "stopped")
        #expect(down["pid"] is NSNull)
        let ended = try second.process("par-crashy")
        #expect(state(ended) == "crashed", "an agent the policy ended stays down")
        #expect((ended["last_exit"] as? [String: Any])?["code"] as? Int == 3)
        #expect(try second.client().get("/agents/up/").status == 502, "routed again (the sleeper listens on nothing)")
    }

    @Test func aGracefulRestartBringsRunningAgentsBackAndNothingRunsBetween() throws {
        let first = try DaemonHarness()
        let marker = UUID().uuidString
        let sleeper = try first.install(sleeperPackage())
        for index in 0..<3 {
            #expect(try first.spawn("fleet-\(index)", package: sleeper, ["env_vars": ["MARKER": marker], "restart_policy": "always", "restart_delay_seconds": 0]).status == 200)
        }
        first.keepFiles = true
        #expect(first.terminate() == 0)
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).isEmpty, "SIGTERM stops every agent and respawns none")

        let second = try restart(after: first)
        defer { second.stop() }
        for index in 0..<3 { try second.waitFor("par-fleet-\(index)") { state($0) == "running" } }
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).count == 3)
    }

    @Test func aStopIsRememberedAndARestartUndoesIt() throws {
        let first = try DaemonHarness()
        let sleeper = try first.install(sleeperPackage())
        #expect(try first.spawn("napper", package: sleeper).status == 200)
        #expect(try first.client().post("/supervisor/stop/par-napper").status == 200)
        first.keepFiles = true
        #expect(first.terminate() == 0)

        let second = try restart(after: first)
        #expect(state(try second.process("par-napper")) == "stopped")
        #expect(try second.client().post("/supervisor/restart/par-napper").status == 200)
        second.keepFiles = true
        #expect(second.terminate() == 0)

        let third = try restart(after: second)
        defer { third.stop() }
        try third.waitFor("par-napper") { state($0) == "running" }
    }

    @Test func linesPrintedJustBeforeADaemonCrashAreKept() throws {
        let first = try DaemonHarness()
        // The agent's own folder is the one place it may write (its HOME).
        let flag = first.dataDirectory.appendingPathComponent("agents/talker/printed").path
        let talker = try first.install(.commandPackage(script: "echo \"last words of $PAR_AGENT_ID\"\ntouch \"$HOME/printed\"\nexec sleep 1000"))
        #expect(try first.spawn("talker", package: talker).status == 200)
        let quitter = try first.install(.commandPackage(script: "echo \"goodbye from $PAR_AGENT_ID\"\nexit 4"))
        #expect(try first.spawn("quitter", package: quitter, ["restart_policy": "never"]).status == 200)
        #expect(ProcessInspection.eventually { FileManager.default.fileExists(atPath: flag) })
        try first.waitFor("par-quitter") { state($0) == "crashed" }
        // No log query before the kill (a query would flush): the store's own commit, at most
        // 250 ms after a line is read, must do it (the margin is for a loaded machine).
        usleep(400_000)
        first.crash()

        let second = try restart(after: first)
        defer { second.stop() }
        let logs = try second.client().get("/supervisor/logs?limit=1000&order=asc").json["logs"] as? [[String: Any]] ?? []
        let messages = logs.compactMap { $0["message"] as? String }
        #expect(messages.contains("last words of talker"))
        #expect(messages.contains("goodbye from quitter"))
    }

    @Test func aPidFileNamingAnUnrelatedProcessLeavesItAlone() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        let run = root.appendingPathComponent("data/run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        let bystander = Process()
        bystander.executableURL = URL(fileURLWithPath: "/bin/sleep")
        bystander.arguments = ["1000"]
        try bystander.run()
        defer {
            kill(bystander.processIdentifier, SIGKILL)
            bystander.waitUntilExit()
        }
        // Its pid, but another start time: a recycled pid, not our agent.
        try "\(bystander.processIdentifier) 12345\n".write(to: run.appendingPathComponent("ghost.pid"), atomically: true, encoding: .utf8)
        let daemon = try DaemonHarness(root: root)
        defer { daemon.stop() }
        // The leftover sweep runs before the daemon listens, so it has happened by now.
        #expect(ProcessInspection.isAlive(bystander.processIdentifier))
        #expect(!FileManager.default.fileExists(atPath: run.appendingPathComponent("ghost.pid").path), "the stale file is removed")
    }

    @Test func agentsThatIgnoreSIGTERMStopInAboutOneTimeoutTogether() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let marker = UUID().uuidString
        let stubborn = try daemon.install(.commandPackage(script: "trap '' TERM\nwhile :; do sleep 0.1; done"))
        for index in 0..<5 {
            #expect(try daemon.spawn("stubborn-\(index)", package: stubborn, ["env_vars": ["MARKER": marker], "stop_timeout_seconds": 1.5, "restart_policy": "always", "restart_delay_seconds": 0]).status == 200)
        }
        #expect(ProcessInspection.eventually { ProcessInspection.processes(withEnvironment: "MARKER", value: marker).count >= 5 })
        let started = Date()
        #expect(daemon.terminate() == 0)
        let took = Date().timeIntervalSince(started)
        #expect(took < 5, "five agents with a 1.5 s stop timeout are stopped in parallel, not one after another (took \(took) s)")
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).isEmpty, "nothing is respawned after SIGTERM")
    }

    @Test func aDamagedStateDatabaseStopsTheStartAndIsKept() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let stateFile = root.appendingPathComponent("data/state/state.sqlite")
        try FileManager.default.createDirectory(at: stateFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        let garbage = Data(String(repeating: "not a database ", count: 600).utf8)
        try garbage.write(to: stateFile)
        var output = ""
        do {
            let daemon = try DaemonHarness(root: root)
            daemon.stop()
            Issue.record("the daemon started on a damaged state database")
        } catch let DaemonHarness.HarnessError.didNotStart(text) {
            output = text
        }
        #expect(output.contains(stateFile.path), "the error names the file: \(output)")
        #expect(output.contains("damaged"))
        #expect(try Data(contentsOf: stateFile) == garbage, "never silently reset")
    }

    @Test func aFullDiskAnswers507AndChangesNothing() throws {
        guard getuid() == 0 else {
            print("skipped: mounting a small tmpfs for the state database needs root")
            return
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        let stateDirectory = root.appendingPathComponent("data/state")
        try FileManager.default.createDirectory(at: stateDirectory, withIntermediateDirectories: true)
        guard mountTmpfs(at: stateDirectory.path, kilobytes: 512) else {
            print("skipped: cannot mount a tmpfs here")
            try? FileManager.default.removeItem(at: root)
            return
        }
        let daemon = try DaemonHarness(root: root)
        defer {
            daemon.keepFiles = true
            daemon.stop()
            _ = runCommand("/bin/umount", ["-l", stateDirectory.path])
            try? FileManager.default.removeItem(at: root)
        }
        let sleeper = try daemon.install(sleeperPackage())
        let spawned = try daemon.spawn("steady", package: sleeper)
        #expect(spawned.status == 200)
        let agentPID = try #require(pid(spawned.json))
        let filler = stateDirectory.appendingPathComponent("filler").path
        _ = runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4k"])

        let refused = try daemon.client().post("/supervisor/stop/par-steady")
        #expect(refused.status == 507, "\(refused.text)")
        #expect(refused.json["error"] as? String == "disk full")
        #expect(state(try daemon.process("par-steady")) == "running", "a stop that cannot be remembered is not done")
        #expect(ProcessInspection.isAlive(agentPID))
        let another = try daemon.spawn("another", package: sleeper)
        #expect(another.status == 507)
        #expect(try daemon.client().get("/supervisor/processes/par-another").status == 404, "nothing was started")

        try FileManager.default.removeItem(atPath: filler)
        #expect(try daemon.client().post("/supervisor/stop/par-steady").status == 200, "works again once there is space")

        // A removal that cannot be remembered is not done either: the agent would come back.
        _ = runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4k"])
        let removal = try daemon.client().delete("/supervisor/processes/par-steady")
        #expect(removal.status == 507, "\(removal.text)")
        #expect(try daemon.client().get("/supervisor/processes/par-steady").status == 200, "still in the table")
        try FileManager.default.removeItem(atPath: filler)
        #expect(try daemon.client().delete("/supervisor/processes/par-steady").status == 200)
    }
}

func mountTmpfs(at path: String, kilobytes: Int) -> Bool {
    runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path]) == 0
}

@discardableResult
func runCommand(_ executable: String, _ arguments: [String]) -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        return -1
    }
    process.waitUntilExit()
    return process.terminationStatus
}

@Suite("Desired state: restore failures and fleet health")
struct RestoreEdgeTests {
    @Test func anAgentWhosePackageIsGoneAtStartIsFailedAndComesBackOnceItIsThere() throws {
        let first = try DaemonHarness()
        let path = try first.install(sleeperPackage(), name: "moving")
        #expect(try first.spawn("mover", package: path).status == 200)
        first.crash()
        let saved = try Data(contentsOf: URL(fileURLWithPath: path))
        try FileManager.default.removeItem(atPath: path)

        let second = try DaemonHarness(root: first.root, portRange: first.portRange)
        let failed = try second.process("par-mover")
        #expect(state(failed) == "failed")
        #expect((failed["error"] as? String)?.contains("could not be started when the daemon started") == true, "\(failed)")
        second.keepFiles = true
        #expect(second.terminate() == 0)

        try saved.write(to: URL(fileURLWithPath: path))
        let third = try DaemonHarness(root: first.root, portRange: first.portRange)
        defer { third.stop() }
        try third.waitFor("par-mover") { state($0) == "running" }
    }

    @Test func agentsThatExitCleanlyBetweenRestartsDoNotDegradeHealth() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let blinker = try daemon.install(.commandPackage(script: "exit 0"))
        #expect(try daemon.spawn("blinker", package: blinker, ["restart_policy": "always", "restart_delay_seconds": 30]).status == 200)
        #expect(try daemon.spawn("steady", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-blinker") { state($0) == "restarting" }
        let health = try daemon.client().get("/supervisor/health").json
        #expect(health["status"] as? String == "healthy", "\(health)")
        #expect(health["total_agents"] as? Int == 1)
        let route = try daemon.client().get("/agents/blinker/")
        #expect(route.status == 503)
        #expect(route.headers["retry-after"] != nil || route.text.contains("restarting"), "\(route.text)")
    }
}

@Suite("One daemon per data dir")
struct SecondDaemonTests {
    @Test func aSecondDaemonOnTheSameDataDirExitsAndTouchesNothing() throws {
        let first = try DaemonHarness()
        defer { first.stop() }
        let marker = UUID().uuidString
        let answer = try first.spawn("kept", package: try first.install(sleeperPackage()), ["env_vars": ["MARKER": marker]])
        let agentPID = try #require(pid(answer.json))
        let socket = first.dataDirectory.appendingPathComponent("http.sock").path
        #expect(FileManager.default.fileExists(atPath: socket))

        let started = Date()
        let second = try runPar(["serve", "--port", "0", "--data-dir", first.dataDirectory.path, "--port-range", "\(first.portRange.lowerBound)-\(first.portRange.upperBound)", "--package-dir", first.packageDirectory.path])
        #expect(second.status != 0)
        #expect(Date().timeIntervalSince(started) < 10, "it exits at once")
        #expect(second.output.contains("pid \(first.process.processIdentifier)"), "the message names the holder: \(second.output)")
        #expect(ProcessInspection.isAlive(agentPID), "the first daemon's agent was not killed")
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker) == [agentPID], "and not started twice")
        #expect(FileManager.default.fileExists(atPath: socket), "nor its socket removed")
        #expect(state(try first.process("par-kept")) == "running")
        #expect(try first.client().post("/supervisor/restart/par-kept").status == 200, "the first daemon still works")
    }
}
