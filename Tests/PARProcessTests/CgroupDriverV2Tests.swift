import Foundation
import PARCore
import PARProcess
import Testing

#if canImport(Glibc)
import Glibc
#endif

// CgroupDriver against temporary folders laid out like cgroupfs. A fake is a plain file
// system, so two things differ from the kernel and the tests say so where it matters:
// control files do not exist until written (the driver opens with O_CREAT), and rmdir
// fails on a folder that still holds files (cgroupfs lets a cgroup go with its files).

/// A temporary folder standing in for /sys/fs/cgroup.
private final class FakeCgroupFS {
    let root: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/par-cgroup-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        root = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    func path(_ relative: String) -> String { relative.isEmpty ? root : root + "/" + relative }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    func write(_ relative: String, _ text: String) throws {
        try text.write(toFile: path(relative), atomically: false, encoding: .utf8)
    }

    func read(_ relative: String) -> String? { try? String(contentsOfFile: path(relative), encoding: .utf8) }
    func readAbsolute(_ absolute: String) -> String? { try? String(contentsOfFile: absolute, encoding: .utf8) }

    func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: path(relative)) }

    func isDirectory(_ relative: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path(relative), isDirectory: &directory) && directory.boolValue
    }

    /// Deletes the regular files in a folder (what the kernel would do for us in cgroupfs).
    func removeFiles(inAbsolute directory: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
            try FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    func destroy() { try? FileManager.default.removeItem(atPath: root) }
}

private let serviceCgroup = "user.slice/par.service"
private let v2SelfCgroup = "0::/user.slice/par.service\n"
private let v1SelfCgroup = "5:memory:/m\n3:cpu:/\n2:pids:/\n4:cpuacct:/\n0::/\n"
private let allLimits = ResourceLimits(memoryMB: 64, memorySwapMB: 16, cpu: 0.5, pidsLimit: 32)

/// A cgroup v2 mount whose supervisor cgroup has memory, cpu and pids delegated.
private func makeV2Layout(rootControllers: String = "cpuset cpu io memory pids\n", serviceControllers: String = "cpu memory pids\n") throws -> FakeCgroupFS {
    let fs = try FakeCgroupFS()
    try fs.write("cgroup.controllers", rootControllers)
    try fs.mkdir(serviceCgroup)
    try fs.write(serviceCgroup + "/cgroup.controllers", serviceControllers)
    try fs.write(serviceCgroup + "/cgroup.subtree_control", "")
    return fs
}

/// Separate v1 hierarchies; the supervisor sits in /m of the memory hierarchy and at the top of the others.
private func makeV1Layout(hierarchies: [String] = ["memory", "cpu", "pids", "cpuacct"]) throws -> FakeCgroupFS {
    let fs = try FakeCgroupFS()
    for hierarchy in hierarchies { try fs.mkdir(hierarchy) }
    if hierarchies.contains("memory") { try fs.mkdir("memory/m") }
    return fs
}

private func startV2(_ fs: FakeCgroupFS) -> CgroupDriver {
    CgroupDriver.start(root: fs.root, selfCgroup: v2SelfCgroup, instance: "abc123", moveSelfPID: 4242)
}

private func startV1(_ fs: FakeCgroupFS) -> CgroupDriver {
    CgroupDriver.start(root: fs.root, selfCgroup: v1SelfCgroup, instance: "abc123", moveSelfPID: 4242)
}

private func noneReason(_ backend: CgroupDriver.Backend) -> String? {
    if case .none(let reason) = backend { return reason }
    return nil
}

// MARK: - parseSelfCgroup

@Suite("CgroupDriver.parseSelfCgroup")
struct CgroupParseSelfCgroupTests {
    @Test func hybridMembershipMapsEachV1ControllerAndTheUnifiedEntry() {
        let paths = CgroupDriver.parseSelfCgroup("4:memory:/x\n1:cpu,cpuacct:/\n0::/\n")
        #expect(paths == ["memory": "/x", "cpu": "/", "cpuacct": "/", "": "/"])
    }

    @Test func pureV2MembershipIsTheEmptyControllerKey() {
        #expect(CgroupDriver.parseSelfCgroup("0::/a/b") == ["": "/a/b"])
    }

    @Test func aPathContainingColonsIsKeptWhole() {
        #expect(CgroupDriver.parseSelfCgroup("0::/a:b/c:d\n") == ["": "/a:b/c:d"])
    }

    @Test func namedV1HierarchiesKeepTheirName() {
        #expect(CgroupDriver.parseSelfCgroup("12:name=systemd:/user.slice\n")["name=systemd"] == "/user.slice")
    }

    @Test(arguments: ["", "\n\n", "garbage", "1:memory"])
    func linesWithoutThreeFieldsAreIgnored(text: String) {
        #expect(CgroupDriver.parseSelfCgroup(text).isEmpty)
    }
}

// MARK: - v2 detection

@Suite("CgroupDriver v2 start")
struct CgroupDriverV2StartTests {
    @Test func startsTheV2BackendWithAnInstanceFolderBelowTheSupervisorsCgroup() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        #expect(driver.backend == .v2(instanceDirectory: fs.path(serviceCgroup + "/par-abc123")))
        #expect(driver.version == .v2)
        #expect(driver.backend.name == "cgroup-v2")
        #expect(fs.isDirectory(serviceCgroup + "/par-abc123"))
    }

    @Test func enablesMemoryCPUAndPidsForTheSupervisorsChildrenAndTheAgents() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        _ = startV2(fs)
        #expect(fs.read(serviceCgroup + "/cgroup.subtree_control")?.contains("+memory +cpu +pids") == true)
        #expect(fs.read(serviceCgroup + "/par-abc123/cgroup.subtree_control")?.contains("+memory +cpu +pids") == true)
    }

    /// The control plane's weight where autogroups do not reach (a service's cgroup): all
    /// agents together weigh against the daemon as nice 10 against 0, clamped to the range.
    @Test(arguments: [(10, "10"), (3, "3"), (25, "19"), (-30, "-20")])
    func weighsTheAgentsFolderAgainstTheDaemon(nice: Int, written: String) throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        #expect(try driver.weighAgents(nice: nice))
        #expect(fs.read(serviceCgroup + "/par-abc123/cpu.weight.nice") == written)
        #expect(!fs.exists(serviceCgroup + "/cpu.weight.nice"), "the daemon's own cgroup is not touched")
    }

    @Test func weighingWithoutAV2FolderDoesNothing() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        #expect(try !startV1(fs).weighAgents(nice: 10))
        #expect(try !CgroupDriver.disabled(reason: "off").weighAgents(nice: 10))
    }

    @Test func doesNotMoveTheSupervisorWhenControllersCanBeEnabledDirectly() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        _ = startV2(fs)
        #expect(!fs.exists(serviceCgroup + "/par-supervisor-abc123"))
    }

    @Test func pureV2AtTheRootUsesTheRootItself() throws {
        let fs = try FakeCgroupFS()
        defer { fs.destroy() }
        try fs.write("cgroup.controllers", "cpu memory pids\n")
        let driver = CgroupDriver.start(root: fs.root, selfCgroup: "0::/\n", instance: "abc123", moveSelfPID: 4242)
        #expect(driver.backend == .v2(instanceDirectory: fs.path("par-abc123")))
    }

    @Test func whenSubtreeControlCannotBeWrittenTheGivenPIDIsMovedIntoALeafFirst() throws {
        // "No internal processes": the kernel refuses subtree_control while the cgroup holds
        // processes. A folder in place of the file makes every write to it fail here, so the
        // retry fails too and the backend ends up none, but the move must have happened first.
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        try FileManager.default.removeItem(atPath: fs.path(serviceCgroup + "/cgroup.subtree_control"))
        try fs.mkdir(serviceCgroup + "/cgroup.subtree_control")
        let driver = startV2(fs)
        #expect(fs.isDirectory(serviceCgroup + "/par-supervisor-abc123"))
        #expect(fs.read(serviceCgroup + "/par-supervisor-abc123/cgroup.procs") == "4242")
        let reason = try #require(noneReason(driver.backend))
        #expect(reason.contains("cgroup.subtree_control"))
        #expect(!fs.exists(serviceCgroup + "/par-abc123"))
    }

    @Test func aV2MountWithoutThePidsControllerGivesNoBackendNamingPids() throws {
        let fs = try FakeCgroupFS()
        defer { fs.destroy() }
        try fs.write("cgroup.controllers", "cpuset cpu io memory\n")
        let driver = CgroupDriver.start(root: fs.root, selfCgroup: "0::/\n", instance: "abc123", moveSelfPID: 4242)
        let reason = try #require(noneReason(driver.backend))
        #expect(reason.contains("pids"))
        #expect(!reason.contains("memory"))
        #expect(driver.version == nil)
        #expect(driver.backend.name == "none")
        #expect(!fs.exists("par-abc123"))
    }

    @Test func aSupervisorCgroupWithoutDelegatedPidsGivesNoBackendNamingPids() throws {
        // The mount has pids, but it was not delegated to the supervisor's own cgroup.
        let fs = try makeV2Layout(serviceControllers: "cpu memory\n")
        defer { fs.destroy() }
        let driver = startV2(fs)
        let reason = try #require(noneReason(driver.backend))
        #expect(reason.contains("pids"))
        #expect(!fs.exists(serviceCgroup + "/par-abc123"))
    }

    @Test func noCgroupFilesystemAtAllGivesNoBackendNamingTheMissingHierarchies() throws {
        let fs = try FakeCgroupFS()
        defer { fs.destroy() }
        let driver = CgroupDriver.start(root: fs.root, selfCgroup: "0::/\n", instance: "abc123", moveSelfPID: 4242)
        let reason = try #require(noneReason(driver.backend))
        #expect(reason.contains("memory, cpu, pids"))
    }

    @Test func aDisabledDriverReportsItsReasonAndRefusesToCreateCgroups() {
        let driver = CgroupDriver.disabled(reason: "off by configuration")
        #expect(driver.backend == .none(reason: "off by configuration"))
        #expect(driver.version == nil)
        #expect(throws: CgroupError.self) { try driver.create(agent: "a1", limits: allLimits) }
    }
}

// MARK: - v2 leftovers

@Suite("CgroupDriver v2 leftovers")
struct CgroupDriverV2LeftoverTests {
    // Removal of a v2 leftover cannot be observed here: the driver opens cgroup.kill with
    // O_CREAT, which in a plain folder adds a file and so keeps the folder (ENOTEMPTY).
    // The removal loop itself is pinned by the v1 leftover test below.

    @Test func withoutCgroupKillALeftoversProcessesAreKilledByPid() throws {
        // Kernels before 5.14 have no cgroup.kill; a folder in its place makes the write fail.
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let child = try Spawner.spawn(executable: "/bin/sleep", argv: ["sleep", "30"], environment: [:], workingDirectory: "/")
        defer { closeFDs(child) }
        try fs.mkdir(serviceCgroup + "/par-abc123/agent-old/cgroup.kill")
        try fs.write(serviceCgroup + "/par-abc123/agent-old/cgroup.procs", "\(child.pid)\n")
        _ = startV2(fs)
        let status = reap(child.pid, within: 10)
        if status == nil { kill(child.pid, SIGKILL); _ = reap(child.pid, within: 10) }
        let reaped = try #require(status, "the leftover's process was not killed")
        #expect(exitSignal(reaped) == SIGKILL)
    }

    @Test func aLeftoverAgentIsKilledThroughCgroupKill() throws {
        // In cgroupfs the folder then goes with its files; in the fake the files keep it
        // (rmdir gives ENOTEMPTY), so only the kill is checked here.
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        try fs.mkdir(serviceCgroup + "/par-abc123/agent-old")
        try fs.write(serviceCgroup + "/par-abc123/agent-old/cgroup.procs", "")
        _ = startV2(fs)
        #expect(fs.read(serviceCgroup + "/par-abc123/agent-old/cgroup.kill") == "1")
    }

    @Test func foldersNotNamedLikeAgentsAreLeftAlone() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        try fs.mkdir(serviceCgroup + "/par-abc123/something-else")
        _ = startV2(fs)
        #expect(fs.isDirectory(serviceCgroup + "/par-abc123/something-else"))
        #expect(!fs.exists(serviceCgroup + "/par-abc123/something-else/cgroup.kill"))
    }

    @Test func agentsOfAnotherInstanceAreLeftAlone() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        try fs.mkdir(serviceCgroup + "/par-other/agent-theirs")
        _ = startV2(fs)
        #expect(fs.isDirectory(serviceCgroup + "/par-other/agent-theirs"))
        #expect(!fs.exists(serviceCgroup + "/par-other/agent-theirs/cgroup.kill"))
    }
}

// MARK: - v2 agents

@Suite("CgroupDriver v2 agents")
struct CgroupDriverV2AgentTests {
    @Test func createMakesOneAgentFolderForAllControllers() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        let directory = fs.path(serviceCgroup + "/par-abc123/agent-a1")
        #expect(group.name == "agent-a1")
        #expect(group.directories == ["memory": directory, "cpu": directory, "pids": directory])
        #expect(group.displayPath == directory)
        #expect(fs.isDirectory(serviceCgroup + "/par-abc123/agent-a1"))
    }

    @Test func createWritesEveryLimitIntoTheAgentFolder() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        _ = try driver.create(agent: "a1", limits: allLimits)
        let agent = serviceCgroup + "/par-abc123/agent-a1/"
        #expect(fs.read(agent + "memory.max") == "67108864")
        #expect(fs.read(agent + "memory.swap.max") == "16777216")
        #expect(fs.read(agent + "cpu.max") == "50000 100000")
        #expect(fs.read(agent + "pids.max") == "32")
        #expect(fs.read(agent + "memory.oom.group") == "1")
    }

    @Test func createWithoutLimitsLiftsEveryLimit() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        _ = try driver.create(agent: "a1", limits: ResourceLimits())
        let agent = serviceCgroup + "/par-abc123/agent-a1/"
        #expect(fs.read(agent + "memory.max") == "max")
        #expect(fs.read(agent + "cpu.max") == "max 100000")
        #expect(fs.read(agent + "pids.max") == "max")
        #expect(fs.read(agent + "memory.oom.group") == "1")
        #expect(fs.read(agent + "memory.swap.max") == "max")
    }

    @Test func onV2TheChildIsCreatedInTheAgentFolderSoThereIsNoProcsFileToWrite() throws {
        // The child is born inside the cgroup (clone3 with CLONE_INTO_CGROUP) instead of
        // writing itself into cgroup.procs.
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(group.procsFiles == [])
        #expect(group.cloneDirectory == fs.path(serviceCgroup + "/par-abc123/agent-a1"))
    }

    @Test func createOverAnExistingAgentFolderRewritesTheLimits() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        _ = try driver.create(agent: "a1", limits: allLimits)
        _ = try driver.create(agent: "a1", limits: ResourceLimits(memoryMB: 128, cpu: 2, pidsLimit: 8))
        let agent = serviceCgroup + "/par-abc123/agent-a1/"
        #expect(fs.read(agent + "memory.max") == "134217728")
        #expect(fs.read(agent + "cpu.max") == "200000 100000")
        #expect(fs.read(agent + "pids.max") == "8")
    }

    @Test
    func applyingLimitsWithoutSwapLiftsAnEarlierSwapLimit() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        try driver.apply(ResourceLimits(memoryMB: 64), to: group)
        #expect(fs.read(serviceCgroup + "/par-abc123/agent-a1/memory.swap.max") == "max")
    }

    @Test func aMissingOptionalOOMGroupFileDoesNotFailCreate() throws {
        // Older kernels have no memory.oom.group; a folder in its place makes its write fail.
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        try fs.mkdir(serviceCgroup + "/par-abc123/agent-a1/memory.oom.group")
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(group.name == "agent-a1")
        #expect(fs.read(serviceCgroup + "/par-abc123/agent-a1/pids.max") == "32")
    }

    @Test func aFailedRequiredLimitFailsCreateNamingTheFile() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let memoryMax = serviceCgroup + "/par-abc123/agent-a1/memory.max"
        try fs.mkdir(memoryMax)
        do {
            _ = try driver.create(agent: "a1", limits: allLimits)
            Issue.record("create succeeded although memory.max could not be written")
        } catch {
            guard case .io(let path, let code) = error else {
                Issue.record("expected an io error, got \(error)")
                return
            }
            #expect(path == fs.path(memoryMax))
            #expect(code == EISDIR)
        }
    }

    @Test func aFailedSwapLimitFailsCreateWhenSwapWasAskedFor() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        try fs.mkdir(serviceCgroup + "/par-abc123/agent-a1/memory.swap.max")
        #expect(throws: CgroupError.self) { try driver.create(agent: "a1", limits: allLimits) }
    }

    @Test func createFailsWhenTheInstanceFolderIsGone() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        try FileManager.default.removeItem(atPath: fs.path(serviceCgroup + "/par-abc123"))
        #expect(throws: CgroupError.self) { try driver.create(agent: "a1", limits: allLimits) }
    }

    @Test func usageReadsMemoryCPUPidsAndOOMKillsFromTheControlFiles() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        let agent = serviceCgroup + "/par-abc123/agent-a1/"
        try fs.write(agent + "memory.current", "1048576\n")
        try fs.write(agent + "memory.peak", "2097152\n")
        try fs.write(agent + "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 3\nthrottled_usec 750000\n")
        try fs.write(agent + "pids.current", "5\n")
        try fs.write(agent + "memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 1\n")
        let usage = driver.usage(group)
        #expect(usage.memoryBytes == 1_048_576)
        #expect(usage.memoryPeakBytes == 2_097_152)
        #expect(usage.memoryLimitBytes == 67_108_864)
        #expect(usage.cpuUsageSeconds == 2.5)
        #expect(usage.throttledSeconds == 0.75)
        #expect(usage.throttledPeriods == 3)
        #expect(usage.cpuQuotaCores == 0.5)
        #expect(usage.pidsCurrent == 5)
        #expect(usage.pidsLimit == 32)
        #expect(usage.oomKills == 2)
    }

    @Test func usageReportsUnlimitedAsNoLimit() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: ResourceLimits())
        let usage = driver.usage(group)
        #expect(usage.memoryLimitBytes == nil)
        #expect(usage.cpuQuotaCores == nil)
        #expect(usage.pidsLimit == nil)
    }

    @Test func usageOfMissingControlFilesIsNilAndNoOOMKills() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        let usage = driver.usage(group)
        #expect(usage.memoryBytes == nil)
        #expect(usage.memoryPeakBytes == nil)
        #expect(usage.cpuUsageSeconds == nil)
        #expect(usage.throttledSeconds == nil)
        #expect(usage.throttledPeriods == nil)
        #expect(usage.pidsCurrent == nil)
        #expect(usage.oomKills == 0)
    }

    @Test func aDisabledDriverReadsNoUsageEvenFromAnExistingGroup() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let group = try startV2(fs).create(agent: "a1", limits: allLimits)
        try fs.write(serviceCgroup + "/par-abc123/agent-a1/memory.current", "1048576\n")
        try fs.write(serviceCgroup + "/par-abc123/agent-a1/memory.events", "oom_kill 2\n")
        let driver = CgroupDriver.disabled(reason: "off")
        #expect(driver.usage(group) == CgroupUsage(oomKills: 0))
        #expect(driver.oomKills(group) == 0)
    }

    @Test func oomKillsReadsTheOOMKillLineOfMemoryEvents() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(driver.oomKills(group) == 0)
        // oom_group_kill must not be mistaken for oom_kill.
        try fs.write(serviceCgroup + "/par-abc123/agent-a1/memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_group_kill 7\noom_kill 3\n")
        #expect(driver.oomKills(group) == 3)
    }

    @Test func membersListsTheDistinctPidsOfCgroupProcs() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(driver.members(group) == [])
        try fs.write(serviceCgroup + "/par-abc123/agent-a1/cgroup.procs", "34\n12\n")
        #expect(driver.members(group) == [12, 34])
    }

    @Test func aKillKeepsTheCgroupUsableAndOnlyDestroyWritesCgroupKill() async throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        driver.kill(group)
        // A cgroup once killed through cgroup.kill kills children later cloned into it on
        // some kernels: a kill between runs signals the members instead.
        #expect(fs.read(serviceCgroup + "/par-abc123/agent-a1/cgroup.kill") == nil)
        _ = await driver.destroy(group, timeout: .milliseconds(20))
        #expect(fs.read(serviceCgroup + "/par-abc123/agent-a1/cgroup.kill") == "1")
    }

    @Test func removeReportsFalseWhileTheFolderCannotGoAndTrueOnceItIsGone() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        let directory = fs.path(serviceCgroup + "/par-abc123/agent-a1")
        // The limit files written by create keep a plain folder from going (ENOTEMPTY).
        #expect(driver.remove(group) == false)
        #expect(fs.isDirectory(serviceCgroup + "/par-abc123/agent-a1"))
        try fs.removeFiles(inAbsolute: directory)
        #expect(driver.remove(group) == true)
        #expect(!fs.exists(serviceCgroup + "/par-abc123/agent-a1"))
        // Already gone counts as removed.
        #expect(driver.remove(group) == true)
    }
}

// MARK: - v1

@Suite("CgroupDriver v1")
struct CgroupDriverV1Tests {
    @Test func startsTheV1BackendWithAnInstanceFolderPerHierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        #expect(driver.backend == .v1(instanceDirectories: [
            "memory": fs.path("memory/m/par-abc123"),
            "cpu": fs.path("cpu/par-abc123"),
            "pids": fs.path("pids/par-abc123"),
            // cpuacct is optional but used for CPU time when it is there.
            "cpuacct": fs.path("cpuacct/par-abc123"),
        ]))
        #expect(driver.version == .v1)
        #expect(driver.backend.name == "cgroup-v1")
        for folder in ["memory/m/par-abc123", "cpu/par-abc123", "pids/par-abc123", "cpuacct/par-abc123"] {
            #expect(fs.isDirectory(folder), "\(folder)")
        }
    }

    @Test func aMissingCpuacctHierarchyIsNotNeeded() throws {
        let fs = try makeV1Layout(hierarchies: ["memory", "cpu", "pids"])
        defer { fs.destroy() }
        let driver = startV1(fs)
        #expect(driver.backend == .v1(instanceDirectories: [
            "memory": fs.path("memory/m/par-abc123"),
            "cpu": fs.path("cpu/par-abc123"),
            "pids": fs.path("pids/par-abc123"),
        ]))
    }

    @Test func aMissingPidsHierarchyGivesNoBackendNamingPids() throws {
        let fs = try makeV1Layout(hierarchies: ["memory", "cpu", "cpuacct"])
        defer { fs.destroy() }
        let driver = startV1(fs)
        let reason = try #require(noneReason(driver.backend))
        #expect(reason.hasSuffix("pids"))
        #expect(!reason.contains("memory"))
    }

    @Test func theUnifiedEntryIsIgnoredWithoutCgroupControllersAtTheRoot() throws {
        // Hybrid: "0::/" is listed, but the root is a tmpfs of v1 hierarchies.
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        #expect(startV1(fs).version == .v1)
    }

    @Test func createWritesEachLimitIntoItsOwnHierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(group.directories == [
            "memory": fs.path("memory/m/par-abc123/agent-a1"),
            "cpu": fs.path("cpu/par-abc123/agent-a1"),
            "pids": fs.path("pids/par-abc123/agent-a1"),
            "cpuacct": fs.path("cpuacct/par-abc123/agent-a1"),
        ])
        #expect(fs.read("memory/m/par-abc123/agent-a1/memory.limit_in_bytes") == "67108864")
        #expect(fs.read("memory/m/par-abc123/agent-a1/memory.memsw.limit_in_bytes") == "83886080")
        #expect(fs.read("cpu/par-abc123/agent-a1/cpu.cfs_quota_us") == "50000")
        #expect(fs.read("cpu/par-abc123/agent-a1/cpu.cfs_period_us") == "100000")
        #expect(fs.read("pids/par-abc123/agent-a1/pids.max") == "32")
    }

    @Test func noLimitFileLandsInAnotherHierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        _ = try driver.create(agent: "a1", limits: allLimits)
        let contents = { (folder: String) in Set((try? FileManager.default.contentsOfDirectory(atPath: fs.path(folder))) ?? []) }
        #expect(contents("memory/m/par-abc123/agent-a1") == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"])
        #expect(contents("cpu/par-abc123/agent-a1") == ["cpu.cfs_period_us", "cpu.cfs_quota_us"])
        #expect(contents("pids/par-abc123/agent-a1") == ["pids.max"])
        #expect(contents("cpuacct/par-abc123/agent-a1") == [])
    }

    @Test func theChildJoinsEveryHierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        #expect(group.procsFiles == [
            fs.path("cpu/par-abc123/agent-a1/cgroup.procs"),
            fs.path("cpuacct/par-abc123/agent-a1/cgroup.procs"),
            fs.path("memory/m/par-abc123/agent-a1/cgroup.procs"),
            fs.path("pids/par-abc123/agent-a1/cgroup.procs"),
        ])
        #expect(group.displayPath == fs.path("memory/m/par-abc123/agent-a1"))
        #expect(group.cloneDirectory == nil) // v1 cannot create a child inside a cgroup
    }

    @Test func usageReadsTheV1ControlFiles() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        let group = try driver.create(agent: "a1", limits: allLimits)
        try fs.write("memory/m/par-abc123/agent-a1/memory.usage_in_bytes", "1048576\n")
        try fs.write("memory/m/par-abc123/agent-a1/memory.max_usage_in_bytes", "2097152\n")
        try fs.write("memory/m/par-abc123/agent-a1/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
        try fs.write("cpuacct/par-abc123/agent-a1/cpuacct.usage", "1500000000\n")
        try fs.write("cpu/par-abc123/agent-a1/cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 250000000\n")
        try fs.write("pids/par-abc123/agent-a1/pids.current", "3\n")
        let usage = driver.usage(group)
        #expect(usage.memoryBytes == 1_048_576)
        #expect(usage.memoryPeakBytes == 2_097_152)
        #expect(usage.memoryLimitBytes == 67_108_864)
        #expect(usage.cpuUsageSeconds == 1.5)
        #expect(usage.throttledSeconds == 0.25)
        #expect(usage.throttledPeriods == 4)
        #expect(usage.cpuQuotaCores == 0.5)
        #expect(usage.pidsCurrent == 3)
        #expect(usage.pidsLimit == 32)
        #expect(usage.oomKills == 1)
        #expect(driver.oomKills(group) == 1)
    }

    @Test func usageReportsTheKernelsUnlimitedValuesAsNoLimit() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let driver = startV1(fs)
        let group = try driver.create(agent: "a1", limits: ResourceLimits())
        // What the kernel shows after "-1" is written: the largest page-aligned value.
        try fs.write("memory/m/par-abc123/agent-a1/memory.limit_in_bytes", "9223372036854771712\n")
        let usage = driver.usage(group)
        #expect(usage.memoryLimitBytes == nil)
        #expect(usage.cpuQuotaCores == nil)
        #expect(usage.pidsLimit == nil)
    }

    @Test func anEmptyLeftoverAgentFolderIsRemovedFromEveryHierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        for folder in ["memory/m/par-abc123/agent-old", "cpu/par-abc123/agent-old", "pids/par-abc123/agent-old"] { try fs.mkdir(folder) }
        _ = startV1(fs)
        for folder in ["memory/m/par-abc123/agent-old", "cpu/par-abc123/agent-old", "pids/par-abc123/agent-old"] {
            #expect(!fs.exists(folder), "\(folder)")
        }
    }

    @Test func aLeftoverAgentsProcessesAreKilledByPid() throws {
        // v1 has no cgroup.kill: each pid in cgroup.procs gets SIGKILL.
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let child = try Spawner.spawn(executable: "/bin/sleep", argv: ["sleep", "30"], environment: [:], workingDirectory: "/")
        defer { closeFDs(child) }
        try fs.mkdir("memory/m/par-abc123/agent-old")
        try fs.write("memory/m/par-abc123/agent-old/cgroup.procs", "\(child.pid)\n")
        _ = startV1(fs)
        let status = reap(child.pid, within: 10)
        if status == nil { kill(child.pid, SIGKILL); _ = reap(child.pid, within: 10) }
        let reaped = try #require(status, "the leftover's process was not killed")
        #expect(exitSignal(reaped) == SIGKILL)
    }
}

// MARK: - Confinement of a real child

@Suite("Spawner confinement")
struct SpawnConfinementTests {
    @Test func theChildWritesItselfIntoTheGivenCgroupProcsFileBeforeExec() throws {
        let fs = try makeV2Layout()
        defer { fs.destroy() }
        let driver = startV2(fs)
        _ = try driver.create(agent: "a1", limits: allLimits)
        let procs = fs.path(serviceCgroup + "/par-abc123/agent-a1/cgroup.procs")
        try fs.write(serviceCgroup + "/par-abc123/agent-a1/cgroup.procs", "") // cgroupfs always has it
        let child = try Spawner.spawn(
            executable: "/bin/sh", argv: ["/bin/sh", "-c", "exit 0"], environment: [:], workingDirectory: "/",
            confinement: SpawnConfinement(cgroupProcsFiles: [procs], nice: 5)
        )
        defer { closeFDs(child) }
        let status = try #require(reap(child.pid, within: 30))
        #expect(exitCode(status) == 0)
        // "0" is cgroupfs for "the writing process".
        #expect(fs.readAbsolute(procs) == "0")
    }

    @Test func theChildJoinsEveryV1Hierarchy() throws {
        let fs = try makeV1Layout()
        defer { fs.destroy() }
        let group = try startV1(fs).create(agent: "a1", limits: allLimits)
        for file in group.procsFiles { try "".write(toFile: file, atomically: false, encoding: .utf8) }
        let child = try Spawner.spawn(
            executable: "/bin/sh", argv: ["/bin/sh", "-c", "exit 0"], environment: [:], workingDirectory: "/",
            confinement: SpawnConfinement(cgroupProcsFiles: group.procsFiles)
        )
        defer { closeFDs(child) }
        #expect(exitCode(try #require(reap(child.pid, within: 30))) == 0)
        for file in group.procsFiles { #expect(fs.readAbsolute(file) == "0", "\(file)") }
    }

    @Test func theChildRunsWithTheGivenNiceValue() throws {
        let child = try Spawner.spawn(
            executable: "/bin/sh", argv: ["/bin/sh", "-c", "exec nice"], environment: ["PATH": "/usr/bin:/bin"], workingDirectory: "/",
            confinement: SpawnConfinement(nice: 5)
        )
        defer { closeFDs(child) }
        let status = try #require(reap(child.pid, within: 30))
        #expect(exitCode(status) == 0)
        #expect(readAll(child.stdoutFD).trimmingCharacters(in: .whitespacesAndNewlines) == "5")
    }

    @Test func aCgroupProcsFileInAMissingFolderFailsTheSpawnAtSetup() throws {
        let fs = try FakeCgroupFS()
        defer { fs.destroy() }
        let missing = fs.path("gone/agent-a1/cgroup.procs")
        do {
            let child = try Spawner.spawn(
                executable: "/bin/sh", argv: ["/bin/sh", "-c", "exit 0"], environment: [:], workingDirectory: "/",
                confinement: SpawnConfinement(cgroupProcsFiles: [missing], nice: 5)
            )
            closeFDs(child)
            _ = reap(child.pid, within: 30)
            Issue.record("spawn succeeded although \(missing) does not exist")
        } catch {
            guard case .setup(let step, let code) = error else {
                Issue.record("expected a setup error, got \(error)")
                return
            }
            #expect(step.contains("cgroup"))
            #expect(code == ENOENT)
            #expect(error.description.contains("cgroup"))
        }
    }

    @Test func aCgroupProcsPathThatCannotBeOpenedForWritingFailsTheSpawnAtSetup() throws {
        let fs = try FakeCgroupFS()
        defer { fs.destroy() }
        try fs.mkdir("agent-a1/cgroup.procs") // a folder where the file should be
        do {
            let child = try Spawner.spawn(
                executable: "/bin/sh", argv: ["/bin/sh", "-c", "exit 0"], environment: [:], workingDirectory: "/",
                confinement: SpawnConfinement(cgroupProcsFiles: [fs.path("agent-a1/cgroup.procs")])
            )
            closeFDs(child)
            _ = reap(child.pid, within: 30)
            Issue.record("spawn succeeded although cgroup.procs is a folder")
        } catch {
            guard case .setup(_, let code) = error else {
                Issue.record("expected a setup error, got \(error)")
                return
            }
            #expect(code == EISDIR)
        }
    }
}

// MARK: - Helpers for real children

private func closeFDs(_ child: SpawnedProcess) {
    close(child.pidfd)
    close(child.stdoutFD)
    close(child.stderrFD)
}

/// Waits for `pid` without blocking forever; the wait status, or nil if it did not end in time.
private func reap(_ pid: Int32, within seconds: Double) -> Int32? {
    let deadline = Date().addingTimeInterval(seconds)
    var status: Int32 = 0
    while Date() < deadline {
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid { return status }
        if result == -1 && errno != EINTR { return nil }
        usleep(10_000)
    }
    return nil
}

private func exitCode(_ status: Int32) -> Int32? {
    (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil
}

private func exitSignal(_ status: Int32) -> Int32? {
    let signal = status & 0x7f
    return signal != 0 && signal != 0x7f ? signal : nil
}

/// Everything left in a non-blocking pipe whose writer has exited.
private func readAll(_ fd: Int32) -> String {
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count > 0 { data += buffer[0..<count]; continue }
        if count == -1 && errno == EINTR { continue }
        break
    }
    return String(decoding: data, as: UTF8.self)
}
