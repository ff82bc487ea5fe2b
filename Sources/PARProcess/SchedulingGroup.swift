import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's weight against its agents in the CPU scheduler. With the kernel's
/// autogroups (`kernel.sched_autogroup_enabled`, on in most distributions' kernels), every
/// session is one scheduling group and every agent starts a session of its own: under load
/// each busy agent weighs as much as the whole daemon, and the API waits behind them (a
/// soak measured status p99 at 25-47 ms on 2 cores with 14 busy agents, 1.9 ms with the
/// daemon's group at nice -10). A group's nice is set through `/proc/self/autogroup`;
/// lowering it needs root. Agents' own groups are new and keep nice 0.
public enum SchedulingGroup {
    public enum Outcome: Equatable, Sendable {
        /// The daemon's group now has this nice.
        case set(group: String, nice: Int)
        /// The kernel does not group by session (or cgroups decide instead): nothing to do.
        case noAutogroups
        /// Refused (not root, or the kernel said no), with why.
        case refused(String)
    }

    public static func setNice(_ nice: Int, autogroupSwitch: String = "/proc/sys/kernel/sched_autogroup_enabled", ownGroup: String = "/proc/self/autogroup") -> Outcome {
        guard let enabled = try? String(contentsOfFile: autogroupSwitch, encoding: .utf8), enabled.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
            return .noAutogroups
        }
        let fd = open(ownGroup, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return .refused("cannot open \(ownGroup): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = Array("\(nice)\n".utf8)
        guard write(fd, text, text.count) == text.count else {
            let code = errno
            return .refused(code == EACCES || code == EPERM ? "lowering a scheduling group's nice needs root" : String(cString: strerror(code)))
        }
        // `/autogroup-123 nice -10`
        let now = (try? String(contentsOfFile: ownGroup, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return .set(group: String(now.split(separator: " ").first ?? ""), nice: nice)
    }
}
