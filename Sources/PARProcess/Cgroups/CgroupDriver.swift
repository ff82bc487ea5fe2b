import Foundation
import PARCore

#if canImport(Glibc)
import Glibc
#endif

/// One agent's cgroup: a folder per v1 hierarchy, or one folder on v2. On a v1 (hybrid)
/// machine it also has a controller-less folder in the unified hierarchy that holds every
/// process the agent starts, whatever it does (new session, double fork), so a stop kills
/// them all; it costs a `mkdir`, not the 12 ms of a v1 memory cgroup.
public struct AgentCgroup: Sendable, Equatable {
    public var name: String
    /// Controller (`memory`, `cpu`, `pids`, `cpuacct`) to folder; on v2 every key maps to the same folder.
    /// Empty on v1 for an agent without limits (only `tracking` then).
    public var directories: [String: String]
    /// On v2 the child is created inside the folder; on v1 it writes itself into each hierarchy.
    public var version: CgroupVersion
    /// The agent's folder in the unified (cgroup2) hierarchy of a v1 machine.
    public var tracking: String?
    public var procsFiles: [String] { version == .v1 ? Array(Set(directories.values)).sorted().map { $0 + "/cgroup.procs" } : [] }
    public var cloneDirectory: String? { version == .v2 ? directories["memory"] : tracking }
    /// The folder to show users.
    public var displayPath: String { directories["memory"] ?? tracking ?? directories.values.sorted().first ?? "" }
    /// Where `cgroup.kill` ends every process of the agent at once.
    var killDirectory: String? { version == .v2 ? directories["memory"] : tracking }
    var allDirectories: Set<String> { Set(directories.values).union(tracking.map { [$0] } ?? []) }
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
    /// On v1: this daemon's instance folder in the unified hierarchy, when the kernel has one.
    public let tracking: String?
    static let v1Controllers = ["memory", "cpu", "pids"]
    static let agentPrefix = "agent-"

    init(backend: Backend, tracking: String? = nil) {
        self.backend = backend
        self.tracking = tracking
    }

    /// Every agent gets a cgroup (cheap here), so none of its processes can escape a stop.
    public var tracksEveryAgent: Bool {
        switch backend {
        case .v2: true
        case .v1: tracking != nil
        case .none: false
        }
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
        if let tracking { rmdir(tracking) }
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
            return CgroupDriver(backend: try prepareV1(bases: bases, instance: instance), tracking: prepareTracking(root: root, path: paths[""], instance: instance))
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

    /// The unified hierarchy of a hybrid machine (`<root>/unified`, no controllers): a
    /// folder below the daemon's own cgroup there, or nil when there is none.
    private static func prepareTracking(root: String, path: String?, instance: String) -> String? {
        let unified = root + "/unified"
        guard let path, FileManager.default.fileExists(atPath: unified + "/cgroup.procs") else { return nil }
        let directory = join(unified, path) + "/par-\(instance)"
        guard (try? makeDirectory(directory)) != nil else { return nil }
        removeLeftovers(in: [directory], version: .v2)
        return directory
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

    // MARK: - Weight

    /// On cgroup v2 gives the folder that holds every agent `cpu.weight.nice` = `nice`
    /// (clamped to -20...19), so under load all agents together weigh against the daemon as
    /// one process at that nice would against one at 0. Autogroups do not reach a daemon in
    /// a cgroup other than the root (a systemd service on v2), so this is the lever there; the
    /// folder is below the daemon's own cgroup, so it needs no privilege and changes nothing
    /// for other services. Returns false where there is no v2 instance folder.
    @discardableResult
    public func weighAgents(nice: Int) throws(CgroupError) -> Bool {
        guard case .v2(let directory) = backend else { return false }
        try Self.write(String(min(19, max(-20, nice))), to: directory + "/cpu.weight.nice")
        return true
    }

    // MARK: - Agents

    /// - Parameter controllers: on v1, also the memory/cpu/pids folders (for limits);
    ///   without them the agent has only its tracking folder.
    public func create(agent: String, limits: ResourceLimits, controllers: Bool = true) throws(CgroupError) -> AgentCgroup {
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
            if let tracking {
                group.tracking = tracking + "/" + name
                try Self.makeDirectory(tracking + "/" + name)
            }
            if controllers {
                for (controller, instance) in instances {
                    let directory = instance + "/" + name
                    do {
                        try Self.makeDirectory(directory)
                    } catch {
                        remove(group)
                        throw error
                    }
                    group.directories[controller] = directory
                }
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

    /// Kills every process in the cgroup: SIGKILL to each member, again while new ones
    /// appear (a fork racing the kill). The cgroup stays usable for the agent's next run.
    ///
    /// Not `cgroup.kill`: on the kernel here (6.18) a child later cloned into a cgroup that
    /// was once killed that way is killed at birth (the kill sequence is compared with the
    /// parent's cgroup), which would kill every restart. `destroy` uses it, since the
    /// folder is removed right after.
    public func kill(_ group: AgentCgroup) {
        for _ in 0..<8 {
            let pids = members(group)
            if pids.isEmpty { return }
            for pid in pids { Glibc.kill(pid, SIGKILL) }
        }
    }

    /// Kills every process of a cgroup that is about to be removed, forks included.
    func killForGood(_ group: AgentCgroup) {
        if let directory = group.killDirectory, (try? Self.write("1", to: directory + "/cgroup.kill")) != nil {
            return
        }
        kill(group)
    }

    public func members(_ group: AgentCgroup) -> [Int32] {
        var pids = Set<Int32>()
        for directory in group.allDirectories {
            let text = ProcTable.readSmallFile(directory + "/cgroup.procs", limit: 1 << 20) ?? ""
            for line in text.split(separator: "\n") { if let pid = Int32(line) { pids.insert(pid) } }
        }
        return pids.sorted()
    }

    /// Removes the folders; false if some could not be removed yet (processes still exiting).
    @discardableResult
    public func remove(_ group: AgentCgroup) -> Bool {
        var removed = true
        for directory in group.allDirectories {
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
            killForGood(group)
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
