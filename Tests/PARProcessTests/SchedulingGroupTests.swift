import Foundation
import PARCore
import PARProcess
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's scheduling group: set through the autogroup file only where the kernel
/// groups by session, refused with a reason otherwise; against files laid out like /proc.
@Suite("Scheduling group")
struct SchedulingGroupTests {
    private func files(switch value: String) throws -> (switchPath: String, group: String, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("par-sched-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let switchPath = folder.appendingPathComponent("sched_autogroup_enabled").path
        try value.write(toFile: switchPath, atomically: true, encoding: .utf8)
        let group = folder.appendingPathComponent("autogroup").path
        try "/autogroup-7 nice 0\n".write(toFile: group, atomically: true, encoding: .utf8)
        return (switchPath, group, folder)
    }

    @Test func theNiceIsWrittenWhereTheKernelGroupsBySession() throws {
        let (switchPath, group, folder) = try files(switch: "1\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        guard case .set(_, -10) = SchedulingGroup.setNice(-10, autogroupSwitch: switchPath, ownGroup: group) else {
            Issue.record("not set")
            return
        }
        #expect(try String(contentsOfFile: group, encoding: .utf8).hasPrefix("-10\n"))
    }

    /// The kernel prints nothing for its default group (a session begun without one, as
    /// init's is) and refuses to change its weight: the agents' groups take the opposite.
    @Test(arguments: [(-10, 10), (-20, 19), (5, -5)])
    func fromTheKernelsDefaultGroupTheAgentsWeighLessInstead(nice: Int, agents: Int) throws {
        let (switchPath, group, folder) = try files(switch: "1\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        try "".write(toFile: group, atomically: true, encoding: .utf8)
        #expect(SchedulingGroup.setNice(nice, autogroupSwitch: switchPath, ownGroup: group, privileged: true) == .agentsInstead(nice: agents))
        #expect(try String(contentsOfFile: group, encoding: .utf8) == "", "nothing written to the default group")
    }

    /// Without CAP_SYS_ADMIN the kernel takes one group nice a tenth of a second machine-wide:
    /// refused with the way out rather than weighing some agents and not others.
    @Test func fromTheDefaultGroupWithoutSystemAdministrationItIsRefused() throws {
        let (switchPath, group, folder) = try files(switch: "1\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        try "".write(toFile: group, atomically: true, encoding: .utf8)
        guard case .refused(let why) = SchedulingGroup.setNice(-10, autogroupSwitch: switchPath, ownGroup: group, privileged: false) else {
            Issue.record("not refused")
            return
        }
        #expect(why.contains("CAP_SYS_ADMIN") && why.contains("setsid"), "\(why)")
    }

    @Test(arguments: [("CapEff:\t000001ffffffffff\n", true), ("CapEff:\t0000000000000000\n", false), ("CapEff:\t0000000000200000\n", true), ("Name:\tx\n", false)])
    func systemAdministrationIsReadFromTheEffectiveSet(status: String, expected: Bool) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("par-status-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try ("Name:\tpar\n" + status).write(to: file, atomically: true, encoding: .utf8)
        #expect(SchedulingGroup.hasSystemAdministration(status: file.path) == (expected && geteuid() == 0))
    }

    /// The mechanism against the real kernel: a child's new session is a group of its own,
    /// and it takes the nice it is given before exec (as root, before dropping it).
    @Test(.enabled(if: getuid() == 0 && SchedulingGroup.autogroupsEnabled(), "needs root and the kernel's autogroups"))
    func aChildsSessionGroupTakesTheNiceItIsGiven() throws {
        let ownGroup = try String(contentsOfFile: "/proc/self/autogroup", encoding: .utf8)
        for groupNice: Int32 in [10, 0] {
            let child = try Spawner.spawn(
                executable: "/bin/sleep", argv: ["sleep", "30"], environment: [:], workingDirectory: "/",
                confinement: SpawnConfinement(groupNice: groupNice, identity: AgentIdentity(uid: 65534, gid: 65534))
            )
            defer {
                kill(child.pid, SIGKILL)
                var status: Int32 = 0
                waitpid(child.pid, &status, 0)
                for fd in [child.pidfd, child.stdoutFD, child.stderrFD] { close(fd) }
            }
            let group = try String(contentsOfFile: "/proc/\(child.pid)/autogroup", encoding: .utf8)
            #expect(group.hasSuffix("nice \(groupNice)\n"), "\(group)")
            #expect(group.split(separator: " ").first != ownGroup.split(separator: " ").first)
        }
    }

    @Test func withoutAutogroupsNothingIsTouched() throws {
        let (switchPath, group, folder) = try files(switch: "0\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(SchedulingGroup.setNice(-10, autogroupSwitch: switchPath, ownGroup: group) == .noAutogroups)
        #expect(try String(contentsOfFile: group, encoding: .utf8) == "/autogroup-7 nice 0\n")
        #expect(SchedulingGroup.setNice(-10, autogroupSwitch: folder.appendingPathComponent("absent").path, ownGroup: group) == .noAutogroups)
    }

    @Test func aGroupThatCannotBeWrittenIsRefusedWithAReason() throws {
        let (switchPath, _, folder) = try files(switch: "1\n")
        defer { try? FileManager.default.removeItem(at: folder) }
        guard case .refused(let why) = SchedulingGroup.setNice(-10, autogroupSwitch: switchPath, ownGroup: folder.appendingPathComponent("none/autogroup").path) else {
            Issue.record("not refused")
            return
        }
        #expect(why.contains("cannot open"))
    }
}
