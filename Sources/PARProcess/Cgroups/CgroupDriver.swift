import Foundation
import PARCore

#if canImport(Glibc)
import Glibc
#endif

/// One agent's cgroup: a folder per v1 hierarchy, or one folder on v2.
public struct AgentCgroup: Sendable, Equatable {
    public var name: String
    /// Controller (`memory`, `cpu`, `pids`, `cpuacct`) to folder; on v2 every key maps to the same folder.
    public var directories: [String: String]
    /// On v2 the child is created inside the folder; on v1 it writes itself into each hierarchy.
    public var version: CgroupVersion
    public var procsFiles: [String] { version == .v1 ? Array(Set(directories.values)).sorted().map { $0 + "/cgroup.procs" } : [] }
    public var cloneDirectory: String? { version == .v2 ? directories["memory"] : nil }
    /// The folder to show users.
    public var displayPath: String { directories["memory"] ?? directories.values.sorted().first ?? "" }
}

public enum CgroupError: Error, Sendable, CustomStringConvertible {
    case unavailable(String)
    case io(path: String, errno: Int32)

    public var description: String {
        switch self {
        case .unavailable(let reason): reason
        case .io(let path, let e): "\(path): \(String(cString: strerror(e)))"
        }
    }
}

/// The cgroup mechanism: finds the supervisor's own cgroup, creates one cgroup per agent
/// below it (never elsewhere), writes limits, reads usage and OOM kills, kills and removes.
///
/// Layout: `<own cgroup>/par-<instance>/agent-<agent id>`, one `<instance>` per data dir, so
/// daemons side by side never touch each other's agents.
public final class CgroupDriver: Sendable {
    public enum Backend: Sendable, Equatable {
        case v2(instanceDirectory: String)
        case v1(instanceDirectories: [String: String])
        case none(reason: String)

        public var name: String {
            switch self {
            case .v2: "cgroup-v2"
            case .v1: "cgroup-v1"
            case .none: "none"
            }
        }
    }

    public let backend: Backend
    static let v1Controllers = ["memory", "cpu", "pids"]
    static let agentPrefix = "agent-"

    init(backend: Backend) {
        self.backend = backend
    }

    public static func disabled(reason: String) -> CgroupDriver {
        CgroupDriver(backend: .none(reason: reason))
    }

    /// Removes this daemon's instance folder(s) at shutdown, once every agent is gone.
    public func removeInstance() {
        switch backend {
        case .v2(let directory): rmdir(directory)
        case .v1(let directories): for directory in Set(directories.values) { rmdir(directory) }
        case .none: break
        }
    }

    public var version: CgroupVersion? {
        switch backend {
        case .v1: .v1
        case .v2: .v2
        case .none: nil
        }
    }

    // MARK: - Detection

    /// Finds a usable backend and creates the instance folder(s); removes leftovers of an
    /// earlier daemon with the same instance name (killing what still runs in them).
    /// - Parameters:
    ///   - root: where cgroupfs is mounted (`/sys/fs/cgroup`).
    ///   - selfCgroup: the text of /proc/self/cgroup.
    public static func start(root: String = "/sys/fs/cgroup", selfCgroup: String? = nil, instance: String, moveSelfPID: Int32 = getpid()) -> CgroupDriver {
        let membership = selfCgroup ?? ProcTable.readSmallFile("/proc/self/cgroup") ?? ""
        let paths = parseSelfCgroup(membership)
        do {
            if let unified = paths[""], FileManager.default.fileExists(atPath: root + "/cgroup.controllers") {
                return CgroupDriver(backend: try prepareV2(base: join(root, unified), instance: instance, selfPID: moveSelfPID))
            }
            var bases: [String: String] = [:]
            for controller in v1Controllers + ["cpuacct"] {
                if let path = paths[controller], FileManager.default.fileExists(atPath: root + "/" + controller) {
                    bases[controller] = join(root + "/" + controller, path)
                }
            }
            let missing = v1Controllers.filter { bases[$0] == nil }
            guard missing.isEmpty else {
                throw CgroupError.unavailable("no cgroup v2 with controllers at \(root) and no cgroup v1 hierarchy for \(missing.joined(separator: ", "))")
            }
            return CgroupDriver(backend: try prepareV1(bases: bases, instance: instance))
        } catch {
            return CgroupDriver(backend: .none(reason: "\(error)"))
        }
    }

    /// `/proc/self/cgroup` lines `ID:controllers:path` to controller → path; "" is the v2 entry.
    public static func parseSelfCgroup(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[1].isEmpty {
                result[""] = path
            } else {
                for controller in parts[1].split(separator: ",") { result[String(controller)] = path }
            }
        }
        return result
    }

    private static func prepareV2(base: String, instance: String, selfPID: Int32) throws -> Backend {
        let needed = ["memory", "cpu", "pids"]
        let available = (try? String(contentsOfFile: base + "/cgroup.controllers", encoding: .utf8))?.split(whereSeparator: \.isWhitespace).map(String.init) ?? []
        let missing = needed.filter { !available.contains($0) }
        guard missing.isEmpty else {
            throw CgroupError.unavailable("cgroup v2 at \(base) lacks the \(missing.joined(separator: ", ")) controller(s); delegate them to the supervisor's cgroup")
        }
        let enable = "+memory +cpu +pids"
        if (try? write(enable, to: base + "/cgroup.subtree_control")) == nil {
            // "No internal processes": a cgroup that holds processes cannot hand controllers
            // to children. Move the supervisor into a leaf of its own, then try again.
            let leaf = base + "/par-supervisor-\(instance)"
            try makeDirectory(leaf)
            try write(String(selfPID), to: leaf + "/cgroup.procs")
            try write(enable, to: base + "/cgroup.subtree_control")
        }
        let directory = base + "/par-\(instance)"
        try makeDirectory(directory)
        try write(enable, to: directory + "/cgroup.subtree_control")
        removeLeftovers(in: [directory], version: .v2)
        return .v2(instanceDirectory: directory)
    }

    private static func prepareV1(bases: [String: String], instance: String) throws -> Backend {
        var directories: [String: String] = [:]
        for (controller, base) in bases {
            let directory = base + "/par-\(instance)"
            do {
                try makeDirectory(directory)
            } catch {
                if v1Controllers.contains(controller) { throw error } else { continue }
            }
            directories[controller] = directory
        }
        removeLeftovers(in: Array(Set(directories.values)), version: .v1)
        return .v1(instanceDirectories: directories)
    }

    // MARK: - Agents

    public func create(agent: String, limits: ResourceLimits) throws(CgroupError) -> AgentCgroup {
        let name = Self.agentPrefix + agent
        var group = AgentCgroup(name: name, directories: [:], version: version ?? .v1)
        switch backend {
        case .none(let reason):
            throw .unavailable(reason)
        case .v2(let instance):
            let directory = instance + "/" + name
            try Self.makeDirectory(directory)
            for controller in ["memory", "cpu", "pids"] { group.directories[controller] = directory }
        case .v1(let instances):
            for (controller, instance) in instances {
                let directory = instance + "/" + name
                try Self.makeDirectory(directory)
                group.directories[controller] = directory
            }
        }
        do {
            try apply(limits, to: group)
        } catch {
            remove(group)
            throw error
        }
        return group
    }

    /// Writes the limits (all of them, so a restart with fewer limits lifts the old ones).
    public func apply(_ limits: ResourceLimits, to group: AgentCgroup) throws(CgroupError) {
        guard let version else { return }
        for write in CgroupSettings.writes(for: limits, version: version) {
            guard let directory = group.directories[write.controller] else { continue }
            let path = directory + "/" + write.file
            do {
                try Self.write(write.value, to: path)
            } catch {
                // Optional files (memory.oom.group, swap accounting) may be absent on some kernels.
                let optional = write.file == "memory.oom.group" || (write.file.contains("swap") || write.file.contains("memsw")) && (limits.memorySwapMB == nil || write.value == "-1")
                if !optional { throw error }
            }
        }
    }

    /// Kills every process in the cgroup (v2 `cgroup.kill`, else SIGKILL to each listed pid).
    public func kill(_ group: AgentCgroup) {
        if case .v2 = backend, let directory = group.directories["memory"],
           (try? Self.write("1", to: directory + "/cgroup.kill")) != nil {
            return
        }
        for pid in members(group) { Glibc.kill(pid, SIGKILL) }
    }

    public func members(_ group: AgentCgroup) -> [Int32] {
        var pids = Set<Int32>()
        for directory in Set(group.directories.values) {
            let text = ProcTable.readSmallFile(directory + "/cgroup.procs", limit: 1 << 20) ?? ""
            for line in text.split(separator: "\n") { if let pid = Int32(line) { pids.insert(pid) } }
        }
        return pids.sorted()
    }

    /// Removes the folders; false if some could not be removed yet (processes still exiting).
    @discardableResult
    public func remove(_ group: AgentCgroup) -> Bool {
        var removed = true
        for directory in Set(group.directories.values) {
            if rmdir(directory) != 0 && errno != ENOENT { removed = false }
        }
        return removed
    }

    /// Kills what is left and removes the folders, waiting up to `timeout` for the kernel
    /// to let the last processes go.
    public func destroy(_ group: AgentCgroup, timeout: Duration = .seconds(5)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            kill(group)
            if remove(group) { return true }
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    public func usage(_ group: AgentCgroup) -> CgroupUsage {
        var usage = CgroupUsage(oomKills: 0)
        func number(_ controller: String, _ file: String) -> UInt64? {
            guard let directory = group.directories[controller],
                  let text = ProcTable.readSmallFile(directory + "/" + file)?.trimmingCharacters(in: .whitespacesAndNewlines)
            else { return nil }
            return UInt64(text)
        }
        func keyed(_ controller: String, _ file: String) -> [String: UInt64] {
            guard let directory = group.directories[controller], let text = ProcTable.readSmallFile(directory + "/" + file) else { return [:] }
            var values: [String: UInt64] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
            }
            return values
        }
        switch backend {
        case .none:
            break
        case .v2:
            usage.memoryBytes = number("memory", "memory.current")
            usage.memoryPeakBytes = number("memory", "memory.peak")
            usage.memoryLimitBytes = number("memory", "memory.max")
            let cpu = keyed("cpu", "cpu.stat")
            usage.cpuUsageSeconds = cpu["usage_usec"].map { Double($0) / 1e6 }
            usage.throttledSeconds = cpu["throttled_usec"].map { Double($0) / 1e6 }
            usage.throttledPeriods = cpu["nr_throttled"]
            usage.cpuQuotaCores = Self.v2Quota(group.directories["cpu"].flatMap { ProcTable.readSmallFile($0 + "/cpu.max") })
            usage.pidsCurrent = number("pids", "pids.current")
            usage.pidsLimit = number("pids", "pids.max")
            usage.oomKills = keyed("memory", "memory.events")["oom_kill"] ?? 0
        case .v1:
            usage.memoryBytes = number("memory", "memory.usage_in_bytes")
            usage.memoryPeakBytes = number("memory", "memory.max_usage_in_bytes")
            usage.memoryLimitBytes = number("memory", "memory.limit_in_bytes").flatMap { $0 >= (1 << 62) ? nil : $0 }
            usage.cpuUsageSeconds = number("cpuacct", "cpuacct.usage").map { Double($0) / 1e9 }
            let cpu = keyed("cpu", "cpu.stat")
            usage.throttledSeconds = cpu["throttled_time"].map { Double($0) / 1e9 }
            usage.throttledPeriods = cpu["nr_throttled"]
            if let quotaText = group.directories["cpu"].flatMap({ ProcTable.readSmallFile($0 + "/cpu.cfs_quota_us") })?.trimmingCharacters(in: .whitespacesAndNewlines),
               let quota = Int64(quotaText), quota > 0,
               let period = number("cpu", "cpu.cfs_period_us"), period > 0 {
                usage.cpuQuotaCores = Double(quota) / Double(period)
            }
            usage.pidsCurrent = number("pids", "pids.current")
            usage.pidsLimit = number("pids", "pids.max")
            usage.oomKills = keyed("memory", "memory.oom_control")["oom_kill"] ?? 0
        }
        return usage
    }

    /// OOM kills the kernel has made in this cgroup so far.
    public func oomKills(_ group: AgentCgroup) -> UInt64 {
        switch backend {
        case .v2:
            guard let directory = group.directories["memory"], let text = ProcTable.readSmallFile(directory + "/memory.events") else { return 0 }
            return Self.field("oom_kill", in: text) ?? 0
        case .v1:
            guard let directory = group.directories["memory"], let text = ProcTable.readSmallFile(directory + "/memory.oom_control") else { return 0 }
            return Self.field("oom_kill", in: text) ?? 0
        case .none:
            return 0
        }
    }

    static func field(_ name: String, in text: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return UInt64(parts[1]) }
        }
        return nil
    }

    static func v2Quota(_ text: String?) -> Double? {
        guard let parts = text?.split(whereSeparator: \.isWhitespace), parts.count == 2,
              let quota = Double(parts[0]), let period = Double(parts[1]), period > 0 else { return nil }
        return quota / period
    }

    // MARK: - Files

    private static func removeLeftovers(in instanceDirectories: [String], version: CgroupVersion) {
        for instance in instanceDirectories {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: instance)) ?? []
            for child in children where child.hasPrefix(agentPrefix) {
                let directory = instance + "/" + child
                if version == .v2, (try? write("1", to: directory + "/cgroup.kill")) != nil { } else {
                    let text = ProcTable.readSmallFile(directory + "/cgroup.procs", limit: 1 << 20) ?? ""
                    for line in text.split(separator: "\n") { if let pid = Int32(line) { Glibc.kill(pid, SIGKILL) } }
                }
                for _ in 0..<200 where rmdir(directory) != 0 && errno == EBUSY { usleep(5_000) }
            }
        }
    }

    static func join(_ base: String, _ path: String) -> String {
        path == "/" || path.isEmpty ? base : base + (path.hasPrefix("/") ? path : "/" + path)
    }

    static func makeDirectory(_ path: String) throws(CgroupError) {
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw .io(path: path, errno: errno) }
    }

    /// One write(2) of the whole value, as cgroupfs expects.
    static func write(_ value: String, to path: String) throws(CgroupError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw .io(path: path, errno: written < 0 ? errno : EIO) }
    }
}
