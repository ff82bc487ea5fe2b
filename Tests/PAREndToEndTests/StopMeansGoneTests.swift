import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whatever an agent started, in a new session, double-forked or deaf to SIGTERM, ends
/// with the agent: on stop, restart, daemon shutdown and the next daemon's start-up sweep.
@Suite("Stop means gone")
struct StopMeansGoneTests {
    /// A new session that ignores SIGTERM, a double fork that ignores it too, then the agent.
    static let escapes = """
    setsid sh -c 'trap "" TERM; while :; do sleep 1; done' &
    ( (trap "" TERM; exec sleep 1000) & )
    echo "escapes started"
    exec sleep 1000
    """

    private func spawnEscaper(_ daemon: DaemonHarness, marker: String) throws {
        let package = try daemon.install(.commandPackage(script: Self.escapes))
        let answer = try daemon.spawn("escaper", package: package, ["env_vars": ["MARKER": marker], "stop_timeout_seconds": 2])
        #expect(answer.status == 200, "\(answer.text)")
        try daemon.waitFor("par-escaper") { state($0) == "running" }
        let all = ProcessInspection.eventually(timeout: 10) { ProcessInspection.processes(withEnvironment: "MARKER", value: marker).count >= 4 }
        #expect(all, "the agent, its new session (sh and sleep) and the double-forked sleep run")
    }

    private func survivors(_ marker: String) -> [Int32] {
        ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
    }

    @Test func aStopKillsEveryProcessTheAgentStarted() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let marker = UUID().uuidString
        try spawnEscaper(daemon, marker: marker)
        #expect(try daemon.client().post("/supervisor/stop/par-escaper").status == 200)
        #expect(survivors(marker).isEmpty, "left behind after the stop answered: \(survivors(marker))")
    }

    @Test func aRestartLeavesOnlyTheNewRunsProcesses() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let marker = UUID().uuidString
        try spawnEscaper(daemon, marker: marker)
        let before = Set(survivors(marker))
        #expect(try daemon.client().post("/supervisor/restart/par-escaper").status == 200)
        try daemon.waitFor("par-escaper") { state($0) == "running" }
        #expect(Set(survivors(marker)).isDisjoint(with: before), "an old run's process outlived the restart")
    }

    @Test func theDaemonsShutdownLeavesNothing() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let marker = UUID().uuidString
        try spawnEscaper(daemon, marker: marker)
        #expect(daemon.terminate() == 0)
        #expect(survivors(marker).isEmpty, "left behind by the shutdown: \(survivors(marker))")
    }

    @Test func theNextDaemonKillsWhatADaemonKilledWithNineLeft() throws {
        let first = try DaemonHarness()
        let marker = UUID().uuidString
        try spawnEscaper(first, marker: marker)
        let before = Set(survivors(marker))
        first.crash()
        let second = try DaemonHarness(root: first.root, portRange: first.portRange)
        defer { second.stop() }
        let swept = ProcessInspection.eventually(timeout: 5) { Set(survivors(marker)).isDisjoint(with: before) }
        #expect(swept, "the previous daemon's processes survived the start-up sweep: \(Set(survivors(marker)).intersection(before))")
    }
}

/// Tests leave nothing behind in /tmp: port ranges are held by abstract socket names.
@Suite("Test hygiene")
struct TestHygieneTests {
    @Test func aHarnessLeavesNoLockFileInTmp() throws {
        func lockFiles() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("par-test-ports-") })
        }
        let before = lockFiles()
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let added = lockFiles().subtracting(before)
        #expect(added.isEmpty, "\(added.prefix(5))")
    }
}

/// `--exit-with-parent` (every test daemon has it): when whatever started the daemon is
/// killed, the daemon stops its agents and exits, instead of running on for nobody.
@Suite("Exit with parent")
struct ExitWithParentTests {
    @Test func aKilledParentTakesTheDaemonAndItsAgentsWithIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let packages = root.appendingPathComponent("packages")
        try FileManager.default.createDirectory(at: packages, withIntermediateDirectories: true)
        let range = DaemonHarness.reservePortRange(count: 5)
        let token = UUID().uuidString
        // A shell stands for the test run: it starts the daemon and is then killed.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "\"$PAR\" serve --exit-with-parent --port 0 --ui-port 0 --data-dir \"$ROOT/data\" --package-dir \"$ROOT/packages\" --port-range \(range.lowerBound)-\(range.upperBound) > \"$ROOT/log\" 2>&1 & echo $! > \"$ROOT/pid\"; wait"]
        parent.environment = ProcessInfo.processInfo.environment.merging(["PAR": try DaemonHarness.locateBinary().path, "ROOT": root.path, "PAR_TOKEN": token]) { $1 }
        try parent.run()
        defer { if parent.isRunning { kill(parent.processIdentifier, SIGKILL) } }

        func log() -> String { (try? String(contentsOf: root.appendingPathComponent("log"), encoding: .utf8)) ?? "" }
        func port() -> Int? {
            guard let range = log().range(of: "par listening on http://127.0.0.1:") else { return nil }
            return Int(log()[range.upperBound...].prefix(while: \.isNumber))
        }
        #expect(ProcessInspection.eventually(timeout: 30) { port() != nil }, "\(log())")
        let daemonPID = try #require(Int32((try? String(contentsOf: root.appendingPathComponent("pid"), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""))
        let client = PARAPIClient(port: try #require(port()), token: token)
        let package = packages.appendingPathComponent("sleeper.apkg")
        try sleeperPackage().write(to: package)
        let spawned = try client.post("/supervisor/spawn", json: ["agent_id": "orphan", "package_path": package.path])
        #expect(spawned.status == 200, "\(spawned.text)")
        var agentPID: Int32 = 0
        let running = try ProcessInspection.eventually(timeout: 20) { () throws -> Bool in
            let process = try client.get("/supervisor/processes/par-orphan").json
            agentPID = (process["pid"] as? Int).map(Int32.init) ?? 0
            return process["state"] as? String == "running" && agentPID > 0
        }
        #expect(running)

        kill(parent.processIdentifier, SIGKILL)
        parent.waitUntilExit()
        #expect(ProcessInspection.eventually(timeout: 20) { !ProcessInspection.isAlive(daemonPID) }, "the daemon outlived its parent: \(log())")
        #expect(!ProcessInspection.isAlive(agentPID), "its agent was stopped with it")
        #expect(log().contains("has ended; shutting down (--exit-with-parent)"), "\(log())")
    }
}
