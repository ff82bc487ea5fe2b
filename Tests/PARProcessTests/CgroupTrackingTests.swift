import Foundation
import PARCore
import PARProcess
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// On a v1 (hybrid) machine every agent gets a controller-less folder in the unified
/// hierarchy: against the real kernel, a descendant in a new session is inside it and
/// dies with one `cgroup.kill`.
@Suite("cgroup v1 tracking folders")
struct CgroupTrackingTests {
    static let hybrid: Bool = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory")
        && FileManager.default.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs")
        && getuid() == 0

    @Test(.enabled(if: hybrid, "needs a v1 hybrid machine with a unified mount, as root"))
    func aDescendantInANewSessionDiesWithTheAgentsCgroup() async throws {
        let driver = CgroupDriver.start(root: "/sys/fs/cgroup", instance: "test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { driver.removeInstance() }
        #expect(driver.tracksEveryAgent)
        let group = try driver.create(agent: "tracked", limits: ResourceLimits(), controllers: false)
        #expect(group.directories.isEmpty, "no v1 controller folders without limits")
        let tracking = try #require(group.tracking)
        #expect(tracking.hasPrefix("/sys/fs/cgroup/unified/"))
        let process = try Spawner.spawn(
            executable: "/bin/sh", argv: ["/bin/sh", "-c", "setsid sh -c 'trap \"\" TERM; exec sleep 1000' & exec sleep 1000"],
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: "/",
            confinement: SpawnConfinement(cgroupProcsFiles: group.procsFiles, cgroupDirectory: group.cloneDirectory)
        )
        defer { close(process.pidfd); close(process.stdoutFD); close(process.stderrFD) }
        let both = await eventually { driver.members(group).count >= 2 }
        #expect(both, "the agent and its new session are members: \(driver.members(group))")
        let members = driver.members(group)
        driver.kill(group)
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)
        let gone = await eventually { members.allSatisfy { kill($0, 0) != 0 || Self.isZombie($0) } }
        #expect(gone, "every member died")
        for member in members where member != process.pid { waitpid(member, &status, WNOHANG) }
        // The agent's next run is born in the same cgroup and lives.
        let next = try Spawner.spawn(
            executable: "/bin/sleep", argv: ["/bin/sleep", "1000"], environment: ["PATH": "/usr/bin:/bin"], workingDirectory: "/",
            confinement: SpawnConfinement(cgroupProcsFiles: group.procsFiles, cgroupDirectory: group.cloneDirectory)
        )
        defer { close(next.pidfd); close(next.stdoutFD); close(next.stderrFD) }
        try await Task.sleep(for: .milliseconds(200))
        #expect(kill(next.pid, 0) == 0 && !Self.isZombie(next.pid), "a run started after a kill is not killed at birth")
        #expect(await driver.destroy(group), "the folder goes once it is empty")
        waitpid(next.pid, &status, 0)
        #expect(!FileManager.default.fileExists(atPath: tracking))
    }

    static func isZombie(_ pid: Int32) -> Bool {
        ProcTable.stat(of: pid)?.state == "Z"
    }

    private func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<400 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}
