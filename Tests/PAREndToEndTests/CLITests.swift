import Foundation
import PARTestKit
import Testing

/// The `par` verbs against a running daemon, as a user would type them.
@Suite("par CLI")
struct CLITests {
    private func par(_ arguments: [String], daemon: DaemonHarness) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_TOKEN"] = daemon.token
        return try runPar(arguments + ["--port", String(daemon.port)], environment: environment)
    }

    @Test func spawnStatusHealthStopAndLogsThroughTheCLI() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())

        let spawned = try par(["spawn", "--agent-id", "cli", "--package", package, "--env", "A=1"], daemon: daemon)
        #expect(spawned.status == 0, "\(spawned.output)")
        #expect(spawned.output.contains("\"process_id\" : \"par-cli\""))

        let status = try par(["status"], daemon: daemon)
        #expect(status.status == 0)
        #expect(status.output.contains("\"par-cli\""))

        let health = try par(["health"], daemon: daemon)
        #expect(health.output.contains("\"healthy_agents\" : 1"), "\(health.output)")

        let logs = try par(["logs", "--process-id", "par-cli"], daemon: daemon)
        #expect(logs.output.contains("started cli"), "\(logs.output)")

        let stopped = try par(["stop", "par-cli", "--timeout", "1"], daemon: daemon)
        #expect(stopped.status == 0)
        #expect(stopped.output.contains("\"state\" : \"stopped\""))

        let missing = try par(["stop", "par-nobody"], daemon: daemon)
        #expect(missing.status != 0, "a refused request fails the command")
        #expect(missing.output.contains("unknown process"))
    }
}
