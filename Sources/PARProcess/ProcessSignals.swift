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
        // Members still in the session's own group got it already: a second SIGTERM would
        // run a program's handler twice.
        for pid in ProcTable.sessionMembers(sessionID, outsideGroup: sessionID) {
            kill(pid, signal)
        }
    }
}

/// Reads of /proc: who is in a session, who descends from whom.
public enum ProcTable {
    /// Live (non-zombie) pids whose session id is `sessionID`.
    /// - Parameter outsideGroup: leave out members of this process group.
    public static func sessionMembers(_ sessionID: Int32, outsideGroup: Int32? = nil) -> [Int32] {
        var members: [Int32] = []
        forEachProcess { pid, stat in
            if stat.session == sessionID && stat.state != "Z" && stat.state != "X" && stat.group != outsideGroup { members.append(pid) }
        }
        return members
    }

    /// The fields of /proc/PID/stat the supervisor uses.
    public struct Stat: Sendable, Equatable {
        public var state: Character
        public var parent: Int32
        public var group: Int32
        public var session: Int32
        public var userTicks: UInt64
        public var systemTicks: UInt64
        public var threads: Int
        public var startTicks: UInt64
        public var virtualBytes: UInt64
        public var residentPages: UInt64
    }

    public static func stat(of pid: Int32) -> Stat? {
        var path = "/proc/"
        path += String(pid)
        path += "/stat"
        return readSmallFileBytes(path, limit: 4096).flatMap(parseStat(bytes:))
    }

    /// Parses /proc/PID/stat; the command name may hold spaces and parentheses, so
    /// fields are counted from the last ')'.
    public static func parseStat(_ text: String) -> Stat? {
        parseStat(bytes: Array(text.utf8))
    }

    /// The same over bytes, without building strings: a session sweep reads the stat of
    /// every process on the machine.
    public static func parseStat(bytes: [UInt8]) -> Stat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // fields[0] is field 3 (state) of proc(5); 22 fields are wanted.
        var fields: [Range<Int>] = []
        fields.reserveCapacity(22)
        var index = close + 1
        while index < bytes.count, fields.count < 22 {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: " "), bytes[index] != UInt8(ascii: "\n") { index += 1 }
            if index > start { fields.append(start..<index) }
            if index < bytes.count, bytes[index] == UInt8(ascii: "\n") { break }
        }
        func digits(_ range: Range<Int>) -> UInt64? {
            guard !range.isEmpty else { return nil }
            var value: UInt64 = 0
            for byte in bytes[range] {
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(UInt64(byte - 0x30))
                guard !overflowA, !overflowB else { return nil }
                value = sum
            }
            return value
        }
        func number(_ field: Int) -> UInt64? { digits(fields[field]) }
        func signed(_ field: Int) -> Int64? {
            let range = fields[field]
            let negative = bytes[range.lowerBound] == UInt8(ascii: "-")
            guard let magnitude = digits(negative ? (range.lowerBound + 1)..<range.upperBound : range),
                  magnitude <= UInt64(Int64.max) else { return nil }
            return negative ? -Int64(magnitude) : Int64(magnitude)
        }
        guard fields.count >= 22, fields[0].count == 1,
              let parent = signed(1).flatMap(Int32.init(exactly:)), let group = signed(2).flatMap(Int32.init(exactly:)), let session = signed(3).flatMap(Int32.init(exactly:)),
              let utime = number(11), let stime = number(12),
              let threads = signed(17).flatMap(Int.init(exactly:)), let start = number(19),
              let vsize = number(20), let rss = signed(21)
        else { return nil }
        let state = Character(Unicode.Scalar(bytes[fields[0].lowerBound]))
        return Stat(state: state, parent: parent, group: group, session: session, userTicks: utime, systemTicks: stime,
                    threads: threads, startTicks: start, virtualBytes: vsize, residentPages: UInt64(max(0, rss)))
    }

    /// Live pids any of whose uids (real, effective, saved, filesystem) is `uid`, from
    /// /proc/PID/status (a process that made itself non-dumpable still says its uids there).
    public static func processes(ofUID uid: UInt32) -> [Int32] {
        var found: [Int32] = []
        forEachProcess { pid, stat in
            guard stat.state != "Z", stat.state != "X", let status = readSmallFile("/proc/\(pid)/status"),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return }
            if line.split(whereSeparator: \.isWhitespace).dropFirst().contains(where: { UInt32($0) == uid }) { found.append(pid) }
        }
        return found
    }

    /// Kills every process of `uid` until none is left (a uid given back is then clean for
    /// its next holder); each round catches what forked during the one before.
    public static func killAll(ofUID uid: UInt32, rounds: Int = 20) {
        for _ in 0..<rounds {
            let pids = processes(ofUID: uid)
            if pids.isEmpty { return }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(2_000)
        }
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
            // Only numeric names are processes; parsed from the bytes, no string per entry.
            let pid = withUnsafeBytes(of: entry.pointee.d_name) { raw -> Int32? in
                var value: Int32 = 0
                var digits = 0
                for byte in raw {
                    if byte == 0 { break }
                    guard byte >= 0x30, byte <= 0x39, digits < 9 else { return nil }
                    value = value * 10 + Int32(byte - 0x30)
                    digits += 1
                }
                return digits > 0 ? value : nil
            }
            guard let pid, let stat = stat(of: pid) else { continue }
            body(pid, stat)
        }
    }

    /// Reads a /proc file whole with one open and read (they are generated on read).
    public static func readSmallFile(_ path: String, limit: Int = 65_536) -> String? {
        readSmallFileBytes(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func readSmallFileBytes(_ path: String, limit: Int = 65_536) -> [UInt8]? {
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
        return data
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
