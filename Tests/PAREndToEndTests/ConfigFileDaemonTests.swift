import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `par serve --config`: agents declared in a file, owned by it, reloaded by difference.
@Suite("Config file, end to end")
struct ConfigFileDaemonTests {
    /// A root folder with a package and a config file naming it relatively.
    private struct Setup {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        var config: URL { root.appendingPathComponent("par.yaml") }
        var packages: URL { root.appendingPathComponent("packages") }

        init() throws {
            try FileManager.default.createDirectory(at: packages, withIntermediateDirectories: true)
            try sleeperPackage().write(to: packages.appendingPathComponent("sleeper.apkg"))
        }

        func write(_ agents: String) throws {
            try "log_level: info\nagents:\n\(agents)".write(to: config, atomically: true, encoding: .utf8)
        }

        func daemon(environment: [String: String] = [:]) throws -> DaemonHarness {
            try DaemonHarness(extraArguments: ["--config", config.path], environment: environment, root: root)
        }
    }

    private func agent(_ id: String, _ extra: String = "") -> String {
        "  \(id):\n    package_path: packages/sleeper.apkg\n\(extra.isEmpty ? "" : "    \(extra)\n")"
    }

    @Test func agentsOfTheFileRunAndBelongToIt() throws {
        let setup = try Setup()
        try setup.write(agent("alpha", "env_vars: {SECRET: \"${CONFIG_TEST_SECRET}\", PLAIN: \"${UNSET_ONE:-fallback}\"}") + agent("beta"))
        let daemon = try setup.daemon(environment: ["CONFIG_TEST_SECRET": "s3cret"])
        defer { daemon.stop() }
        let alpha = try daemon.waitFor("par-alpha") { state($0) == "running" }
        try daemon.waitFor("par-beta") { state($0) == "running" }
        let environ = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(try #require(pid(alpha)))/environ")), as: UTF8.self)
        #expect(environ.split(separator: "\0").contains("SECRET=s3cret"), "${VAR} comes from the daemon's environment")
        #expect(environ.split(separator: "\0").contains("PLAIN=fallback"))

        let clash = try daemon.spawn("alpha", package: setup.packages.appendingPathComponent("sleeper.apkg").path)
        #expect(clash.status == 409)
        #expect(clash.json["field"] as? String == "agent_id")
        #expect((clash.json["detail"] as? String)?.contains(setup.config.path) == true, "the answer names the file: \(clash.text)")
        let respec = try daemon.client().post("/supervisor/restart/par-alpha", json: ["max_restarts": 9])
        #expect(respec.status == 409, "a file's agent is changed in the file")
        #expect(try daemon.client().post("/supervisor/stop/par-alpha").status == 200)
        #expect(try daemon.client().post("/supervisor/restart/par-alpha").status == 200)
    }

    @Test func reloadAppliesOnlyTheDifference() throws {
        let setup = try Setup()
        try setup.write(agent("same") + agent("edited", "env_vars: {V: \"1\"}") + agent("dropped"))
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        var pids: [String: Int32] = [:]
        for id in ["same", "edited", "dropped"] {
            pids[id] = pid(try daemon.waitFor("par-\(id)") { state($0) == "running" })
        }
        try setup.write(agent("same") + agent("edited", "env_vars: {V: \"2\"}") + agent("added"))
        let answer = try daemon.client().post("/supervisor/reload")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["added"] as? [String] == ["added"])
        #expect(answer.json["removed"] as? [String] == ["dropped"])
        #expect(answer.json["changed"] as? [String] == ["edited"])
        #expect(answer.json["unchanged"] as? [String] == ["same"])
        #expect(pid(try daemon.process("par-same")) == pids["same"], "an unchanged agent keeps its process")
        let edited = try daemon.waitFor("par-edited") { state($0) == "running" }
        #expect(pid(edited) != pids["edited"])
        try daemon.waitFor("par-added") { state($0) == "running" }
        #expect(try daemon.client().get("/supervisor/processes/par-dropped").status == 404, "a removed agent is forgotten")
        #expect(ProcessInspection.eventually { !ProcessInspection.isAlive(pids["dropped"]!) })

        // A file with errors changes nothing, and says what is wrong where.
        try setup.write(agent("same") + "  broken:\n    package_path: packages/sleeper.apkg\n    max_restarts: lots\n")
        let refused = try daemon.client().post("/supervisor/reload")
        #expect(refused.status == 422)
        let errors = refused.json["errors"] as? [String] ?? []
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("\(setup.config.path):7: agents.broken.max_restarts") == true, "\(errors)")
        #expect(try daemon.client().get("/supervisor/processes/par-added").status == 200)
        #expect(pid(try daemon.process("par-same")) == pids["same"])

        // A package that cannot be read fails the whole reload too.
        try setup.write(agent("same") + "  ghost:\n    package_path: packages/missing.apkg\n")
        let missing = try daemon.client().post("/supervisor/reload")
        #expect(missing.status == 422, "\(missing.text)")
        #expect(try daemon.client().get("/supervisor/processes/par-added").status == 200)
    }

    @Test func dependenciesInTheFileStartInOrderAndACycleIsRefusedByReload() throws {
        let setup = try Setup()
        // Declared before what it depends on: the order in the file does not matter.
        try setup.write(agent("web", "depends_on: [{agent: api, condition: healthy}]") + agent("api", "depends_on: [db]") + agent("db"))
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        let web = try daemon.waitFor("par-web") { state($0) == "running" }
        #expect((web["depends_on"] as? [[String: Any]])?.first?["condition"] as? String == "healthy")
        for id in ["api", "db"] { try daemon.waitFor("par-\(id)") { state($0) == "running" } }

        try setup.write(agent("web", "depends_on: [api]") + agent("api", "depends_on: [db]") + agent("db", "depends_on: [web]"))
        let refused = try daemon.client().post("/supervisor/reload")
        #expect(refused.status == 422, "\(refused.text)")
        let errors = refused.json["errors"] as? [String] ?? []
        #expect(errors.first?.contains("cycle") == true, "\(errors)")
        #expect((try daemon.process("par-db")["depends_on"] as? [Any])?.isEmpty == true, "nothing changed")

        try setup.write(agent("web", "depends_on: [ghost]"))
        let unknown = try daemon.client().post("/supervisor/reload")
        #expect(unknown.status == 422, "\(unknown.text)")
        #expect((unknown.json["errors"] as? [String])?.first?.contains("ghost") == true, "\(unknown.text)")
    }

    @Test func agentsAReloadDropsStopDependantsFirst() throws {
        let setup = try Setup()
        let record = setup.root.appendingPathComponent("stop-order")
        FileManager.default.createFile(atPath: record.path, contents: nil)
        chmod(record.path, 0o666)
        try APKGBuilder.commandPackage(script: """
        trap 'echo "$PAR_AGENT_ID" >> \(record.path); sleep 0.3; exit 0' TERM
        while :; do sleep 0.05; done
        """).write(to: setup.packages.appendingPathComponent("noting.apkg"))
        func noting(_ id: String, _ extra: String = "") -> String {
            "  \(id):\n    package_path: packages/noting.apkg\n\(extra.isEmpty ? "" : "    \(extra)\n")"
        }
        try setup.write(noting("db") + noting("api", "depends_on: [db]") + noting("web", "depends_on: [api]") + agent("other"))
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        for id in ["db", "api", "web"] { try daemon.waitFor("par-\(id)") { state($0) == "running" } }
        try setup.write(agent("other"))
        let answer = try daemon.client().post("/supervisor/reload")
        #expect(answer.status == 200, "\(answer.text)")
        let order = (try String(contentsOf: record, encoding: .utf8)).split(separator: "\n").map(String.init)
        #expect(order == ["web", "api", "db"], "stop order: \(order)")
    }

    @Test func aReloadWithTheRollingStrategyReplacesAChangedAgentWithoutDowntime() throws {
        let setup = try Setup()
        try FastAgent.package().write(to: setup.packages.appendingPathComponent("fast.apkg"))
        func write(_ value: String) throws {
            try "reload_strategy: rolling\nagents:\n  fast:\n    package_path: packages/fast.apkg\n    env_vars: {V: \"\(value)\"}\n".write(to: setup.config, atomically: true, encoding: .utf8)
        }
        try write("1")
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        let before = try daemon.waitFor("par-fast") { state($0) == "running" }
        let load = RollingRestartTests.Load(port: daemon.port, token: daemon.token, path: "/agents/fast/")
        Thread.sleep(forTimeInterval: 0.3)
        try write("2")
        let answer = try daemon.client().post("/supervisor/reload")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["changed"] as? [String] == ["fast"], "\(answer.text)")
        Thread.sleep(forTimeInterval: 0.3)
        let result = load.stop()
        let failures = result.bad.count
        #expect(failures == 0, "\(failures) failed requests, first: \(result.bad.prefix(3))")
        let after = try daemon.process("par-fast")
        #expect(pid(after) != pid(before))
        #expect(after["run"] as? Int == 2)
        let environ = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(try #require(pid(after)))/environ")), as: UTF8.self)
        #expect(environ.split(separator: "\0").contains("V=2"))
    }

    @Test func aPackageRebuiltAtTheSamePathIsAChange() throws {
        let setup = try Setup()
        try setup.write(agent("rebuilt") + agent("other"))
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        let before = pid(try daemon.waitFor("par-rebuilt") { state($0) == "running" })
        let other = pid(try daemon.waitFor("par-other") { state($0) == "running" })
        #expect(try daemon.client().post("/supervisor/reload").json["unchanged"] as? [String] == ["other", "rebuilt"])
        // New bytes under the same name (as `pixell build` would write them): a change.
        try APKGBuilder.commandPackage(script: "echo v2\nexec sleep 1000").write(to: setup.packages.appendingPathComponent("sleeper.apkg"))
        let answer = try daemon.client().post("/supervisor/reload")
        #expect(answer.json["changed"] as? [String] == ["other", "rebuilt"], "both name the rebuilt file: \(answer.text)")
        let after = try daemon.waitFor("par-rebuilt") { state($0) == "running" && pid($0) != before }
        #expect(pid(after) != before)
        #expect(pid(try daemon.process("par-other")) != other)
    }

    @Test func sighupAndTheCLIReloadToo() throws {
        let setup = try Setup()
        try setup.write(agent("first"))
        let daemon = try setup.daemon()
        defer { daemon.stop() }
        try daemon.waitFor("par-first") { state($0) == "running" }
        try setup.write(agent("first") + agent("second"))
        kill(daemon.process.processIdentifier, SIGHUP)
        try daemon.waitFor("par-second") { state($0) == "running" }

        try setup.write(agent("first") + agent("second") + agent("third"))
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_TOKEN"] = daemon.token
        let cli = try runPar(["reload", "--port", String(daemon.port)], environment: environment)
        #expect(cli.status == 0, "\(cli.output)")
        #expect(cli.output.contains("\"third\""))
        try daemon.waitFor("par-third") { state($0) == "running" }
    }

    @Test func reloadWithoutAFileIsAClearConflict() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.client().post("/supervisor/reload")
        #expect(answer.status == 409)
        #expect((answer.json["detail"] as? String)?.contains("--config") == true)
    }

    @Test func checkConfigListsEveryErrorWithItsLineAndStartsNothing() throws {
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(at: setup.root) }
        try """
            port_range: 9000
            agents:
              fine:
                package_path: packages/sleeper.apkg
              bad-limit:
                package_path: packages/sleeper.apkg
                memory_limit_mb: 1
              typo:
                package_path: packages/sleeper.apkg
                restart_polcy: always
            """.write(to: setup.config, atomically: true, encoding: .utf8)
        let invalid = try runPar(["serve", "--check-config", "--config", setup.config.path])
        #expect(invalid.status != 0)
        #expect(invalid.output.contains("\(setup.config.path):7: agents.bad-limit.memory_limit_mb"), "\(invalid.output)")
        #expect(invalid.output.contains("agents.typo.restart_polcy"), "\(invalid.output)")

        try """
            agents:
              fine:
                package_path: packages/sleeper.apkg
              lost:
                package_path: packages/nowhere.apkg
            """.write(to: setup.config, atomically: true, encoding: .utf8)
        let missing = try runPar(["serve", "--check-config", "--config", setup.config.path, "--package-dir", setup.root.path])
        #expect(missing.status != 0)
        #expect(missing.output.contains("agents.lost.package_path"), "\(missing.output)")

        try "agents:\n\(agent("fine"))".write(to: setup.config, atomically: true, encoding: .utf8)
        let valid = try runPar(["serve", "--check-config", "--config", setup.config.path, "--package-dir", setup.root.path, "--data-dir", setup.root.appendingPathComponent("data").path])
        #expect(valid.status == 0, "\(valid.output)")
        #expect(!FileManager.default.fileExists(atPath: setup.root.appendingPathComponent("data").path), "a check creates no data dir")
    }

    @Test func aStoppedFileAgentStaysStoppedAcrossARestartOfTheDaemon() throws {
        let setup = try Setup()
        try setup.write(agent("resting") + agent("busy"))
        let first = try setup.daemon()
        try first.waitFor("par-resting") { state($0) == "running" }
        #expect(try first.client().post("/supervisor/stop/par-resting").status == 200)
        first.keepFiles = true
        #expect(first.terminate() == 0)

        let second = try DaemonHarness(extraArguments: ["--config", setup.config.path], root: setup.root, portRange: first.portRange)
        defer { second.stop() }
        try second.waitFor("par-busy") { state($0) == "running" }
        #expect(state(try second.process("par-resting")) == "stopped")
    }
}
