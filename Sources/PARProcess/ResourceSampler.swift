import Foundation
import PARCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reads /proc for each agent's process tree and keeps the latest figures, so status
/// answers from this cache and never waits on sampling.
public final class ResourceSampler: Sendable {
    private struct Previous {
        var cpuSeconds: Double
        var at: Double
        /// Open fds and I/O counters cost a folder listing and a file read per process, so
        /// they are refreshed every `slowFieldsEvery` samples and carried over in between.
        var samples = 0
        var fds = 0
        var io: ResourceUsage.IO?
    }

    static let slowFieldsEvery = 6

    private let cache = Mutex<[String: ResourceUsage]>([:])
    private let previous = Mutex<[String: Previous]>([:])
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    private let memoryTotal: UInt64 = ResourceSampler.readMemoryTotal()

    public init() {}

    public func latest(for key: String) -> ResourceUsage? {
        cache.withLock { $0[key] }
    }

    public func forget(_ key: String) {
        cache.withLock { _ = $0.removeValue(forKey: key) }
        previous.withLock { _ = $0.removeValue(forKey: key) }
    }

    /// Samples every target given and drops cached figures for keys not given.
    /// `cgroupUsage` reads the agent's cgroup, where it has one.
    public func sample(_ targets: [(key: String, pid: Int32)], cgroupUsage: (String) -> CgroupUsage? = { _ in nil }) {
        var fresh: [String: ResourceUsage] = [:]
        for target in targets {
            if var usage = measure(key: target.key, pid: target.pid) {
                usage.cgroup = cgroupUsage(target.key)
                fresh[target.key] = usage
            }
        }
        let keep = Set(targets.map(\.key))
        cache.withLock { current in
            current = fresh
        }
        previous.withLock { all in
            for key in all.keys where !keep.contains(key) { all.removeValue(forKey: key) }
        }
    }

    public func measure(key: String, pid: Int32) -> ResourceUsage? {
        let now = Date()
        let last = previous.withLock { $0[key] }
        let refreshSlowFields = last.map { $0.samples % Self.slowFieldsEvery == 0 } ?? true
        var rssPages: UInt64 = 0, vms: UInt64 = 0, userTicks: UInt64 = 0, systemTicks: UInt64 = 0
        var threads = 0, fds = 0, processes = 0
        var io = ResourceUsage.IO(readBytes: 0, writeBytes: 0, readCount: 0, writeCount: 0)
        var ioReadable = true
        for (member, stat) in ProcTable.treeWithStats(of: pid) where stat.state != "Z" {
            processes += 1
            rssPages += stat.residentPages
            vms += stat.virtualBytes
            userTicks += stat.userTicks
            systemTicks += stat.systemTicks
            threads += stat.threads
            guard refreshSlowFields else { continue }
            fds += Self.countFDs(member)
            if ioReadable, let reading = Self.readIO(member) {
                io.readBytes += reading.readBytes
                io.writeBytes += reading.writeBytes
                io.readCount += reading.readCount
                io.writeCount += reading.writeCount
            } else {
                ioReadable = false
            }
        }
        guard processes > 0 else { return nil }
        if !refreshSlowFields, let last {
            fds = last.fds
            if let carried = last.io { io = carried } else { ioReadable = false }
        }
        let user = Double(userTicks) / ticksPerSecond
        let system = Double(systemTicks) / ticksPerSecond
        let monotonic = Self.monotonicSeconds()
        let percent = previous.withLock { all -> Double in
            defer {
                all[key] = Previous(cpuSeconds: user + system, at: monotonic, samples: (last?.samples ?? 0) + 1, fds: fds, io: ioReadable ? io : nil)
            }
            guard let last = all[key] else { return 0 }
            return ResourceUsage.cpuPercent(previousSeconds: last.cpuSeconds, currentSeconds: user + system, elapsedSeconds: monotonic - last.at)
        }
        let rss = rssPages * pageSize
        let memoryPercent = memoryTotal > 0 ? (Double(rss) / Double(memoryTotal) * 10_000).rounded() / 100 : 0
        return ResourceUsage(
            memory: .init(rssBytes: rss, vmsBytes: vms, percent: memoryPercent),
            cpu: .init(percent: percent, userTime: user, systemTime: system),
            io: ioReadable ? io : nil,
            numThreads: threads, numFDs: fds, numProcesses: processes, sampledAt: now
        )
    }

    static func countFDs(_ pid: Int32) -> Int {
        guard let dir = opendir("/proc/\(pid)/fd") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 } // skip . and ..
        }
        return count
    }

    static func readIO(_ pid: Int32) -> ResourceUsage.IO? {
        guard let text = ProcTable.readSmallFile("/proc/\(pid)/io"), !text.isEmpty else { return nil }
        var values: [Substring: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":")
            if parts.count == 2, let value = UInt64(parts[1].trimmingCharacters(in: .whitespaces)) { values[parts[0]] = value }
        }
        return ResourceUsage.IO(
            readBytes: values["read_bytes"] ?? 0, writeBytes: values["write_bytes"] ?? 0,
            readCount: values["syscr"] ?? 0, writeCount: values["syscw"] ?? 0
        )
    }

    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func readMemoryTotal() -> UInt64 {
        guard let text = ProcTable.readSmallFile("/proc/meminfo"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") })
        else { return 0 }
        let kb = line.split(separator: " ").compactMap { UInt64($0) }.first ?? 0
        return kb * 1024
    }
}
