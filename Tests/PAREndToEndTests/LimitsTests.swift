import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Whether this machine lets the test process create cgroups (the daemon then can too).
enum CgroupAvailability {
    static let writable: Bool = {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return false }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains("memory") else { continue }
            let probe = "/sys/fs/cgroup/memory" + (parts[2] == "/" ? "" : String(parts[2])) + "/par-test-probe-\(getpid())"
            guard mkdir(probe, 0o755) == 0 else { return false }
            rmdir(probe)
            return true
        }
        if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers"),
           let controllers = try? String(contentsOfFile: "/sys/fs/cgroup/cgroup.controllers", encoding: .utf8) {
            return ["memory", "cpu", "pids"].allSatisfy { controllers.contains($0) } && access("/sys/fs/cgroup", W_OK) == 0
        }
        return false
    }()
}

@Suite("Resource limits against the real kernel", .enabled(if: CgroupAvailability.writable, "needs writable cgroups"))
struct LimitsTests {
    @Test func agentOverItsMemoryLimitIsOOMKilledAndNothingElseIs() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let neighbour = try daemon.spawn("neighbour", package: try daemon.install(sleeperPackage()))
        let neighbourPID = (neighbour.json["pid"] as? NSNumber)?.int32Value
        let hog = try daemon.install(.commandPackage(script: """
        exec python3 -c '
        import time
        chunks = []
        while True:
            chunks.append(bytearray(8 << 20))
            time.sleep(0.005)
        '
        """))
        let answer = try daemon.spawn("hog", package: hog, ["memory_limit_mb": 64, "restart_policy": "never"])
        #expect(answer.status == 200, "\(answer.text)")

        let status = try daemon.waitFor("par-hog", timeout: 30) { state($0) == "crashed" }
        let exit = try #require(status["last_exit"] as? [String: Any])
        #expect(exit["reason"] as? String == "oom_killed")
        #expect(exit["signal"] as? Int == 9)
        let events = try daemon.client().get("/supervisor/logs?process_id=supervisor&level=CRITICAL").json
        #expect((events["logs"] as? [[String: Any]] ?? []).contains { ($0["message"] as? String)?.contains("oom_killed") == true })

        let other = try daemon.process("par-neighbour")
        #expect(state(other) == "running")
        #expect(pid(other) == neighbourPID)
        #expect(try daemon.client().get("/runtime/health").status == 200)
    }

    /// A restart that gives a limit as `null` lifts it (the kernel's file says so) and
    /// keeps the limits it does not name.
    @Test func aRestartWithNullLiftsAMemoryLimit() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("capped", package: try daemon.install(sleeperPackage()), ["memory_limit_mb": 64, "cpu_limit": 0.5])
        #expect(answer.status == 200, "\(answer.text)")
        let before = try daemon.waitFor("par-capped") { state($0) == "running" }
        func memoryLimit(of pid: Int32) throws -> String {
            let membership = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).split(separator: "\n")
            if let v1 = membership.first(where: { $0.split(separator: ":")[1].split(separator: ",").contains("memory") }) {
                let path = v1.split(separator: ":", maxSplits: 2)[2]
                return try String(contentsOfFile: "/sys/fs/cgroup/memory\(path)/memory.limit_in_bytes", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let path = try #require(membership.first { $0.hasPrefix("0::") }).dropFirst(3)
            return try String(contentsOfFile: "/sys/fs/cgroup\(path)/memory.max", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let firstPID = try #require(pid(before))
        #expect(try memoryLimit(of: firstPID) == String(64 << 20))
        let restart = try daemon.client().post("/supervisor/restart/par-capped", json: ["memory_limit_mb": NSNull()])
        #expect(restart.status == 200, "\(restart.text)")
        let after = try daemon.waitFor("par-capped") { state($0) == "running" && pid($0) != firstPID }
        let limits = try #require(after["limits"] as? [String: Any])
        #expect(limits["memory_limit_mb"] is NSNull || limits["memory_limit_mb"] == nil, "\(limits)")
        #expect((limits["cpu_limit"] as? NSNumber)?.doubleValue == 0.5, "\(limits)")
        let lifted = try memoryLimit(of: try #require(pid(after)))
        #expect(lifted == "max" || (UInt64(lifted) ?? 0) >= 1 << 62, "\(lifted)")
    }

    @Test func cpuLimitHoldsForAFourProcessBurner() throws {
        let daemon = try DaemonHarness(extraArguments: ["--sample-interval", "0.25"])
        defer { daemon.stop() }
        let burner = try daemon.install(.commandPackage(script: "for i in 1 2 3 4; do (while :; do :; done) & done\nwait"))
        let answer = try daemon.spawn("burner", package: burner, ["cpu_limit": 0.5])
        #expect(answer.status == 200, "\(answer.text)")

        func cgroupFigures() throws -> (cpu: Double, at: Date, throttled: Int)? {
            guard let resources = try daemon.process("par-burner")["resources"] as? [String: Any],
                  let cgroup = resources["cgroup"] as? [String: Any],
                  let cpu = cgroup["cpu_usage_seconds"] as? Double,
                  let at = (resources["sampled_at"] as? String).flatMap({ try? Date($0, strategy: .iso8601) })
            else { return nil }
            return (cpu, at, cgroup["throttled_periods"] as? Int ?? 0)
        }
        var first: (cpu: Double, at: Date, throttled: Int)?
        #expect(try ProcessInspection.eventually { first = try cgroupFigures(); return first != nil })
        Thread.sleep(forTimeInterval: 3)
        let second = try #require(try cgroupFigures())
        let start = try #require(first)
        let cores = (second.cpu - start.cpu) / second.at.timeIntervalSince(start.at)
        // Four busy processes would take both cores; the limit holds them near half of one.
        #expect(cores < 0.6, "used \(cores) cores with cpu_limit 0.5")
        #expect(cores > 0.2, "used \(cores) cores: the burner should run up to its limit")
        #expect(second.throttled > 0)
        let limits = try #require(try daemon.process("par-burner")["limits"] as? [String: Any])
        #expect(limits["cpu_limit"] as? Double == 0.5)
    }

    @Test func forkBombCannotPassItsPidsLimit() throws {
        let daemon = try DaemonHarness(extraArguments: ["--sample-interval", "0.25"])
        defer { daemon.stop() }
        let marker = UUID().uuidString
        let bomb = try daemon.install(.commandPackage(script: """
        exec python3 -c '
        import os, time
        forked = 0
        for _ in range(100):
            try:
                child = os.fork()
            except OSError:
                continue
            if child == 0:
                time.sleep(1000)
                os._exit(0)
            forked += 1
        print("forked", forked, flush=True)
        time.sleep(1000)
        '
        """))
        let answer = try daemon.spawn("bomb", package: bomb, ["pids_limit": 32, "env_vars": ["MARKER": marker]])
        #expect(answer.status == 200, "\(answer.text)")
        #expect(ProcessInspection.eventually(timeout: 20) {
            (try? daemon.client().get("/supervisor/logs?process_id=par-bomb").text.contains("forked")) == true
        })
        let processes = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        #expect(processes.count <= 32, "\(processes.count) processes")
        #expect(processes.count >= 20, "the bomb should fill its limit, got \(processes.count)")
        let line = try daemon.client().get("/supervisor/logs?process_id=par-bomb").json["logs"] as? [[String: Any]] ?? []
        let forked = line.compactMap { ($0["message"] as? String).flatMap { $0.hasPrefix("forked ") ? Int($0.dropFirst(7)) : nil } }.first
        #expect(forked.map { $0 < 32 } == true, "forked \(String(describing: forked)) children under pids_limit 32")
        let figures = try daemon.waitFor("par-bomb") { (($0["resources"] as? [String: Any])?["cgroup"] as? [String: Any])?["pids_current"] != nil }
        let cgroup = try #require((figures["resources"] as? [String: Any])?["cgroup"] as? [String: Any])
        #expect((cgroup["pids_current"] as? Int ?? 99) <= 32)
        #expect(cgroup["pids_limit"] as? Int == 32)
    }

    @Test func childForkedInTheFirstMomentIsInsideTheAgentsCgroup() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "sleep 1000 &\necho \"child $!\"\nexec sleep 1000"))
        let answer = try daemon.spawn("early", package: package, ["memory_limit_mb": 128, "nice": 7])
        #expect(answer.status == 200, "\(answer.text)")
        let process = try #require(answer.json["process"] as? [String: Any])
        let cgroupPath = try #require(process["cgroup"] as? String)
        let agentPID = try #require(pid(process))

        var child: Int32?
        #expect(ProcessInspection.eventually {
            let logs = (try? daemon.client().get("/supervisor/logs?process_id=par-early").json["logs"] as? [[String: Any]]) ?? []
            child = logs.compactMap { ($0["message"] as? String).flatMap { $0.hasPrefix("child ") ? Int32($0.dropFirst(6)) : nil } }.first
            return child != nil
        })
        let childPID = try #require(child)
        let members = try String(contentsOfFile: cgroupPath + "/cgroup.procs", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(members.contains(agentPID))
        #expect(members.contains(childPID))
        let stat = try String(contentsOfFile: "/proc/\(agentPID)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        #expect(fields[16] == "7", "nice of the agent is \(fields[16])")
    }

    @Test func stoppedAgentLeavesNoCgroupBehind() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let answer = try daemon.spawn("tidy", package: try daemon.install(sleeperPackage()), ["memory_limit_mb": 64, "cpu_limit": 1])
        let cgroupPath = try #require((answer.json["process"] as? [String: Any])?["cgroup"] as? String)
        #expect(FileManager.default.fileExists(atPath: cgroupPath))
        #expect(try daemon.client().post("/supervisor/stop/par-tidy").status == 200)
        #expect(!FileManager.default.fileExists(atPath: cgroupPath))
        let instance = URL(fileURLWithPath: cgroupPath).deletingLastPathComponent().path
        #expect(daemon.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: instance), "the daemon removes its own cgroup folder on exit")
    }

    @Test func cgroupsLeftByAKilledDaemonAreCleanedByTheNextOne() throws {
        let first = try DaemonHarness()
        let marker = UUID().uuidString
        let answer = try first.spawn("left", package: try first.install(sleeperPackage()), ["memory_limit_mb": 64, "env_vars": ["MARKER": marker]])
        let cgroupPath = try #require((answer.json["process"] as? [String: Any])?["cgroup"] as? String)
        first.crash()
        #expect(FileManager.default.fileExists(atPath: cgroupPath))

        let old = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        let second = try DaemonHarness(root: first.root)
        defer { second.stop() }
        // The agent comes back in a fresh cgroup at the same place; the old process is gone.
        let now = ProcessInspection.processes(withEnvironment: "MARKER", value: marker)
        #expect(now.count == 1 && Set(now).isDisjoint(with: old))
        let procs = try String(contentsOfFile: cgroupPath + "/cgroup.procs", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(procs == now)
        #expect(try second.client().post("/supervisor/stop/par-left").status == 200)
        #expect(ProcessInspection.eventually { !FileManager.default.fileExists(atPath: cgroupPath) })
    }
}

/// What needs no cgroups: quotas (they count what agents ask for) and validation.
@Suite("Limits: quotas and validation, with or without cgroups")
struct LimitRulesTests {
    /// A restart whose spec a launch would refuse (`null` lifting a memory limit under a
    /// memory quota, or asking over it) is refused before the running agent is touched:
    /// same pid, same limit, same stored spec after a daemon restart.
    @Test func aRestartOverAQuotaChangesNothing() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-total-memory-mb", "100", "--cgroup-root", "none"])
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("kept", package: package, ["memory_limit_mb": 64, "enforce_limits": false]).status == 200)
        let running = try daemon.waitFor("par-kept") { state($0) == "running" }
        for change in [["memory_limit_mb": NSNull()], ["memory_limit_mb": 200]] as [[String: Any]] {
            let refused = try daemon.client().post("/supervisor/restart/par-kept", json: change)
            #expect(refused.status == 409 && refused.json["field"] as? String == "max_total_memory_mb", "\(refused.text)")
            let after = try daemon.process("par-kept")
            #expect(state(after) == "running" && pid(after) == pid(running), "\(after)")
            #expect(((after["limits"] as? [String: Any])?["memory_limit_mb"] as? NSNumber)?.intValue == 64)
        }
    }

    @Test func globalQuotasRefuseWhatWouldNotFit() throws {
        // Quotas count what agents ask for, enforced or not: no cgroups needed to test them.
        let daemon = try DaemonHarness(extraArguments: ["--max-agents", "2", "--max-total-memory-mb", "100", "--cgroup-root", "none"])
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let unenforced: [String: Any] = ["enforce_limits": false]
        #expect(try daemon.spawn("q1", package: package, unenforced.merging(["memory_limit_mb": 64]) { $1 }).status == 200)
        let over = try daemon.spawn("q2", package: package, unenforced.merging(["memory_limit_mb": 64]) { $1 })
        #expect(over.status == 409, "\(over.text)")
        #expect(over.json["field"] as? String == "max_total_memory_mb")
        #expect((over.json["detail"] as? String)?.contains("64 MB are in use") == true)
        let unlimited = try daemon.spawn("q2", package: package)
        #expect(unlimited.status == 409)
        #expect(try daemon.spawn("q2", package: package, unenforced.merging(["memory_limit_mb": 32]) { $1 }).status == 200)
        let third = try daemon.spawn("q3", package: package, unenforced.merging(["memory_limit_mb": 4]) { $1 })
        #expect(third.status == 409)
        #expect(third.json["field"] as? String == "max_agents")

        let quotas = try #require(try daemon.client().get("/supervisor/status").json["quotas"] as? [String: Any])
        #expect((quotas["max_agents"] as? [String: Any])?["used"] as? Int == 2)
        #expect((quotas["max_total_memory_mb"] as? [String: Any])?["used"] as? Int == 96)
        #expect(try daemon.client().get("/supervisor/processes/par-q3").status == 404)
    }

    @Test func invalidLimitValuesAreNamed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        for (field, value) in [("nice", 30), ("pids_limit", 0), ("memory_limit_mb", 1)] as [(String, Any)] {
            let answer = try daemon.spawn("bad", package: package, [field: value])
            #expect(answer.status == 400, "\(field): \(answer.text)")
            #expect(answer.json["field"] as? String == field)
        }
        let cpu = try daemon.spawn("bad", package: package, ["cpu_limit": 0])
        #expect(cpu.json["field"] as? String == "cpu_limit")
        let swap = try daemon.spawn("bad", package: package, ["memory_swap_mb": 64])
        #expect(swap.json["field"] as? String == "memory_swap_mb")
    }
}
