import Foundation
import PARClient
import PARCore
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// With `--agent-users` (the daemon as root) an agent reaches only what is its own. Each
/// check is what a hostile agent tried: the token, the databases, the daemon's environ,
/// another agent's folder, its own package.
@Suite("Agent isolation", .enabled(if: getuid() == 0, "the daemon must run as root to give agents uids of their own"))
struct AgentIsolationTests {
    /// Tries each thing and writes `name=allowed|denied` lines to $HOME/report.
    static let probe = """
    r="$HOME/report.tmp"
    try() { if sh -c "$2" >/dev/null 2>&1; then echo "$1=allowed"; else echo "$1=denied"; fi; }
    {
      echo "uid=$(id -u)"
      echo "groups=$(id -G)"
      echo "nonewprivs=$(grep NoNewPrivs /proc/self/status | tr -dc 0-9)"
      try token "cat '$DATA/token'"
      try state "cat '$DATA/state/state.sqlite'"
      try logs "cat '$DATA/logs/logs.sqlite'"
      try environ "cat /proc/$PPID/environ"
      try list_data "ls '$DATA'"
      try other "ls '$DATA/agents/$OTHER'"
      try package "echo tampered >> ./run.sh"
      try home "touch '$HOME/mine'"
      try tmp "touch \\"\\$TMPDIR/mine\\""
      try signal_other "kill -0 $OTHER_PID"
    } > "$r"
    mv "$r" "$HOME/report"
    exec sleep 1000
    """

    private func report(_ daemon: DaemonHarness, _ agent: String) throws -> [String: String] {
        let url = daemon.dataDirectory.appendingPathComponent("agents/\(agent)/report")
        var text = ""
        _ = ProcessInspection.eventually(timeout: 10) {
            text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            return !text.isEmpty
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
        }
        return values
    }

    @Test func anAgentReachesOnlyItsOwnFolder() throws {
        let daemon = try DaemonHarness(extraArguments: ["--agent-users", "61184-61283"])
        defer { daemon.stop() }
        let sleeper = try daemon.install(sleeperPackage())
        let other = try daemon.spawn("other", package: sleeper)
        #expect(other.status == 200, "\(other.text)")
        let otherStatus = try daemon.waitFor("par-other") { state($0) == "running" }
        let otherPID = try #require(pid(otherStatus))
        let package = try daemon.install(.commandPackage(script: Self.probe))
        let answer = try daemon.spawn("prober", package: package, ["env_vars": [
            "DATA": daemon.dataDirectory.path, "OTHER": "other", "OTHER_PID": String(otherPID),
        ]])
        #expect(answer.status == 200, "\(answer.text)")
        let values = try report(daemon, "prober")
        let uid = try #require(values["uid"].flatMap(UInt32.init), "\(values)")
        #expect((61184...61283).contains(uid), "an unprivileged uid of the range: \(values)")
        #expect(values["groups"] == String(uid), "no supplementary groups: \(values)")
        #expect(values["nonewprivs"] == "1")
        for denied in ["token", "state", "logs", "environ", "list_data", "other", "package", "signal_other"] {
            #expect(values[denied] == "denied", "\(denied) was \(values[denied] ?? "not tried"): \(values)")
        }
        #expect(values["home"] == "allowed" && values["tmp"] == "allowed", "its own folder is writable: \(values)")
        let otherFolder = daemon.dataDirectory.appendingPathComponent("agents/other").path
        #expect(Self.owner(otherFolder) != uid && Self.owner(otherFolder).map { (61184...61283).contains($0) } == true, "each agent its own uid")
    }

    /// Root's agents never run as root unless the operator says `--agent-users none`.
    @Test func asRootAgentsGetTheirOwnUidByDefault() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let sleeper = try daemon.install(sleeperPackage())
        #expect(try daemon.spawn("default", package: sleeper).status == 200)
        let running = try daemon.waitFor("par-default") { state($0) == "running" }
        let agentPID = try #require(pid(running))
        let uid = try #require(Self.processOwner(agentPID))
        #expect(IdentityPool.defaultRange.contains(uid), "uid \(uid) is of the default range")
        #expect(Self.owner(daemon.dataDirectory.appendingPathComponent("agents/default").path) == uid, "its folder is its own")

        let shared = try DaemonHarness(extraArguments: ["--agent-users", "none"])
        defer { shared.stop() }
        #expect(try shared.spawn("root", package: try shared.install(sleeperPackage())).status == 200)
        let asRoot = try shared.waitFor("par-root") { state($0) == "running" }
        let rootPID = try #require(pid(asRoot))
        #expect(Self.processOwner(rootPID) == 0, "none: the daemon's own user")
    }

    @Test func anAgentKeepsItsUidAndFolderAcrossRestarts() throws {
        let daemon = try DaemonHarness(extraArguments: ["--agent-users", "61184-61283"])
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "echo run >> \"$HOME/runs\"\nexec sleep 1000"))
        #expect(try daemon.spawn("keeper", package: package).status == 200)
        let first = try daemon.waitFor("par-keeper") { state($0) == "running" }
        let folder = daemon.dataDirectory.appendingPathComponent("agents/keeper").path
        let uid = Self.owner(folder)
        #expect(try daemon.client().post("/supervisor/restart/par-keeper").status == 200)
        let second = try daemon.waitFor("par-keeper") { state($0) == "running" && pid($0) != pid(first) }
        #expect(Self.owner(folder) == uid)
        #expect(Self.processOwner(try #require(pid(second))) == uid, "the new run has the same uid")
        let runs = ProcessInspection.eventually(timeout: 5) {
            ((try? String(contentsOfFile: folder + "/runs", encoding: .utf8)) ?? "").split(separator: "\n").count == 2
        }
        #expect(runs, "its HOME is kept across restarts")
    }

    /// Two root daemons share the default range: a uid one hands out, the other passes
    /// over while it is held, and takes once it is given back.
    @Test func twoDaemonsNeverHandOutTheSameUid() throws {
        let range = "65000-65001"
        let first = try DaemonHarness(extraArguments: ["--agent-users", range])
        defer { first.stop() }
        let second = try DaemonHarness(extraArguments: ["--agent-users", range])
        defer { second.stop() }
        #expect(try first.spawn("one", package: try first.install(sleeperPackage())).status == 200)
        try first.waitFor("par-one") { state($0) == "running" }
        #expect(try second.spawn("two", package: try second.install(sleeperPackage())).status == 200)
        try second.waitFor("par-two") { state($0) == "running" }
        let one = Self.owner(first.dataDirectory.appendingPathComponent("agents/one").path)
        let two = Self.owner(second.dataDirectory.appendingPathComponent("agents/two").path)
        #expect(one != nil && two != nil && one != two, "\(String(describing: one)) \(String(describing: two))")
        #expect(Set([one, two]) == [65000, 65001])

        // The range is used up between them: the next is refused, saying so, and changes nothing.
        let refused = try second.spawn("three", package: try second.install(sleeperPackage()))
        #expect(refused.status >= 500, "\(refused.text)")
        #expect(refused.text.contains("another daemon"), "\(refused.text)")
        // Given back by the first, the uid is the second's to take.
        #expect(try first.client().delete("/supervisor/processes/par-one?force=true").status == 200)
        let retried = try second.spawn("four", package: try second.install(sleeperPackage()))
        #expect(retried.status == 200, "\(retried.text)")
        try second.waitFor("par-four") { state($0) == "running" }
        #expect(Self.owner(second.dataDirectory.appendingPathComponent("agents/four").path) == one)
    }

    /// A data dir below a folder others cannot enter (a clone under /root): the default
    /// falls back to agents as the daemon's user and says so; an explicit range is refused.
    @Test func aDataDirOthersCannotReachKeepsTheDefaultWorking() throws {
        let closed = FileManager.default.temporaryDirectory.appendingPathComponent("par-closed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: closed, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: closed) }
        let root = closed.appendingPathComponent("clone")
        let daemon = try DaemonHarness(root: root)
        defer { daemon.keepFiles = false; daemon.stop() }
        #expect(daemon.log.contains("could not reach their packages"), "the fallback is said: \(daemon.log.suffix(400))")
        #expect(try daemon.spawn("home", package: try daemon.install(sleeperPackage())).status == 200)
        let running = try daemon.waitFor("par-home") { state($0) == "running" }
        let agentPID = try #require(pid(running))
        #expect(Self.processOwner(agentPID) == 0, "agents run as the daemon's user")

        let refused = try runPar(["serve", "--agent-users", "61184-61283", "--port", "0", "--data-dir", closed.appendingPathComponent("other/data").path])
        #expect(refused.status == 2)
        #expect(refused.output.contains("closed to other users"), "\(refused.output)")
    }

    @Test func withoutRootTheOptionIsRefusedAndARangeWithRootIsRefused() throws {
        let answer = try runPar(["serve", "--agent-users", "0-100", "--port", "0", "--data-dir", "/nonexistent/par"])
        #expect(answer.status != 0)
        #expect(answer.output.contains("uid 0"), "\(answer.output)")
    }

    static func owner(_ path: String) -> UInt32? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_uid : nil
    }

    static func processOwner(_ pid: Int32) -> UInt32? {
        owner("/proc/\(pid)")
    }
}
