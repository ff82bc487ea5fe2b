import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `depends_on` against real processes: waiting, starting the moment a dependency is
/// ready, refusals, reverse-order stops and `restart: true`.
@Suite("Dependencies between agents")
struct DependencyTests {
    /// A TCP-checked agent that takes `delay` seconds before it listens.
    static func slowTiny(delay: Double) -> APKGBuilder {
        TinyAgent.package().setting("agent.yaml", """
        name: slow-tiny
        version: 1.0.0
        command: ["/bin/sh", "-c", "sleep \(delay); exec \(TinyAgent.resolvedPython()) -S agent.py"]
        health: {type: tcp, interval_seconds: 0.1}
        """)
    }

    @Test func aHealthyDependencyGatesTheStartAndTheDependantStartsTheMomentItIsReady() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let database = try daemon.install(Self.slowTiny(delay: 1))
        let app = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("db", package: database).status == 200)
        let answer = try daemon.spawn("app", package: app, ["depends_on": [["agent": "db", "condition": "healthy"]]])
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["state"] as? String == "waiting", "\(answer.text)")
        #expect(answer.json["pid"] is NSNull)
        let waitingFor = try #require((answer.json["process"] as? [String: Any])?["waiting_for"] as? [[String: Any]])
        #expect(waitingFor.first?["agent"] as? String == "db")
        #expect(waitingFor.first?["condition"] as? String == "healthy")
        #expect(waitingFor.first?["state"] as? String == "starting")
        // Waiting is visible to the proxy too: 503 with a Retry-After, not a 502.
        let proxied = try daemon.client().get("/agents/app/")
        #expect(proxied.status == 503, "\(proxied.text)")

        let running = try daemon.waitFor("par-app", timeout: 20) { state($0) == "running" }
        let dbStatus = try daemon.process("par-db")
        #expect(state(dbStatus) == "running")
        let readyAt = try #require((dbStatus["ready_at"] as? String).flatMap(parseTimestamp))
        let startedAt = try #require((running["started_at"] as? String).flatMap(parseTimestamp))
        #expect(startedAt >= readyAt, "app started at \(startedAt), before db was ready at \(readyAt)")
        #expect(startedAt.timeIntervalSince(readyAt) < 0.5, "app starts the moment db is ready, not at a later poll: \(startedAt.timeIntervalSince(readyAt)) s")
        #expect((running["waiting_for"] as? [Any])?.isEmpty == true)
        #expect((running["depends_on"] as? [[String: Any]])?.first?["agent"] as? String == "db")
    }

    @Test func aStartedDependencyIsMetByAProcessAndTheShortFormMeansStarted() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let database = try daemon.install(Self.slowTiny(delay: 3))
        let app = try daemon.install(sleeperPackage())
        _ = try daemon.spawn("db", package: database)
        let answer = try daemon.spawn("app", package: app, ["depends_on": ["db"]])
        #expect(answer.status == 200, "\(answer.text)")
        // db has a process at once (it is still starting): that is enough for `started`.
        let status = try daemon.waitFor("par-app") { state($0) == "running" }
        #expect(state(try daemon.process("par-db")) == "starting", "app did not wait for db's readiness")
        #expect((status["depends_on"] as? [[String: Any]])?.first?["condition"] as? String == "started")
    }

    @Test func anUnknownDependencyOrACycleIsRefusedWithNothingChanged() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let unknown = try daemon.spawn("app", package: package, ["depends_on": ["ghost"]])
        #expect(unknown.status == 400, "\(unknown.text)")
        #expect(unknown.json["field"] as? String == "depends_on")
        #expect((unknown.json["detail"] as? String)?.contains("ghost") == true, "\(unknown.text)")
        #expect(try daemon.client().get("/supervisor/processes/par-app").status == 404)

        let itself = try daemon.spawn("solo", package: package, ["depends_on": ["solo"]])
        #expect(itself.status == 400, "\(itself.text)")

        #expect(try daemon.spawn("a", package: package).status == 200)
        #expect(try daemon.spawn("b", package: package, ["depends_on": ["a"]]).status == 200)
        #expect(try daemon.spawn("c", package: package, ["depends_on": ["b"]]).status == 200)
        let before = try daemon.process("par-a")
        // a -> c would close a -> c -> b -> a.
        let cycle = try daemon.client().post("/supervisor/restart/par-a", json: ["depends_on": ["c"]])
        #expect(cycle.status == 400, "\(cycle.text)")
        #expect((cycle.json["detail"] as? String)?.contains("a -> c -> b -> a") == true, "\(cycle.text)")
        let after = try daemon.process("par-a")
        #expect(pid(after) == pid(before), "a refused restart changes nothing")
        #expect((after["depends_on"] as? [Any])?.isEmpty == true)
    }

    @Test(arguments: [
        ("[3]", "depends_on[0]"),
        ("[{\"agent\": \"db\", \"condition\": \"ready\"}]", "depends_on[0].condition"),
        ("[{\"agent\": \"db\", \"when\": \"healthy\"}]", "depends_on[0].when"),
        ("[\"db\", \"db\"]", "depends_on[1]"),
        ("[\"Not An Id\"]", "depends_on[0]"),
        ("\"db\"", "depends_on"),
    ])
    func malformedDependsOnIsA400NamingTheEntry(json: String, field: String) throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        _ = try daemon.spawn("db", package: package)
        let value = try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        let answer = try daemon.spawn("app", package: package, ["depends_on": value])
        #expect(answer.status == 400, "\(answer.text)")
        #expect(answer.json["field"] as? String == field, "\(answer.text)")
    }

    @Test func theDaemonStopsDependantsBeforeWhatTheyDependOn() throws {
        let daemon = try DaemonHarness()
        let record = daemon.root.appendingPathComponent("stop-order")
        let armed = daemon.root.appendingPathComponent("armed")
        for file in [record, armed] {
            FileManager.default.createFile(atPath: file.path, contents: nil)
            chmod(file.path, 0o666)
        }
        // Each agent notes its name when told to stop, then takes a moment to finish; it says
        // when its trap is set, since "running" comes before the shell has read that line.
        let package = try daemon.install(.commandPackage(script: """
        trap 'echo "$PAR_AGENT_ID" >> \(record.path); sleep 0.3; exit 0' TERM
        echo "$PAR_AGENT_ID" >> \(armed.path)
        while :; do sleep 0.05; done
        """))
        _ = try daemon.spawn("db", package: package)
        _ = try daemon.spawn("api", package: package, ["depends_on": ["db"]])
        _ = try daemon.spawn("web", package: package, ["depends_on": ["api", "db"]])
        for id in ["db", "api", "web"] { try daemon.waitFor("par-\(id)") { state($0) == "running" } }
        #expect(ProcessInspection.eventually(timeout: 20) {
            Set(((try? String(contentsOf: armed, encoding: .utf8)) ?? "").split(separator: "\n")) == ["db", "api", "web"]
        }, "every agent set its trap")
        #expect(daemon.terminate() == 0)
        let order = (try String(contentsOf: record, encoding: .utf8)).split(separator: "\n").map(String.init)
        #expect(order == ["web", "api", "db"], "stop order: \(order)")
    }

    @Test func restartTrueRestartsTheDependantWhenItsDependencyRestarts() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let database = try daemon.spawn("db", package: package, ["restart_delay_seconds": 0])
        let dbPID = try #require(pid(database.json))
        let follower = try daemon.spawn("follower", package: package, ["depends_on": [["agent": "db", "restart": true]]])
        let bystander = try daemon.spawn("bystander", package: package, ["depends_on": ["db"]])
        let followerPID = try #require(pid(follower.json))
        let bystanderPID = try #require(pid(bystander.json))

        kill(dbPID, SIGKILL)
        try daemon.waitFor("par-db") { pid($0) != nil && pid($0) != dbPID && state($0) == "running" }
        let restarted = try daemon.waitFor("par-follower") { pid($0) != nil && pid($0) != followerPID && state($0) == "running" }
        #expect(restarted["run"] as? Int == 2)
        #expect(pid(try daemon.process("par-bystander")) == bystanderPID, "without restart: true a dependant keeps running")
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&limit=200").json["logs"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["message"] as? String)?.contains("it depends on db with restart: true") == true })

        // An API restart of the dependency does the same.
        let second = try #require(pid(try daemon.process("par-follower")))
        #expect(try daemon.client().post("/supervisor/restart/par-db").status == 200)
        try daemon.waitFor("par-follower") { pid($0) != nil && pid($0) != second && state($0) == "running" }
    }

    @Test func aWaitingAgentCanBeStoppedAndGivesItsPortBack() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        _ = try daemon.spawn("db", package: package)
        #expect(try daemon.client().post("/supervisor/stop/par-db").status == 200)
        let answer = try daemon.spawn("app", package: package, ["depends_on": ["db"]])
        #expect(answer.json["state"] as? String == "waiting", "\(answer.text)")
        #expect(((answer.json["process"] as? [String: Any])?["waiting_for"] as? [[String: Any]])?.first?["state"] as? String == "stopped")
        let stopped = try daemon.client().post("/supervisor/stop/par-app")
        #expect(stopped.json["state"] as? String == "stopped", "\(stopped.text)")
        #expect((stopped.json["process"] as? [String: Any])?["port"] is NSNull, "\(stopped.text)")
        // Starting db no longer starts app: its stop stands.
        #expect(try daemon.client().post("/supervisor/restart/par-db").status == 200)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(state(try daemon.process("par-app")) == "stopped")
    }

    @Test func aWaitingAgentIsRestoredWaitingAfterTheDaemonRestarts() throws {
        let first = try DaemonHarness()
        first.keepFiles = true
        let package = try first.install(sleeperPackage())
        _ = try first.spawn("db", package: package)
        #expect(try first.client().post("/supervisor/stop/par-db").status == 200)
        _ = try first.spawn("app", package: package, ["depends_on": ["db"]])
        #expect(first.terminate() == 0)
        let second = try DaemonHarness(root: first.root, portRange: first.portRange)
        defer { second.stop() }
        let restored = try second.waitFor("par-app") { state($0) == "waiting" }
        #expect((restored["depends_on"] as? [[String: Any]])?.first?["agent"] as? String == "db")
        #expect(try second.client().post("/supervisor/restart/par-db").status == 200)
        try second.waitFor("par-app") { state($0) == "running" }
    }
}

private func parseTimestamp(_ text: String) -> Date? {
    try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}
