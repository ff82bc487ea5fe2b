import CPARSys
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Signals to whole agents: every agent leads its own session, so its group and its
/// session name everything it started (unless a descendant made a session of its own).
public enum ProcessSignals {
    /// Signals the process group `groupID` (the agent's pid). Returns false if none is left.
    @discardableResult
    public static func signalGroup(_ groupID: Int32, _ signal: Int32) -> Bool {
        kill(-groupID, signal) == 0
    }

    /// Signals the group `sessionID` and every other member of that session found in /proc
    /// (a descendant that moved to a group of its own is still in the session).
    public static func signalSession(_ sessionID: Int32, _ signal: Int32) {
        signalGroup(sessionID, signal)
        for pid in ProcTable.sessionMembers(sessionID) {
            kill(pid, signal)
        }
    }
}

/// Reads of /proc: who is in a session, who descends from whom.
public enum ProcTable {
    /// Live (non-zombie) pids whose session id is `sessionID`.
    public static func sessionMembers(_ sessionID: Int32) -> [Int32] {
        var members: [Int32] = []
        forEachProcess { pid, stat in
            if stat.session == sessionID && stat.state != "Z" && stat.state != "X" { members.append(pid) }
        }
        return members
    }

    /// The fields of /proc/PID/stat the supervisor uses.
    public struct Stat: Sendable, Equatable {
        public var state: Character
        public var parent: Int32
        public var session: Int32
        public var userTicks: UInt64
        public var systemTicks: UInt64
        public var threads: Int
        public var startTicks: UInt64
        public var virtualBytes: UInt64
        public var residentPages: UInt64
    }

    public static func stat(of pid: Int32) -> Stat? {
        guard let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        return parseStat(text)
    }

    /// Parses /proc/PID/stat; the command name may hold spaces and parentheses, so
    /// fields are counted from the last ')'.
    public static func parseStat(_ text: String) -> Stat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state) of proc(5).
        guard fields.count >= 22,
              let state = fields[0].first,
              let parent = Int32(fields[1]), let session = Int32(fields[3]),
              let utime = UInt64(fields[11]), let stime = UInt64(fields[12]),
              let threads = Int(fields[17]), let start = UInt64(fields[19]),
              let vsize = UInt64(fields[20]), let rss = UInt64(fields[21])
        else { return nil }
        return Stat(state: state, parent: parent, session: session, userTicks: utime, systemTicks: stime,
                    threads: threads, startTicks: start, virtualBytes: vsize, residentPages: rss)
    }

    /// The children of `pid`, from /proc/PID/task/*/children.
    public static func children(of pid: Int32) -> [Int32] {
        guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") else { return [] }
        var result: [Int32] = []
        for task in tasks {
            guard let text = readSmallFile("/proc/\(pid)/task/\(task)/children") else { continue }
            result += text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        return result
    }

    /// `pid` and all its descendants, with the stat of each read once. A single-threaded
    /// process has one children file, so the task folder is listed only for threaded ones.
    public static func treeWithStats(of pid: Int32) -> [(pid: Int32, stat: Stat)] {
        var result: [(pid: Int32, stat: Stat)] = []
        var queue: [Int32] = [pid]
        while let next = queue.popLast(), result.count < 10_000 {
            guard let stat = stat(of: next) else { continue }
            result.append((next, stat))
            if stat.threads <= 1 {
                if let text = readSmallFile("/proc/\(next)/task/\(next)/children") {
                    queue += text.split(separator: " ").compactMap { Int32($0) }
                }
            } else {
                queue += children(of: next)
            }
        }
        return result
    }

    static func forEachProcess(_ body: (Int32, Stat) -> Void) {
        guard let dir = opendir("/proc") else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = Int32(name), let stat = stat(of: pid) else { continue }
            body(pid, stat)
        }
    }

    /// Reads a /proc file whole with one open and read (they are generated on read).
    public static func readSmallFile(_ path: String, limit: Int = 65_536) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var data: [UInt8] = []
        while data.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The daemon's own process, closed to its agents.
public enum DaemonHardening {
    /// Not dumpable: `/proc/<daemon>/environ` and `mem` become root's only, and no agent of
    /// the daemon's own uid can ptrace it (PR_SET_DUMPABLE 0).
    public static func closeProcFiles() {
        _ = par_set_not_dumpable()
    }

    /// Memory taken for a flood of log lines goes back to the kernel once it is freed.
    public static func returnMemoryAfterBursts() {
        par_tune_allocator()
    }
}

/// Reaping of what is not watched by a pidfd: orphans that re-parented to the daemon.
public enum OrphanReaper {
    /// Makes the daemon the reaper of its agents' orphans (PR_SET_CHILD_SUBREAPER).
    public static func becomeSubreaper() {
        _ = par_set_child_subreaper()
    }

    /// Reaps exited children that are not in `managed` (those belong to the reactor).
    /// Only by explicit pid: a wait on any child would steal the reactor's exits.
    public static func reapOrphans(excluding managed: Set<Int32>) {
        for child in ProcTable.children(of: getpid()) where !managed.contains(child) {
            guard let stat = ProcTable.stat(of: child), stat.state == "Z" else { continue }
            var status: Int32 = 0
            waitpid(child, &status, WNOHANG)
        }
    }
}
