import Foundation
import PARClient
import PARTestKit
import Testing

/// Shared steps of the end-to-end tests: each drives the real `par` binary over HTTP.
extension DaemonHarness {
    /// Spawns and returns the answer; `fields` are added to the minimal body.
    func spawn(_ agentID: String, package: String, _ fields: [String: Any] = [:]) throws -> HTTPAnswer {
        var body: [String: Any] = ["agent_id": agentID, "package_id": "com.example.\(agentID)", "package_path": package, "env_vars": [String: String]()]
        body.merge(fields) { _, new in new }
        return try client().post("/supervisor/spawn", json: body)
    }

    func process(_ processID: String) throws -> [String: Any] {
        try client().get("/supervisor/processes/\(processID)").json
    }

    /// Waits until the process's status satisfies `condition`; returns the last status seen.
    @discardableResult
    func waitFor(_ processID: String, timeout: Double = 15, _ condition: ([String: Any]) -> Bool) throws -> [String: Any] {
        var last: [String: Any] = [:]
        let held = try ProcessInspection.eventually(timeout: timeout) {
            last = try process(processID)
            return condition(last)
        }
        #expect(held, "\(processID) never reached the expected status; last: \(last)")
        return last
    }
}

/// A daemon with one ready echo agent named `echo`.
func echoDaemon(_ arguments: [String] = [], environment: [String: String] = [:]) throws -> DaemonHarness {
    let daemon = try DaemonHarness(extraArguments: arguments)
    let answer = try daemon.spawn("echo", package: try daemon.install(EchoAgent.package()), ["env_vars": environment])
    #expect(answer.status == 200, "\(answer.text)")
    try daemon.waitFor("par-echo", timeout: 20) { state($0) == "running" }
    return daemon
}

func pid(_ status: [String: Any]) -> Int32? {
    (status["pid"] as? NSNumber).map { Int32(truncating: $0) }
}

func state(_ status: [String: Any]) -> String? {
    status["state"] as? String
}

/// A command package whose agent sleeps until told to stop (exec: the script's pid is the agent's).
func sleeperPackage() -> APKGBuilder {
    .commandPackage(script: "echo \"started $PAR_AGENT_ID on $PAR_PORT\"\nexec sleep 1000")
}

/// Runs the `par` binary to the end: its exit status and everything it printed.
func runPar(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    try runProgram(try DaemonHarness.locateBinary(), arguments, environment: environment)
}
