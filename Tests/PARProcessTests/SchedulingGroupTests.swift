import Foundation
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
        guard case .set = SchedulingGroup.setNice(-10, autogroupSwitch: switchPath, ownGroup: group) else {
            Issue.record("not set")
            return
        }
        #expect(try String(contentsOfFile: group, encoding: .utf8).hasPrefix("-10\n"))
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
