import Foundation
import PARClient
import PARTestKit
import Testing

/// Readiness, liveness and `/supervisor/health` against real agents.
@Suite("Health checks")
struct HealthTests {
    @Test func slowStartingAgentIsNotRoutedUntilItsHealthCheckPasses() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("sleepy", package: try daemon.install(EchoAgent.package()), ["env_vars": ["START_DELAY": "1.5"]])
        #expect(answer.json["state"] as? String == "starting")
        let early = try HTTPConnection(port: daemon.port).request("GET", "/agents/sleepy/echo")
        #expect(early.status == 503)
        #expect(early.headers["retry-after"] == "1")
        #expect(try daemon.client().get("/supervisor/status").json["routes"] as? [String] == [])

        let ready = try daemon.waitFor("par-sleepy", timeout: 20) { state($0) == "running" }
        #expect(ready["ready_at"] is String)
        #expect((ready["health"] as? [String: Any])?["status"] as? String == "healthy")
        #expect(try HTTPConnection(port: daemon.port).request("GET", "/agents/sleepy/echo").status == 200)
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor").json["logs"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["message"] as? String)?.contains("is ready") == true })
    }

    @Test func agentThatNeverBecomesReadyIsAFailedStart() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("never-ready", package: try daemon.install(EchoAgent.package()), [
            "env_vars": ["START_DELAY": "100"], "restart_policy": "never",
            "health_check": ["type": "http", "path": "/health", "start_timeout_seconds": 1],
        ])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-never-ready", timeout: 20) { state($0) == "crashed" }
        #expect((status["last_exit"] as? [String: Any])?["reason"] as? String == "start_timeout")
        #expect((status["error"] as? String)?.contains("start_timeout") == true)
    }

    /// With no health check declared, a `command:` worker that listens nowhere is not killed
    /// at the start timeout: it runs on, judged by its process, and its log says why and how
    /// to declare a check. An HTTP agent with no `/health` route (404) is ready at once.
    @Test func theBuiltInCheckTellsWorkersFromHTTPAgents() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let python = TinyAgent.resolvedPython()
        let worker = APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: worker
            version: 1.0.0
            command: ["\(python)", "-c", "import time\\nprint('working', flush=True)\\ntime.sleep(600)"]
            """),
        ])
        let answer = try daemon.spawn("worker", package: try daemon.install(worker), ["health_check": ["start_timeout_seconds": 1]])
        #expect(answer.status == 200, "\(answer.text)")
        let running = try daemon.waitFor("par-worker", timeout: 20) { state($0) == "running" }
        let health = try #require(running["health"] as? [String: Any])
        #expect(health["judged_by"] as? String == "process")
        #expect(health["declared"] as? Bool == false)
        #expect(health["status"] as? String == "healthy")
        let firstPid = pid(running)
        usleep(2_500_000)
        let later = try daemon.process("par-worker")
        #expect(state(later) == "running")
        #expect(pid(later) == firstPid, "not killed for its health")
        #expect(later["restart_count"] as? Int == 0)
        let lines = try daemon.client().get("/supervisor/logs?process_id=supervisor&q=worker").json["logs"] as? [[String: Any]] ?? []
        #expect(lines.contains { ($0["message"] as? String)?.contains("par-worker nothing listens") == true }, "the log says why it runs unprobed")

        let noHealthRoute = APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: plain-http
            version: 1.0.0
            command: ["\(python)", "server.py"]
            """),
            .file(path: "server.py", contents: """
            import http.server, os
            class Handler(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                def log_message(self, *args):
                    pass
            http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
            """),
        ])
        #expect(try daemon.spawn("plain", package: try daemon.install(noHealthRoute)).status == 200)
        let plain = try daemon.waitFor("par-plain", timeout: 20) { state($0) == "running" }
        #expect((plain["health"] as? [String: Any])?["judged_by"] == nil, "it answers HTTP: it is probed")
        #expect((plain["health"] as? [String: Any])?["status"] as? String == "healthy")
    }

    /// The built-in check is remembered as built-in: a worker judged by its process is not
    /// killed for start_timeout once the daemon restarts and brings it back.
    @Test func aWorkerStaysAWorkerAcrossADaemonRestart() throws {
        let first = try DaemonHarness()
        let worker = APKGBuilder.commandPackage(name: "worker", script: "exec sleep 600", health: nil)
        #expect(try first.spawn("worker", package: try first.install(worker), ["health_check": ["start_timeout_seconds": 1]]).status == 200)
        try first.waitFor("par-worker", timeout: 20) { ($0["health"] as? [String: Any])?["judged_by"] as? String == "process" }
        _ = first.terminate()
        let second = try DaemonHarness(root: first.root, portRange: first.portRange)
        defer { second.stop() }
        let back = try second.waitFor("par-worker", timeout: 20) { ($0["health"] as? [String: Any])?["judged_by"] as? String == "process" }
        #expect((back["health"] as? [String: Any])?["declared"] as? Bool == false)
        let pidAfter = pid(back)
        usleep(1_500_000)
        let later = try second.process("par-worker")
        #expect(state(later) == "running")
        #expect(pid(later) == pidAfter, "not killed for start_timeout after the restart")
    }

    /// An agent that gave up (`failed`) makes the fleet `degraded` even when every running
    /// agent is healthy.
    @Test func aFailedAgentDegradesTheFleet() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        _ = try daemon.spawn("good", package: try daemon.install(EchoAgent.package()))
        try daemon.waitFor("par-good", timeout: 20) { state($0) == "running" }
        #expect(try daemon.client().get("/supervisor/health").json["status"] as? String == "healthy")
        let failing = APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: gives-up
            version: 1.0.0
            command: ["\(TinyAgent.resolvedPython())", "-c", "import sys; sys.exit(3)"]
            """),
        ])
        _ = try daemon.spawn("gives-up", package: try daemon.install(failing), ["restart_policy": "on-failure", "max_restarts": 0])
        try daemon.waitFor("par-gives-up", timeout: 20) { state($0) == "failed" }
        let health = try daemon.client().get("/supervisor/health").json
        #expect(health["status"] as? String == "degraded")
        #expect(health["failed_agents"] as? Int == 1)
        #expect(health["healthy_agents"] as? Int == 1)
    }

    @Test func agentThatStopsAnsweringIsRestartedAsUnhealthy() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let healthFile = daemon.root.appendingPathComponent("unhealthy").path
        let answer = try daemon.spawn("flaky", package: try daemon.install(EchoAgent.package()), [
            "env_vars": ["HEALTH_FILE": healthFile], "restart_delay_seconds": 0,
            "health_check": ["interval_seconds": 0.2, "timeout_seconds": 1, "failure_threshold": 2],
        ])
        #expect(answer.status == 200, "\(answer.text)")
        let ready = try daemon.waitFor("par-flaky", timeout: 20) { state($0) == "running" }
        let firstPID = pid(ready)

        FileManager.default.createFile(atPath: healthFile, contents: Data())
        let restarted = try daemon.waitFor("par-flaky", timeout: 20) { $0["restart_count"] as? Int == 1 }
        try FileManager.default.removeItem(atPath: healthFile)
        #expect((restarted["last_exit"] as? [String: Any])?["reason"] as? String == "unhealthy")
        let running = try daemon.waitFor("par-flaky", timeout: 20) { state($0) == "running" }
        #expect(pid(running) != firstPID)
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&level=ERROR").json["logs"] as? [[String: Any]] ?? []
        #expect(events.contains { ($0["message"] as? String)?.contains("unhealthy") == true })
    }

    @Test func tcpCheckMakesAnAgentReadyOnceItListens() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("tcp", package: try daemon.install(EchoAgent.package(health: "{type: tcp}")), ["env_vars": ["START_DELAY": "0.5"]])
        #expect(answer.json["state"] as? String == "starting")
        let status = try daemon.waitFor("par-tcp", timeout: 20) { state($0) == "running" }
        #expect((status["health"] as? [String: Any])?["type"] as? String == "tcp")
    }

    @Test func fleetHealthAnswersFromCachedProbes() throws {
        let daemon = try DaemonHarness(extraArguments: ["--sample-interval", "0.2"])
        defer { daemon.stop() }
        let healthFile = daemon.root.appendingPathComponent("sick").path
        _ = try daemon.spawn("good", package: try daemon.install(EchoAgent.package()))
        _ = try daemon.spawn("bad", package: try daemon.install(EchoAgent.package(name: "echo-bad")), [
            "env_vars": ["HEALTH_FILE": healthFile],
            "health_check": ["interval_seconds": 0.2, "failure_threshold": 1000],
        ])
        try daemon.waitFor("par-good", timeout: 20) { state($0) == "running" }
        try daemon.waitFor("par-bad", timeout: 20) { state($0) == "running" }

        var health = try daemon.client().get("/supervisor/health").json
        #expect(health["status"] as? String == "healthy")
        #expect(health["total_agents"] as? Int == 2)
        #expect(health["healthy_agents"] as? Int == 2)

        FileManager.default.createFile(atPath: healthFile, contents: Data())
        #expect(try ProcessInspection.eventually(timeout: 10) {
            health = try daemon.client().get("/supervisor/health").json
            return health["status"] as? String == "degraded"
        })
        #expect(health["healthy_agents"] as? Int == 1)
        let perAgent = try #require(health["agent_health"] as? [String: [String: Any]])
        let bad = try #require(perAgent["bad"])
        #expect(bad["status"] as? String == "unhealthy")
        #expect(bad["agent_id"] as? String == "bad")
        let details = try #require(bad["details"] as? [String: Any])
        let probe = try #require(details["health"] as? [String: Any])
        #expect(probe["last_probe_at"] is String)
        #expect(probe["latency_ms"] is Double || probe["latency_ms"] is Int)
        #expect((probe["consecutive_failures"] as? Int ?? 0) >= 1)
        #expect((probe["error"] as? String)?.contains("500") == true)
        #expect(perAgent["good"]?["status"] as? String == "healthy")
        #expect(try ProcessInspection.eventually {
            ((try daemon.client().get("/supervisor/health").json["agent_health"] as? [String: [String: Any]])?["good"]?["details"] as? [String: Any])?["resources"] is [String: Any]
        })
        try FileManager.default.removeItem(atPath: healthFile)
    }

    @Test func healthCheckFieldsAreValidated() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(EchoAgent.package())
        let badType = try daemon.spawn("x", package: package, ["health_check": ["type": "udp"]])
        #expect(badType.status == 400)
        #expect(badType.json["field"] as? String == "health_check.type")
        let badPath = try daemon.spawn("x", package: package, ["health_check": ["path": "health"]])
        #expect(badPath.json["field"] as? String == "health_check.path")
        let badInterval = try daemon.spawn("x", package: package, ["health_check": ["interval_seconds": 0]])
        #expect(badInterval.json["field"] as? String == "health_check.interval_seconds")
    }
}
