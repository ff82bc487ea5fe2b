/// Per-agent limits as asked for in a spawn request.
public struct ResourceLimits: Sendable, Equatable {
    public var memoryMB: Int?
    /// Swap on top of memory; needs `memoryMB`.
    public var memorySwapMB: Int?
    /// Cores, e.g. 0.5 or 2.0.
    public var cpu: Double?
    /// Most tasks (processes and threads) at once: the fork-bomb guard.
    public var pidsLimit: Int?
    /// -20 (first) to 19 (last). Applied without a cgroup, so it is always enforced.
    public var nice: Int

    public init(memoryMB: Int? = nil, memorySwapMB: Int? = nil, cpu: Double? = nil, pidsLimit: Int? = nil, nice: Int = 0) {
        self.memoryMB = memoryMB
        self.memorySwapMB = memorySwapMB
        self.cpu = cpu
        self.pidsLimit = pidsLimit
        self.nice = nice
    }

    /// True when no limit needs a cgroup.
    public var needsNoCgroup: Bool { memoryMB == nil && memorySwapMB == nil && cpu == nil && pidsLimit == nil }
}

public enum CgroupVersion: String, Sendable {
    case v1
    case v2
}

/// One value to write into one control file of an agent's cgroup.
public struct CgroupWrite: Sendable, Equatable, CustomStringConvertible {
    /// The v1 hierarchy it belongs to (`memory`, `cpu`, `pids`); unused for v2.
    public var controller: String
    public var file: String
    public var value: String

    public init(_ controller: String, _ file: String, _ value: String) {
        self.controller = controller
        self.file = file
        self.value = value
    }

    public var description: String { "\(controller)/\(file)=\(value)" }
}

/// Turns limits into control-file writes. Pure, so every mapping is unit tested.
public enum CgroupSettings {
    /// The CFS period: quotas are fractions of it.
    public static let cpuPeriodMicros = 100_000

    public static func writes(for limits: ResourceLimits, version: CgroupVersion) -> [CgroupWrite] {
        let memoryBytes = limits.memoryMB.map { $0 << 20 }
        let swapBytes = limits.memorySwapMB.map { $0 << 20 }
        let quota = limits.cpu.map { max(1_000, Int(($0 * Double(cpuPeriodMicros)).rounded())) }
        // Every file is written, "unlimited" included, so applying fewer limits to a
        // reused cgroup lifts the earlier ones.
        switch version {
        case .v2:
            return [
                CgroupWrite("memory", "memory.max", memoryBytes.map(String.init) ?? "max"),
                CgroupWrite("memory", "memory.swap.max", swapBytes.map(String.init) ?? "max"),
                // An OOM kill takes the whole agent, never half of it.
                CgroupWrite("memory", "memory.oom.group", "1"),
                CgroupWrite("cpu", "cpu.max", "\(quota.map(String.init) ?? "max") \(cpuPeriodMicros)"),
                CgroupWrite("pids", "pids.max", limits.pidsLimit.map(String.init) ?? "max"),
            ]
        case .v1:
            // memory.limit_in_bytes may never exceed memsw, so memsw is lifted first and
            // set to memory plus swap last.
            var writes = [
                CgroupWrite("memory", "memory.memsw.limit_in_bytes", "-1"),
                CgroupWrite("memory", "memory.limit_in_bytes", memoryBytes.map(String.init) ?? "-1"),
            ]
            if let memoryBytes, let swapBytes {
                writes.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", String(memoryBytes + swapBytes)))
            }
            writes += [
                CgroupWrite("cpu", "cpu.cfs_period_us", String(cpuPeriodMicros)),
                CgroupWrite("cpu", "cpu.cfs_quota_us", quota.map(String.init) ?? "-1"),
                CgroupWrite("pids", "pids.max", limits.pidsLimit.map(String.init) ?? "max"),
            ]
            return writes
        }
    }
}

/// Which agents get a cgroup of their own.
public enum CgroupPlacement {
    /// On v2 every agent does: it is created inside its cgroup (CLONE_INTO_CGROUP) at no
    /// extra cost. On v1 a process must migrate into its cgroups, and the kernel takes a
    /// global lock with an RCU grace period for that (~12 ms measured here per start), so
    /// only agents with limits get one there, unless `everyAgent` asks for all.
    public static func wantsCgroup(version: CgroupVersion?, limits: ResourceLimits, everyAgent: Bool) -> Bool {
        switch version {
        case nil: false
        case .v2: true
        case .v1: everyAgent || !limits.needsNoCgroup
        }
    }
}
