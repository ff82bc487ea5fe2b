import Foundation
import PARClient
import PARTestKit
import Testing

/// Cases found by review: each pins a hole that is now closed.
@Suite("Hardening")
struct HardeningTests {
    /// The control plane wins under load: where the kernel groups by session, the daemon's
    /// group gets nice -10 (each agent's own session stays at 0). Where the daemon's session
    /// has no group (the kernel's default one, as CI runners start programs here), each
    /// agent's group gets nice 10 instead. A nice out of range is refused.
    @Test(.enabled(if: getuid() == 0 && (try? String(contentsOfFile: "/proc/sys/kernel/sched_autogroup_enabled", encoding: .utf8))?.hasPrefix("1") == true, "needs root and the kernel's autogroups"))
    func theDaemonsSchedulingGroupOutweighsAnAgents() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let group = try String(contentsOfFile: "/proc/\(daemon.process.processIdentifier)/autogroup", encoding: .utf8)
        #expect(try daemon.spawn("busy", package: try daemon.install(sleeperPackage())).status == 200)
        let running = try daemon.waitFor("par-busy") { state($0) == "running" }
        let agentPID = try #require(pid(running))
        let agentGroup = try String(contentsOfFile: "/proc/\(agentPID)/autogroup", encoding: .utf8)
        if group.isEmpty {
            #expect(agentGroup.hasSuffix(" nice 10\n"), "\(agentGroup)")
            #expect(daemon.log.contains("gets nice 10 instead"), "\(daemon.log)")
        } else {
            #expect(group.hasSuffix(" nice -10\n"), "\(group)")
            #expect(agentGroup.hasSuffix(" nice 0\n") && agentGroup.split(separator: " ").first != group.split(separator: " ").first, "\(agentGroup)")
        }
        let refused = try runPar(["serve", "--control-plane-nice=-30", "--port", "0", "--data-dir", daemon.root.appendingPathComponent("other").path])
        #expect(refused.status != 0 && refused.output.contains("--control-plane-nice must be from -20 to 19"), "\(refused.output)")
    }

    @Test func extraSlashesDoNotBypassTheToken() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let anonymous = HTTPConnection(port: daemon.port)
        for path in ["//supervisor/status", "///supervisor/status", "/supervisor//status", "//agents/x/y"] {
            let answer = try anonymous.request("GET", path)
            #expect(answer.status == 400, "\(path): \(answer.status) \(answer.text)")
        }
        let spawn = try anonymous.request("POST", "//supervisor/spawn", headers: ["Content-Type": "application/json"], body: Array("{}".utf8))
        #expect(spawn.status == 400)
        // Anything but the health check and the proxy needs the token, known route or not.
        #expect(try anonymous.request("GET", "/anything").status == 401)
        #expect(try anonymous.request("GET", "/runtime/health").status == 200)
    }

    /// A known path asked with a method it does not take is 405 with `Allow` and a body
    /// naming what it takes; an unknown path stays 404; the token is still asked first.
    @Test func aWrongMethodOnAKnownPathIsMethodNotAllowed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let connection = HTTPConnection(port: daemon.port)
        let auth = ["Authorization": "Bearer \(daemon.token)"]
        for (method, path, allow) in [
            ("DELETE", "/supervisor/status", "GET"),
            ("PUT", "/supervisor/processes/par-nobody", "DELETE, GET"),
            ("GET", "/supervisor/spawn", "POST"),
            ("POST", "/supervisor/logs/ws", "GET"),
            ("PATCH", "/runtime/health", "GET, HEAD"),
        ] {
            let answer = try connection.request(method, path, headers: auth)
            #expect(answer.status == 405, "\(method) \(path): \(answer.status) \(answer.text)")
            #expect(answer.headers["allow"] == allow, "\(method) \(path): \(answer.headers)")
            #expect(answer.json["error"] as? String == "method not allowed")
            #expect((answer.json["detail"] as? String)?.contains("takes \(allow)") == true, "\(answer.text)")
        }
        #expect(try connection.request("PUT", "/supervisor/nothing", headers: auth).status == 404)
        #expect(try connection.request("GET", "/supervisor/processes/par-nobody", headers: auth).status == 404, "a route's own 404 stays")
        #expect(try connection.request("DELETE", "/supervisor/status").status == 401)
        // HEAD where health checkers use it: no token, no body, the GET's length.
        let head = try HTTPConnection(port: daemon.port).request("HEAD", "/runtime/health")
        #expect(head.status == 200 && head.body.isEmpty && (Int(head.headers["content-length"] ?? "") ?? 0) > 0, "\(head)")
    }

    @Test func agentThatCrashedForGoodNoLongerCountsAsLive() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-agents", "1"])
        defer { daemon.stop() }
        let crasher = try daemon.install(.commandPackage(script: "exit 2"))
        #expect(try daemon.spawn("gone", package: crasher, ["restart_policy": "never"]).status == 200)
        try daemon.waitFor("par-gone") { state($0) == "crashed" }
        // Neither the quota nor a second spawn of the same id is blocked by it.
        #expect(try daemon.spawn("other", package: try daemon.install(sleeperPackage())).status == 200)
        #expect(try daemon.client().post("/supervisor/stop/par-other").status == 200)
        let again = try daemon.spawn("gone", package: crasher, ["restart_policy": "never"])
        #expect(again.status == 200, "\(again.text)")
        let health = try daemon.client().get("/supervisor/health").json
        #expect(health["total_agents"] as? Int ?? -1 <= 1)
    }

    @Test func descendantThatKeepsWritingDoesNotHoldBackTheExit() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let neighbour = try daemon.spawn("calm", package: try daemon.install(sleeperPackage()))
        #expect(neighbour.status == 200)
        let noisy = try daemon.install(.commandPackage(script: "yes &\nsleep 0.2\nexit 1"))
        #expect(try daemon.spawn("noisy", package: noisy, ["restart_policy": "never"]).status == 200)
        try daemon.waitFor("par-noisy", timeout: 20) { state($0) == "crashed" }
        let calm = try daemon.spawn("calm2", package: try daemon.install(sleeperPackage()))
        #expect(calm.status == 200, "the daemon still spawns and answers")
        #expect(try daemon.client().post("/supervisor/stop/par-calm").json["state"] as? String == "stopped")
    }

    @Test func healthProbeWhoseBodyNeverArrivesCountsAsFailed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("stall", package: try daemon.install(EchoAgent.package()), [
            "restart_policy": "never",
            "health_check": ["path": "/stall", "timeout_seconds": 0.3, "start_timeout_seconds": 2],
        ])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-stall", timeout: 20) { state($0) == "crashed" }
        #expect((status["last_exit"] as? [String: Any])?["reason"] as? String == "start_timeout")
        #expect((status["error"] as? String)?.contains("no complete answer") == true, "\(status["error"] ?? "")")
    }

    @Test func missingProgramIsThePackagesFault() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(APKGBuilder(items: [.file(path: "agent.yaml", contents: "name: m\ncommand: [\"no-such-program-anywhere\"]\nhealth: {type: none}")]))
        let answer = try daemon.spawn("missing", package: package)
        #expect(answer.status == 422, "\(answer.text)")
        #expect((answer.json["detail"] as? String)?.contains("no-such-program-anywhere") == true)
    }
}
