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
///
/// A process whose session was begun without a group (init's own session, where some
/// container runtimes and CI runners start programs) is in the kernel's default group: the
/// kernel prints nothing for it and refuses to change its weight, and each of the daemon's
/// threads weighs as much as a whole agent. Starting a session of its own is not open to a
/// daemon that leads its process group (as any program started by a shell or by Foundation's
/// `Process` does), so there the agents' groups are given the opposite nice instead: the
/// same ratio, set by each agent's child before it drops root.
public enum SchedulingGroup {
    public enum Outcome: Equatable, Sendable {
        /// The daemon's group now has this nice.
        case set(group: String, nice: Int)
        /// The daemon is in the kernel's default group: each agent's group gets this nice.
        case agentsInstead(nice: Int)
        /// The kernel does not group by session: nothing to do.
        case noAutogroups
        /// Refused (not root, or the kernel said no), with why.
        case refused(String)
    }

    /// - Parameter privileged: root with CAP_SYS_ADMIN. Without it the kernel takes one group
    ///   nice a tenth of a second machine-wide (the rest get EAGAIN), so agents' groups
    ///   could not be weighed reliably: refused rather than half done.
    public static func setNice(
        _ nice: Int, autogroupSwitch: String = "/proc/sys/kernel/sched_autogroup_enabled", ownGroup: String = "/proc/self/autogroup",
        privileged: @autoclosure () -> Bool = hasSystemAdministration()
    ) -> Outcome {
        guard autogroupsEnabled(autogroupSwitch) else { return .noAutogroups }
        guard let before = try? String(contentsOfFile: ownGroup, encoding: .utf8) else {
            return .refused("cannot open \(ownGroup): \(String(cString: strerror(errno)))")
        }
        if before.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            guard privileged() else {
                return .refused("the daemon is in the kernel's default scheduling group (its session was begun without one), and weighing each agent's group instead needs root with CAP_SYS_ADMIN; start it with setsid or as a systemd service")
            }
            return .agentsInstead(nice: min(19, max(-20, -nice)))
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

    /// Whether the kernel groups processes by session (`kernel.sched_autogroup_enabled`).
    public static func autogroupsEnabled(_ path: String = "/proc/sys/kernel/sched_autogroup_enabled") -> Bool {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
    }

    /// Root with CAP_SYS_ADMIN in its effective set (`CapEff` in /proc/self/status).
    public static func hasSystemAdministration(status: String = "/proc/self/status") -> Bool {
        guard geteuid() == 0, let text = try? String(contentsOfFile: status, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let mask = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return mask & (1 << 21) != 0
    }
}
