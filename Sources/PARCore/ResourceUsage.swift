import Foundation

/// The seed's per-process resource block, summed over the agent and its descendants.
public struct ResourceUsage: Sendable, Equatable {
    public struct Memory: Sendable, Equatable {
        public var rssBytes: UInt64
        public var vmsBytes: UInt64
        public var percent: Double
        public init(rssBytes: UInt64, vmsBytes: UInt64, percent: Double) {
            self.rssBytes = rssBytes; self.vmsBytes = vmsBytes; self.percent = percent
        }
    }
    public struct CPU: Sendable, Equatable {
        /// Percent of one core since the previous sample.
        public var percent: Double
        public var userTime: Double
        public var systemTime: Double
        public init(percent: Double, userTime: Double, systemTime: Double) {
            self.percent = percent; self.userTime = userTime; self.systemTime = systemTime
        }
    }
    public struct IO: Sendable, Equatable {
        public var readBytes: UInt64
        public var writeBytes: UInt64
        public var readCount: UInt64
        public var writeCount: UInt64
        public init(readBytes: UInt64, writeBytes: UInt64, readCount: UInt64, writeCount: UInt64) {
            self.readBytes = readBytes; self.writeBytes = writeBytes; self.readCount = readCount; self.writeCount = writeCount
        }
    }

    public var memory: Memory
    public var cpu: CPU
    /// Nil where the kernel does not let the supervisor read /proc/PID/io.
    public var io: IO?
    public var numThreads: Int
    public var numFDs: Int
    public var numProcesses: Int
    public var sampledAt: Date
    /// Figures of the agent's cgroup, where it has one.
    public var cgroup: CgroupUsage?


    public init(memory: Memory, cpu: CPU, io: IO?, numThreads: Int, numFDs: Int, numProcesses: Int, sampledAt: Date) {
        self.memory = memory
        self.cpu = cpu
        self.io = io
        self.numThreads = numThreads
        self.numFDs = numFDs
        self.numProcesses = numProcesses
        self.sampledAt = sampledAt
    }

    /// CPU percent of one core between two readings of cumulative CPU seconds.
    public static func cpuPercent(previousSeconds: Double, currentSeconds: Double, elapsedSeconds: Double) -> Double {
        guard elapsedSeconds > 0, currentSeconds >= previousSeconds else { return 0 }
        return ((currentSeconds - previousSeconds) / elapsedSeconds * 1000).rounded() / 10
    }
}

/// Usage and limit figures of one agent's cgroup (the agent and all its descendants).
public struct CgroupUsage: Sendable, Equatable {
    public init(oomKills: UInt64) {
        self.oomKills = oomKills
    }

    public var memoryBytes: UInt64?
    public var memoryPeakBytes: UInt64?
    public var memoryLimitBytes: UInt64?
    public var cpuUsageSeconds: Double?
    public var cpuQuotaCores: Double?
    public var throttledSeconds: Double?
    public var throttledPeriods: UInt64?
    public var pidsCurrent: UInt64?
    public var pidsLimit: UInt64?
    public var oomKills: UInt64
}

