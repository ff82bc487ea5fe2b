import Foundation
import PARClient
import PARTestKit
import Testing

/// Every refusal is a 4xx/5xx with a JSON body `{"error", "detail"}` and changes nothing.
@Suite("Error answers")
struct ErrorResponseTests {
    private func expectError(_ answer: HTTPAnswer, _ status: Int, field: String? = nil, mentions: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
        #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
        #expect(answer.json["error"] is String, "\(answer.text)", sourceLocation: sourceLocation)
        #expect((answer.json["detail"] as? String)?.isEmpty == false, "\(answer.text)", sourceLocation: sourceLocation)
        if let field { #expect(answer.json["field"] as? String == field, "\(answer.text)", sourceLocation: sourceLocation) }
        if let mentions { #expect((answer.json["detail"] as? String)?.contains(mentions) == true, "\(answer.text)", sourceLocation: sourceLocation) }
    }

    private func expectNothingRunning(_ daemon: DaemonHarness, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let status = try daemon.client().get("/supervisor/status").json
        #expect((status["processes"] as? [String: Any])?.isEmpty == true, "\(status)", sourceLocation: sourceLocation)
    }

    @Test func managementAPIRequiresTheToken() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let anonymous = PARAPIClient(port: daemon.port, token: nil)
        let missing = try anonymous.get("/supervisor/status")
        expectError(missing, 401)
        #expect(missing.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        expectError(try daemon.client(token: "wrong").get("/supervisor/status"), 401)
        expectError(try anonymous.post("/supervisor/spawn", json: ["agent_id": "x"]), 401)

        let health = try anonymous.get("/runtime/health")
        #expect(health.status == 200)
        #expect(health.json["status"] as? String == "healthy")
        #expect(health.json["mode"] as? String == "supervisor")
        #expect(health.json["version"] is String)
        #expect(health.json["timestamp"] is String)
    }

    @Test func tokenFileIsCreatedOwnerOnlyWhenNoTokenIsGiven() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_TOKEN"] = ""
        let daemon = try DaemonHarness(environment: ["PAR_TOKEN": ""])
        defer { daemon.stop() }
        let path = daemon.dataDirectory.appendingPathComponent("token").path
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.count >= 32)
        #expect(try daemon.client(token: token).get("/supervisor/status").status == 200)
        #expect(try daemon.client().get("/supervisor/status").status == 401)
    }

    @Test func bodiesMustBeJSONAndSmall() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let client = daemon.client()
        expectError(try client.postRaw("/supervisor/spawn", body: Array("agent_id=x".utf8), contentType: "application/x-www-form-urlencoded"), 415)
        expectError(try client.postRaw("/supervisor/spawn", body: Array("{}".utf8), contentType: "text/plain"), 415)
        let large = Array(repeating: UInt8(ascii: " "), count: (1 << 20) + 10)
        expectError(try client.postRaw("/supervisor/spawn", body: large, contentType: "application/json"), 413)
        expectError(try client.postRaw("/supervisor/spawn", body: Array("{not json".utf8), contentType: "application/json"), 400, field: "body")
        expectError(try client.postRaw("/supervisor/spawn", body: Array("[1,2]".utf8), contentType: "application/json"), 400, field: "body")
        try expectNothingRunning(daemon)
    }

    @Test func invalidFieldsAreNamed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        expectError(try daemon.spawn("Bad_ID", package: package), 400, field: "agent_id")
        expectError(try daemon.spawn("../etc", package: package), 400, field: "agent_id")
        expectError(try daemon.client().post("/supervisor/spawn", json: ["package_path": package]), 400, field: "agent_id")
        expectError(try daemon.client().post("/supervisor/spawn", json: ["agent_id": "a"]), 400, field: "package_path")
        expectError(try daemon.spawn("a", package: "relative/x.apkg"), 400, field: "package_path")
        expectError(try daemon.spawn("a", package: package, ["max_restarts": "abc"]), 400, field: "max_restarts")
        expectError(try daemon.spawn("a", package: package, ["max_restarts": -1]), 400, field: "max_restarts")
        expectError(try daemon.spawn("a", package: package, ["restart_policy": "sometimes"]), 400, field: "restart_policy")
        expectError(try daemon.spawn("a", package: package, ["backoff_multiplier": 0.5]), 400, field: "backoff_multiplier")
        expectError(try daemon.spawn("a", package: package, ["restart_polcy": "always"]), 400, field: "restart_polcy", mentions: "unknown field")
        expectError(try daemon.spawn("a", package: package, ["env_vars": ["PAR_PORT": "1"]]), 400, field: "env_vars.PAR_PORT", mentions: "cannot be overridden")
        expectError(try daemon.spawn("a", package: package, ["env_vars": ["A=B": "1"]]), 400, field: "env_vars.A=B")
        expectError(try daemon.spawn("a", package: package, ["env_vars": ["A": "x\u{0}y"]]), 400, field: "env_vars.A")
        try expectNothingRunning(daemon)
    }

    @Test func unknownProcessesAndRoutesAre404() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        expectError(try daemon.client().post("/supervisor/stop/par-ghost"), 404, mentions: "par-ghost")
        expectError(try daemon.client().post("/supervisor/restart/par-ghost"), 404)
        expectError(try daemon.client().get("/supervisor/processes/par-ghost"), 404)
        expectError(try daemon.client().get("/supervisor/nothing-here"), 404)
    }

    @Test func secondSpawnOfARunningAgentIs409() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let first = try daemon.spawn("dup", package: package)
        #expect(first.status == 200)
        expectError(try daemon.spawn("dup", package: package), 409, mentions: "par-dup")
        let status = try daemon.process("par-dup")
        #expect(pid(status) == (first.json["pid"] as? NSNumber).map { Int32(truncating: $0) })
    }

    @Test func exhaustedPortRangeIs503AndTakenPortsAreSkipped() throws {
        let daemon = try DaemonHarness(agentPorts: 2)
        defer { daemon.stop() }
        // Another program holds the first port of the range: it must be skipped.
        let blocker = try ListeningSocket(port: daemon.portRange.lowerBound)
        defer { blocker.close() }
        let package = try daemon.install(sleeperPackage())
        let first = try daemon.spawn("p1", package: package)
        #expect(first.json["port"] as? Int == daemon.portRange.upperBound)
        expectError(try daemon.spawn("p2", package: package), 503, mentions: "port")
        #expect(try daemon.client().get("/supervisor/processes/par-p2").status == 404)
    }

    @Test func resourceLimitsThatCannotBeEnforcedAreRefused() throws {
        let daemon = try DaemonHarness(extraArguments: ["--cgroup-root", "none"])
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        expectError(try daemon.spawn("limited", package: package, ["memory_limit_mb": 256]), 422, mentions: "enforce_limits")
        try expectNothingRunning(daemon)
        let relaxed = try daemon.spawn("limited", package: package, ["memory_limit_mb": 256, "enforce_limits": false])
        #expect(relaxed.status == 200)
        let process = try #require(relaxed.json["process"] as? [String: Any])
        #expect(process["limits_enforced"] as? Bool == false)
        #expect((process["limits_reason"] as? String)?.contains("disabled") == true)
        let health = try daemon.client().get("/runtime/health").json
        #expect((health["limits"] as? [String: Any])?["backend"] as? String == "none")
    }
}

/// A listening socket held by the test, standing in for another program on the machine.
final class ListeningSocket {
    private var fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        // Connections to an agent that had this port in an earlier run may still linger in
        // TIME_WAIT; they do not make the port taken, and must not fail the bind.
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }
}

#if canImport(Glibc)
import Glibc
#endif
