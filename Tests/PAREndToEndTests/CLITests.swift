import Foundation
import PARTestKit
import Synchronization
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

    /// `par` with only the environment to find the daemon: PAR_URL and PAR_TOKEN.
    private func parByURL(_ arguments: [String], daemon: DaemonHarness, extra: [String: String] = [:]) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_URL"] = "http://127.0.0.1:\(daemon.port)"
        environment["PAR_TOKEN"] = daemon.token
        environment.merge(extra) { $1 }
        return try runPar(arguments, environment: environment)
    }

    /// `par ps` under a pseudo-terminal (`script`), where a table is expected.
    private func parOnATerminal(_ arguments: [String], daemon: DaemonHarness) throws -> (status: Int32, output: String) {
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_URL"] = "http://127.0.0.1:\(daemon.port)"
        environment["PAR_TOKEN"] = daemon.token
        environment["NO_COLOR"] = "1"
        let command = ([try DaemonHarness.locateBinary().path] + arguments).joined(separator: " ")
        return try runProgram(URL(fileURLWithPath: "/usr/bin/script"), ["-qec", command, "/dev/null"], environment: environment)
    }

    @Test func psIsATableOnATerminalAndJSONOffIt() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.spawn("table", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-table", timeout: 20) { state($0) == "running" }

        let piped = try parByURL(["ps"], daemon: daemon)
        #expect(piped.status == 0)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(piped.output.utf8)) as? [String: [String: Any]], "JSON off a terminal: \(piped.output.prefix(200))")
        #expect(rows.count == 1)
        #expect(rows["par-table"]?["agent_id"] as? String == "table")

        let table = try parOnATerminal(["ls"], daemon: daemon)
        #expect(table.status == 0)
        let lines = table.output.split(whereSeparator: \.isNewline).map { $0.split(separator: " ").map(String.init) }
        #expect(lines.first == ["ID", "STATE", "PID", "PORT", "UPTIME", "RESTARTS", "CPU", "MEM", "HEALTH"], "\(table.output.prefix(300))")
        #expect(lines.contains { $0.first == "table" && $0.dropFirst().first == "running" }, "\(table.output.prefix(300))")
        #expect(!table.output.contains("\u{1B}["), "no colour with NO_COLOR")

        let wide = try parByURL(["ps", "-o", "wide"], daemon: daemon)
        #expect(wide.output.contains("PACKAGE") && wide.output.contains("LAST EXIT") && wide.output.contains("table "), "\(wide.output.prefix(300))")
        let wrong = try parByURL(["ps", "-o", "yaml"], daemon: daemon)
        #expect(wrong.status != 0)
        #expect(wrong.output.contains("table, wide or json"))
    }

    @Test func theDaemonAndTheTokenAreFoundOrTheMessageSaysWhereItLooked() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        // The token from a data dir named by PAR_DATA_DIR.
        let dataDir = daemon.root.appendingPathComponent("cli-data")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        try daemon.token.write(to: dataDir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_TOKEN"] = nil
        environment["PAR_URL"] = "http://127.0.0.1:\(daemon.port)"
        environment["PAR_DATA_DIR"] = dataDir.path
        let found = try runPar(["ps", "-o", "json"], environment: environment)
        #expect(found.status == 0, "\(found.output)")

        environment["PAR_DATA_DIR"] = daemon.root.appendingPathComponent("nowhere").path
        let missing = try runPar(["ps"], environment: environment)
        #expect(missing.status == 2)
        #expect(missing.output.contains("no management token") && missing.output.contains("nowhere/token"), "\(missing.output)")

        let unreachable = try parByURL(["ps"], daemon: daemon, extra: ["PAR_URL": "http://127.0.0.1:1"])
        #expect(unreachable.status == 2)
        #expect(unreachable.output.contains("cannot reach the daemon at http://127.0.0.1:1"), "\(unreachable.output)")
        // --url wins over PAR_URL.
        let flag = try parByURL(["ps", "--url", "http://127.0.0.1:\(daemon.port)", "-o", "json"], daemon: daemon, extra: ["PAR_URL": "http://127.0.0.1:1"])
        #expect(flag.status == 0, "\(flag.output)")
        let bad = try parByURL(["ps", "--url", "ftp://x"], daemon: daemon)
        #expect(bad.status != 0)
        #expect(bad.output.contains("http://127.0.0.1:8000"), "the message shows the form: \(bad.output)")
    }

    /// With neither flag nor variable, the daemon's own config file says where it listens and
    /// where its token is: `--config`, `PAR_CONFIG`, or `par.yaml` in the current folder.
    @Test func theDaemonsConfigFileSaysWhereItIs() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let work = daemon.root.appendingPathComponent("project")
        let dataDir = work.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        try daemon.token.write(to: dataDir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
        try "host: 127.0.0.1\nport: \(daemon.port)\ndata_dir: state\n".write(to: work.appendingPathComponent("par.yaml"), atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        for name in ["PAR_TOKEN", "PAR_URL", "PAR_DATA_DIR", "PAR_CONFIG"] { environment[name] = nil }
        let par = try DaemonHarness.locateBinary()

        let here = try runProgram(par, ["ps", "-o", "json"], environment: environment, in: work)
        #expect(here.status == 0, "./par.yaml: \(here.output)")
        #expect(here.output.hasPrefix("{"), "JSON off a terminal: \(here.output.prefix(200))")

        // Named from elsewhere; its relative data_dir is the daemon's (from the current folder, as `par serve` reads it).
        try "host: 127.0.0.1\nport: \(daemon.port)\ndata_dir: \(dataDir.path)\n".write(to: work.appendingPathComponent("other.yaml"), atomically: true, encoding: .utf8)
        var named = environment
        named["PAR_CONFIG"] = work.appendingPathComponent("other.yaml").path
        let byVariable = try runProgram(par, ["ps", "-o", "json"], environment: named, in: daemon.root)
        #expect(byVariable.status == 0, "PAR_CONFIG: \(byVariable.output)")
        let byFlag = try runProgram(par, ["ps", "-o", "json", "--config", work.appendingPathComponent("other.yaml").path], environment: environment, in: daemon.root)
        #expect(byFlag.status == 0, "--config: \(byFlag.output)")

        // PAR_URL still wins over the file.
        var overridden = environment
        overridden["PAR_URL"] = "http://127.0.0.1:1"
        let unreachable = try runProgram(par, ["ps"], environment: overridden, in: work)
        #expect(unreachable.status == 2 && unreachable.output.contains("http://127.0.0.1:1"), "\(unreachable.output)")

        // A named file that cannot be read, or is not valid, is said, not skipped.
        let missing = try runProgram(par, ["ps", "--config", "nowhere.yaml"], environment: environment, in: work)
        #expect(missing.status == 2)
        #expect(missing.output.contains("config file (--config)") && missing.output.contains("nowhere.yaml"), "\(missing.output)")
        try "port: [\n".write(to: work.appendingPathComponent("par.yaml"), atomically: true, encoding: .utf8)
        let broken = try runProgram(par, ["ps"], environment: environment, in: work)
        #expect(broken.status == 2)
        #expect(broken.output.contains("./par.yaml"), "\(broken.output)")
    }

    @Test func rmRemovesStoppedAgentsAndRunningOnesOnlyWithForce() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("gone", package: package).status == 200)
        let running = try daemon.waitFor("par-gone", timeout: 20) { state($0) == "running" }
        let agentPid = try #require(pid(running))

        let refused = try parByURL(["rm", "gone"], daemon: daemon)
        #expect(refused.status == 1)
        #expect(refused.output.contains("removal refused") && refused.output.contains("--force"), "\(refused.output)")
        #expect(state(try daemon.process("par-gone")) == "running", "a refused removal changes nothing")

        let forced = try parByURL(["rm", "--force", "gone"], daemon: daemon)
        #expect(forced.status == 0, "\(forced.output)")
        #expect(try daemon.client().get("/supervisor/processes/par-gone").status == 404)
        #expect(try ProcessInspection.eventually { !ProcessInspection.isAlive(agentPid) }, "its process is gone")
        let listed = try parByURL(["ps", "-o", "json"], daemon: daemon)
        #expect(listed.output.trimmingCharacters(in: .whitespacesAndNewlines) == "{}", "\(listed.output.prefix(100))")

        // A stopped agent goes without --force; its name can be spawned again.
        #expect(try daemon.spawn("again", package: package).status == 200)
        _ = try daemon.client().post("/supervisor/stop/par-again")
        #expect(try parByURL(["rm", "par-again"], daemon: daemon).status == 0)
        #expect(try daemon.spawn("again", package: package).status == 200, "the id is free again")
        // The API: a bad force value and an unknown id are refused.
        #expect(try daemon.client().delete("/supervisor/processes/par-again?force=yes").status == 400)
        #expect(try daemon.client().delete("/supervisor/processes/par-nobody").status == 404)
        #expect(try parByURL(["rm", "nobody"], daemon: daemon).status == 1)
    }

    @Test func healthExitStatusTellsAScriptWhetherToTrustTheFleet() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.spawn("fine", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-fine", timeout: 20) { state($0) == "running" }
        #expect(try parByURL(["health", "-q"], daemon: daemon).status == 0)

        let failing = APKGBuilder.commandPackage(name: "gives-up", script: "exit 3")
        #expect(try daemon.spawn("gives-up", package: try daemon.install(failing), ["restart_policy": "on-failure", "max_restarts": 0]).status == 200)
        try daemon.waitFor("par-gives-up", timeout: 20) { state($0) == "failed" }
        let degraded = try parByURL(["health"], daemon: daemon)
        #expect(degraded.status == 1, "\(degraded.output.prefix(200))")
    }

    @Test func logsTakeABareNameAndHumanTimes() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.spawn("talker", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-talker", timeout: 20) { state($0) == "running" }
        #expect(try ProcessInspection.eventually {
            try parByURL(["logs", "talker", "--since", "5m"], daemon: daemon).output.contains("started talker")
        })
        let future = try parByURL(["logs", "talker", "--since", "0s"], daemon: daemon)
        #expect(!future.output.contains("started talker"), "nothing is newer than now")
        let bad = try parByURL(["logs", "talker", "--since", "banana"], daemon: daemon)
        #expect(bad.status == 1)
        #expect(bad.output.contains("since"), "\(bad.output)")
    }

    /// `par logs ID` shows the supervisor's events about the agent among its lines (not with
    /// `--no-events`), and a traceback reads as one block: its frames under its first line.
    @Test func logsShowTheAgentsEventsAndFoldATraceback() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let script = """
        printf 'Traceback (most recent call last):\\n  File "app.py", line 3, in <module>\\n    main()\\nValueError: bad input\\n' >&2
        sleep 0.2
        echo 'next line' >&2
        exec sleep 1000
        """
        #expect(try daemon.spawn("tb", package: try daemon.install(.commandPackage(name: "tb", script: script))).status == 200)
        #expect(try ProcessInspection.eventually(timeout: 20) {
            try parByURL(["logs", "tb"], daemon: daemon).output.contains("next line")
        })
        let shown = try parByURL(["logs", "tb", "--order", "asc"], daemon: daemon)
        #expect(shown.status == 0)
        let lines = shown.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains { $0.contains("supervisor") && $0.contains("[spawned]") }, "its events are shown: \(shown.output)")
        let start = try #require(lines.firstIndex { $0.contains("par-tb") && $0.hasSuffix("Traceback (most recent call last):") }, "\(shown.output)")
        let messageColumn = try #require(lines[start].range(of: "Traceback")).lowerBound.utf16Offset(in: lines[start])
        let body = Array(lines[(start + 1)...].prefix(3))
        #expect(body.map { String($0.dropFirst(messageColumn)) } == ["  File \"app.py\", line 3, in <module>", "    main()", "ValueError: bad input"], "\(shown.output)")
        #expect(body.allSatisfy { $0.prefix(messageColumn).allSatisfy { $0 == " " } }, "frames under the first line, no header")
        let after = try #require(lines.first { $0.hasSuffix("next line") })
        #expect(after.contains("par-tb"), "a line after the traceback has its header again: \(after)")

        let quiet = try parByURL(["logs", "tb", "--no-events"], daemon: daemon)
        #expect(!quiet.output.contains("[spawned]") && quiet.output.contains("next line"), "\(quiet.output)")
        let json = try parByURL(["logs", "tb", "--json"], daemon: daemon)
        #expect(json.output.contains("\"event\" : \"spawned\""), "the JSON carries the events too")
    }

    @Test func spawnTakesEveryFieldAndDescribeReadsThemBack() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "echo \"vars $A $B\"\nexec sleep 1000"))
        let envFile = daemon.root.appendingPathComponent("agent.env")
        try "A=1\nB=from-file\n".write(to: envFile, atomically: true, encoding: .utf8)
        let spawned = try parByURL([
            "spawn", "--agent-id", "full", "--package", package, "--env-file", envFile.path, "--env", "B=2",
            "--restart-policy", "never", "--memory-mb", "64", "--cpu", "0.5", "--nice", "5", "--health", "none",
            "--stop-timeout", "2", "--set", "success_exit_codes=[0,3]",
        ], daemon: daemon)
        #expect(spawned.status == 0, "\(spawned.output.prefix(400))")
        let process = try daemon.waitFor("par-full", timeout: 20) { state($0) == "running" }
        let limits = process["limits"] as? [String: Any] ?? [:]
        #expect((limits["memory_limit_mb"] as? NSNumber)?.intValue == 64)
        #expect((limits["cpu_limit"] as? NSNumber)?.doubleValue == 0.5)
        #expect((limits["nice"] as? NSNumber)?.intValue == 5)
        #expect(process["restart_policy"] as? String == "never")
        #expect((process["health"] as? [String: Any])?["type"] as? String == "none")
        #expect(try ProcessInspection.eventually {
            try parByURL(["logs", "full"], daemon: daemon).output.contains("vars 1 2")
        }, "--env wins over --env-file")

        let described = try parByURL(["describe", "full"], daemon: daemon)
        #expect(described.status == 0)
        for section in ["Agent", "State", "Last exit", "Limits and usage", "Health", "Recent supervisor events"] {
            #expect(described.output.contains(section + "\n"), "section \(section)")
        }
        #expect(described.output.contains("spawned"), "its spawn is among the recent events: \(described.output.suffix(400))")
        #expect(described.output.range(of: #"memory limit \(MB\)\s+64"#, options: .regularExpression) != nil)

        let unknown = try parByURL(["describe", "nobody"], daemon: daemon)
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("unknown process"))
        let badJSON = try parByURL(["spawn", "--agent-id", "x", "--package", package, "--set", "nice=five"], daemon: daemon)
        #expect(badJSON.status != 0)
        #expect(badJSON.output.contains("is not JSON"))

        // par restart changes fields too; null lifts a limit, the rest stay.
        let firstPID = pid(process)
        let restarted = try parByURL(["restart", "full", "--set", "memory_limit_mb=null", "--set", "nice=2"], daemon: daemon)
        #expect(restarted.status == 0, "\(restarted.output.prefix(400))")
        let after = try daemon.waitFor("par-full", timeout: 20) { state($0) == "running" && pid($0) != firstPID }
        let lifted = after["limits"] as? [String: Any] ?? [:]
        #expect(lifted["memory_limit_mb"] == nil || lifted["memory_limit_mb"] is NSNull, "\(lifted)")
        #expect((lifted["cpu_limit"] as? NSNumber)?.doubleValue == 0.5 && (lifted["nice"] as? NSNumber)?.intValue == 2, "\(lifted)")
    }

    /// `par logs -f` outlives a daemon restart: it reconnects with Last-Event-ID and prints
    /// what came meanwhile once, and nothing twice.
    @Test func followReconnectsAfterADaemonRestartWithoutRepeats() throws {
        let first = try DaemonHarness()
        let ticker = APKGBuilder.commandPackage(name: "ticker", script: "i=0\nwhile true; do i=$((i+1)); echo \"tick $i\"; sleep 0.1; done")
        #expect(try first.spawn("ticker", package: try first.install(ticker)).status == 200)
        try first.waitFor("par-ticker", timeout: 20) { state($0) == "running" }

        let follower = Process()
        follower.executableURL = try DaemonHarness.locateBinary()
        follower.arguments = ["logs", "ticker", "-f", "--json", "--limit", "5"]
        var environment = ProcessInfo.processInfo.environment
        environment["PAR_URL"] = "http://127.0.0.1:\(first.port)"
        environment["PAR_TOKEN"] = first.token
        follower.environment = environment
        let pipe = Pipe()
        follower.standardOutput = pipe
        follower.standardError = FileHandle.nullDevice
        let collected = Mutex<[UInt8]>([])
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty { handle.readabilityHandler = nil } else { collected.withLock { $0 += data } }
        }
        try follower.run()
        defer {
            follower.terminate()
            follower.waitUntilExit()
            pipe.fileHandleForReading.readabilityHandler = nil
        }
        func lines() -> [[String: Any]] {
            let text = collected.withLock { String(decoding: $0, as: UTF8.self) }
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        #expect(ProcessInspection.eventually(timeout: 20) { lines().count >= 10 })

        // The daemon restarts on the same port and token; the agent comes back (run 2).
        _ = first.terminate()
        let second = try DaemonHarness(
            extraArguments: ["--port", String(first.port)], environment: ["PAR_TOKEN": first.token], root: first.root, portRange: first.portRange
        )
        defer { second.stop() }
        #expect(ProcessInspection.eventually(timeout: 30) {
            lines().contains { (($0["extra"] as? [String: Any])?["run"] as? NSNumber)?.intValue == 2 }
        }, "lines of the agent's run after the daemon restart arrive")
        let sequences = lines().compactMap { ($0["sequence"] as? NSNumber)?.int64Value }
        #expect(Set(sequences).count == sequences.count, "no line twice")
        #expect(sequences == sequences.sorted(), "in order")
    }

    @Test func topPrintsTheBusiestOnceOffATerminalAndApplyIsReload() throws {
        let daemon = try DaemonHarness(extraArguments: ["--sample-interval", "0.2"])
        defer { daemon.stop() }
        #expect(try daemon.spawn("busy", package: try daemon.install(.commandPackage(name: "busy", script: "while :; do :; done"))).status == 200)
        #expect(try daemon.spawn("idle", package: try daemon.install(sleeperPackage())).status == 200)
        try daemon.waitFor("par-busy", timeout: 20) { ((($0["resources"] as? [String: Any])?["cpu"] as? [String: Any])?["percent"] as? NSNumber)?.doubleValue ?? 0 > 20 }
        let top = try parByURL(["top"], daemon: daemon)
        #expect(top.status == 0)
        let rows = top.output.split(whereSeparator: \.isNewline).map { $0.split(separator: " ").map(String.init) }
        let header = try #require(rows.firstIndex { $0.first == "ID" })
        #expect(rows[header] == ["ID", "STATE", "CPU", "MEM", "RESTARTS", "UPTIME", "HEALTH"])
        #expect(rows.dropFirst(header + 2).first?.first == "busy", "the busiest first: \(top.output.prefix(400))")

        let apply = try parByURL(["apply"], daemon: daemon)
        #expect(apply.status == 1)
        #expect(apply.output.contains("no config file"), "\(apply.output.prefix(200))")
    }
}
