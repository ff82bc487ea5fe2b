import Foundation
import PARClient
import PARTestKit
import Synchronization
import Testing

/// `POST /supervisor/restart/{id}?strategy=rolling` against real processes and real load.
@Suite("Rolling restarts")
struct RollingRestartTests {
    /// Keeps requests going through the proxy on one keep-alive connection until stopped.
    final class Load: Sendable {
        private let stopFlag = Atomic<Bool>(false)
        private let counts = Mutex<(ok: Int, bad: [String])>((0, []))
        private let done = Mutex<Bool>(false)

        init(port: Int, token: String, path: String) {
            let thread = Thread { [self] in
                var client = PARAPIClient(port: port, token: token, timeoutSeconds: 10)
                while !self.stopFlag.load(ordering: .relaxed) {
                    do {
                        let answer = try client.get(path)
                        self.counts.withLock { counts in
                            if (200..<300).contains(answer.status) { counts.ok += 1 } else { counts.bad.append("\(answer.status) \(answer.text.prefix(200))") }
                        }
                    } catch {
                        self.counts.withLock { $0.bad.append("socket: \(error)") }
                        client = PARAPIClient(port: port, token: token, timeoutSeconds: 10)
                    }
                }
                self.done.withLock { $0 = true }
            }
            thread.start()
        }

        func stop() -> (ok: Int, bad: [String]) {
            stopFlag.store(true, ordering: .relaxed)
            _ = ProcessInspection.eventually(timeout: 15) { self.done.withLock { $0 } }
            return counts.withLock { $0 }
        }
    }

    @Test func rollingRestartsUnderLoadDropNoRequest() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("fast", package: try daemon.install(FastAgent.package()))
        #expect(answer.status == 200, "\(answer.text)")
        let first = try daemon.waitFor("par-fast") { state($0) == "running" }
        let firstPID = try #require(pid(first))
        let load = Load(port: daemon.port, token: daemon.token, path: "/agents/fast/hello")
        var ports: Set<Int> = [first["port"] as? Int ?? 0]
        for round in 1...3 {
            Thread.sleep(forTimeInterval: 0.3)
            let restarted = try daemon.client().post("/supervisor/restart/par-fast?strategy=rolling")
            #expect(restarted.status == 200, "round \(round): \(restarted.text)")
            let process = restarted.json["process"] as? [String: Any] ?? [:]
            #expect(state(process) == "running")
            ports.insert(process["port"] as? Int ?? 0)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let result = load.stop()
        let failures = result.bad.count
        #expect(failures == 0, "\(failures) failed requests, first: \(result.bad.prefix(3))")
        #expect(result.ok > 100, "the load kept going: \(result.ok) answers")
        #expect(ports.count == 4, "each run on a fresh port: \(ports)")
        let status = try daemon.process("par-fast")
        #expect(status["run"] as? Int == 4)
        #expect(status["restart_count"] as? Int == 3)
        #expect(!ProcessInspection.isAlive(firstPID), "the first run was stopped")
        // Each run's log lines carry its own run number.
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&limit=200").json["logs"] as? [[String: Any]] ?? []
        #expect(events.filter { ($0["message"] as? String)?.contains("rolling restart of par-fast done") == true }.count == 3)
    }

    @Test func aRequestInFlightOnTheOldRunFinishesBeforeItStops() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        _ = try daemon.spawn("echo", package: try daemon.install(EchoAgent.package()))
        let first = try daemon.waitFor("par-echo", timeout: 20) { state($0) == "running" }
        let slow = Mutex<HTTPAnswer?>(nil)
        let thread = Thread {
            let answer = try? daemon.client().get("/agents/echo/slow?seconds=1.5")
            slow.withLock { $0 = answer }
        }
        thread.start()
        Thread.sleep(forTimeInterval: 0.3)
        let restarted = try daemon.client().post("/supervisor/restart/par-echo?strategy=rolling&drain_timeout=10")
        #expect(restarted.status == 200, "\(restarted.text)")
        #expect(ProcessInspection.eventually(timeout: 10) { slow.withLock { $0 } != nil })
        let answer = slow.withLock { $0 }
        #expect(answer?.status == 200, "the slow request on the old run was answered: \(answer?.text ?? "none")")
        #expect(pid(try daemon.process("par-echo")) != pid(first))
        #expect(!ProcessInspection.isAlive(try #require(pid(first))))
    }

    @Test func aNextRunThatNeverGetsReadyLeavesTheCurrentOneServing() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        _ = try daemon.spawn("fast", package: try daemon.install(FastAgent.package()))
        let before = try daemon.waitFor("par-fast") { state($0) == "running" }
        // The next run is a package that never listens: its TCP check never passes.
        let refused = try daemon.client().post("/supervisor/restart/par-fast?strategy=rolling", json: [
            "package_path": try daemon.install(sleeperPackage()),
            "health_check": ["type": "tcp", "start_timeout_seconds": 1, "interval_seconds": 0.1],
        ])
        #expect(refused.status == 502, "\(refused.text)")
        #expect((refused.json["detail"] as? String)?.contains("keeps serving") == true, "\(refused.text)")
        let after = try daemon.process("par-fast")
        #expect(pid(after) == pid(before))
        #expect(after["port"] as? Int == before["port"] as? Int)
        #expect(state(after) == "running")
        #expect(after["package_path"] as? String == before["package_path"] as? String, "the spec is unchanged")
        #expect(try daemon.client().get("/agents/fast/").status == 200)
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&level=ERROR&limit=50").json["logs"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["message"] as? String)?.contains("rolling restart of par-fast failed") == true })
        // A failed one leaves nothing behind: the next rolling restart goes through.
        let again = try daemon.client().post("/supervisor/restart/par-fast?strategy=rolling")
        #expect(again.status == 200, "\(again.text)")
    }

    @Test func badStrategiesAreRefused() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        _ = try daemon.spawn("s", package: try daemon.install(sleeperPackage()))
        let bad = try daemon.client().post("/supervisor/restart/par-s?strategy=blue-green")
        #expect(bad.status == 400)
        #expect(bad.json["field"] as? String == "strategy")
        let drain = try daemon.client().post("/supervisor/restart/par-s?drain_timeout=5")
        #expect(drain.status == 400)
        #expect(drain.json["field"] as? String == "drain_timeout")
        // An agent with no check and no port to keep up still restarts the rolling way.
        let rolled = try daemon.client().post("/supervisor/restart/par-s?strategy=rolling")
        #expect(rolled.status == 200, "\(rolled.text)")
        #expect((rolled.json["process"] as? [String: Any])?["run"] as? Int == 2)
    }

    @Test func aSecondRollingRestartMeanwhileIsAConflict() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        _ = try daemon.spawn("fast", package: try daemon.install(FastAgent.package()))
        try daemon.waitFor("par-fast") { state($0) == "running" }
        let slow = try daemon.install(DependencyTests.slowTiny(delay: 1.5))
        let first = Mutex<HTTPAnswer?>(nil)
        let thread = Thread {
            let answer = try? daemon.client().post("/supervisor/restart/par-fast?strategy=rolling", json: ["package_path": slow])
            first.withLock { $0 = answer }
        }
        thread.start()
        Thread.sleep(forTimeInterval: 0.5)
        let second = try daemon.client().post("/supervisor/restart/par-fast?strategy=rolling")
        #expect(second.status == 409, "\(second.text)")
        #expect(ProcessInspection.eventually(timeout: 20) { first.withLock { $0 } != nil })
        #expect(first.withLock { $0?.status } == 200)
    }

    @Test func aDaemonKilledMidRollingRestartLeavesNoSecondRunBehind() throws {
        let daemon = try DaemonHarness()
        _ = try daemon.spawn("fast", package: try daemon.install(FastAgent.package()))
        try daemon.waitFor("par-fast") { state($0) == "running" }
        let slow = try daemon.install(DependencyTests.slowTiny(delay: 30))
        let thread = Thread { _ = try? daemon.client().post("/supervisor/restart/par-fast?strategy=rolling", json: ["package_path": slow]) }
        thread.start()
        let pidFile = daemon.dataDirectory.appendingPathComponent("run/fast+next.pid")
        #expect(ProcessInspection.eventually(timeout: 10) { FileManager.default.fileExists(atPath: pidFile.path) })
        let text = try String(contentsOf: pidFile, encoding: .utf8)
        let nextPID = try #require(Int32(text.split(separator: " ").first ?? ""))
        #expect(ProcessInspection.isAlive(nextPID))
        daemon.crash()
        let successor = try DaemonHarness(root: daemon.root, portRange: daemon.portRange)
        defer { successor.stop() }
        #expect(ProcessInspection.eventually(timeout: 10) { !ProcessInspection.isAlive(nextPID) }, "the next run of the killed daemon was killed")
        let restored = try successor.waitFor("par-fast") { state($0) == "running" }
        #expect(pid(restored) != nextPID)
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
    }
}
