import Foundation
import PARClient
import PARTestKit
import Testing

@Suite("Lifecycle through the HTTP API")
struct LifecycleTests {
    @Test func spawnedCommandPackageRunsAndStatusCarriesEveryField() throws {
        let daemon = try DaemonHarness(extraArguments: ["--sample-interval", "0.2"])
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())

        let answer = try daemon.spawn("worker-1", package: package, ["env_vars": ["ENV": "production"]])
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["status"] as? String == "success")
        #expect(answer.json["process_id"] as? String == "par-worker-1")
        let port = try #require(answer.json["port"] as? Int)
        #expect(daemon.portRange.contains(port))

        let status = try daemon.waitFor("par-worker-1") { $0["resources"] is [String: Any] }
        #expect(status["agent_id"] as? String == "worker-1")
        #expect(status["package_id"] as? String == "com.example.worker-1")
        #expect(state(status) == "running")
        #expect(status["port"] as? Int == port)
        #expect(status["restart_count"] as? Int == 0)
        #expect(status["started_at"] is String)
        #expect((status["uptime"] as? Double).map { $0 >= 0 } == true)
        #expect(status["last_exit"] is NSNull)
        #expect(status["error"] is NSNull)
        let agentPID = try #require(pid(status))
        #expect(ProcessInspection.isAlive(agentPID))
        let resources = try #require(status["resources"] as? [String: Any])
        let memory = try #require(resources["memory"] as? [String: Any])
        #expect((memory["rss_bytes"] as? Int ?? 0) > 0)
        #expect(resources["cpu"] is [String: Any])
        #expect((resources["num_threads"] as? Int ?? 0) >= 1)

        let all = try daemon.client().get("/supervisor/status").json
        #expect(all["supervisor"] as? String == "running")
        #expect((all["processes"] as? [String: Any])?["par-worker-1"] != nil)
        #expect(all["routes"] as? [String] == ["worker-1"])

        let logs = try daemon.client().get("/supervisor/logs?process_id=par-worker-1").json
        let messages = (logs["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.contains("started worker-1 on \(port)"))
    }

    @Test func pythonEntrypointPackageServesInvokeAndHealth() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let source = """
        import os
        def handler(context):
            if context.get("fail"):
                raise ValueError("asked to fail")
            return {"echo": context, "greeting": os.environ.get("GREETING"), "env": os.environ.get("ENV"), "port": os.environ.get("PAR_PORT")}
        """
        let package = try daemon.install(.pythonPackage(source: source, environment: ["GREETING": "${PAR_TEST_UNSET_VARIABLE:-hello}"]))
        let answer = try daemon.spawn("py", package: package, ["env_vars": ["ENV": "staging"]])
        #expect(answer.status == 200, "\(answer.text)")
        let port = try #require(answer.json["port"] as? Int)
        // Running means its health check passed: the worker answers from then on.
        try daemon.waitFor("par-py", timeout: 20) { state($0) == "running" }

        let agent = HTTPConnection(port: port)
        let health = try agent.request("GET", "/health")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "healthy")

        let invoke = try agent.request("POST", "/invoke", headers: ["Content-Type": "application/json"], body: Array(#"{"question": 42}"#.utf8))
        #expect(invoke.status == 200)
        #expect((invoke.json["echo"] as? [String: Any])?["question"] as? Int == 42)
        #expect(invoke.json["greeting"] as? String == "hello")
        #expect(invoke.json["env"] as? String == "staging")
        #expect(invoke.json["port"] as? String == String(port))

        let failing = try agent.request("POST", "/invoke", headers: ["Content-Type": "application/json"], body: Array(#"{"fail": true}"#.utf8))
        #expect(failing.status == 500)
        #expect(failing.text.contains("asked to fail"))
        #expect(state(try daemon.process("par-py")) == "running")
    }

    @Test func stopEndsTheWholeProcessTreeAndFreesThePort() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        // The agent starts a grandchild, and ignores SIGTERM so SIGKILL must follow.
        let marker = UUID().uuidString
        let package = try daemon.install(.commandPackage(script: """
        trap '' TERM
        sleep 1000 &
        echo "child $!"
        while true; do sleep 1; done
        """))
        let answer = try daemon.spawn("tree", package: package, ["env_vars": ["MARKER": marker], "stop_timeout_seconds": 0.5])
        #expect(answer.status == 200, "\(answer.text)")
        let port = try #require(answer.json["port"] as? Int)
        #expect(ProcessInspection.eventually { ProcessInspection.processes(withEnvironment: "MARKER", value: marker).count >= 3 })

        let stopped = try daemon.client().post("/supervisor/stop/par-tree")
        #expect(stopped.status == 200, "\(stopped.text)")
        #expect(stopped.json["state"] as? String == "stopped")
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).isEmpty)
        let status = try daemon.process("par-tree")
        #expect(state(status) == "stopped")
        #expect(status["port"] is NSNull)
        #expect(status["pid"] is NSNull)
        #expect((status["last_exit"] as? [String: Any])?["reason"] as? String == "stopped")
        #expect(ProcessInspection.portIsFree(port))
    }

    @Test func restartWithoutBodyKeepsConfigurationAndStartsANewProcess() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let first = try daemon.spawn("again", package: package, ["max_restarts": 7])
        let firstPID = try #require((first.json["pid"] as? NSNumber).map { Int32(truncating: $0) })

        let restarted = try daemon.client().post("/supervisor/restart/par-again")
        #expect(restarted.status == 200, "\(restarted.text)")
        let secondPID = try #require((restarted.json["pid"] as? NSNumber).map { Int32(truncating: $0) })
        #expect(secondPID != firstPID)
        #expect(!ProcessInspection.isAlive(firstPID))
        let process = try #require(restarted.json["process"] as? [String: Any])
        #expect(process["max_restarts"] as? Int == 7)

        let changed = try daemon.client().post("/supervisor/restart/par-again", json: ["max_restarts": 2])
        #expect(changed.status == 200, "\(changed.text)")
        #expect((changed.json["process"] as? [String: Any])?["max_restarts"] as? Int == 2)
    }

    @Test func spawningAStoppedAgentAgainIsAllowed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("cycle", package: package).status == 200)
        #expect(try daemon.client().post("/supervisor/stop/par-cycle").status == 200)
        let again = try daemon.spawn("cycle", package: package)
        #expect(again.status == 200, "\(again.text)")
        #expect(again.json["state"] as? String == "running")
    }
}
