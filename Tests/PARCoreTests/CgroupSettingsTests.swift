import PARCore
import Testing

/// The writes as `controller/file=value` strings, in order.
private func settings(_ limits: ResourceLimits, _ version: CgroupVersion) -> [String] {
    CgroupSettings.writes(for: limits, version: version).map(\.description)
}

/// The value written to `file`, if any (nil when the file is not written at all).
private func value(of file: String, _ limits: ResourceLimits, _ version: CgroupVersion) -> String? {
    CgroupSettings.writes(for: limits, version: version).first { $0.file == file }?.value
}

private func files(_ limits: ResourceLimits, _ version: CgroupVersion) -> [String] {
    CgroupSettings.writes(for: limits, version: version).map(\.file)
}

@Suite("CgroupSettings for cgroup v2")
struct CgroupSettingsV2Tests {
    @Test func noLimitsWritesMaxEverywhereAndKeepsTheOOMGroup() {
        #expect(settings(ResourceLimits(), .v2) == [
            "memory/memory.max=max",
            "memory/memory.swap.max=max",
            "memory/memory.oom.group=1",
            "cpu/cpu.max=max 100000",
            "pids/pids.max=max",
        ])
    }

    @Test func noSwapLimitLiftsSwap() {
        // Written even when unset, so a reused cgroup loses an earlier swap limit.
        #expect(value(of: "memory.swap.max", ResourceLimits(memoryMB: 64), .v2) == "max")
    }

    @Test func memoryIsWrittenInBytes() {
        #expect(value(of: "memory.max", ResourceLimits(memoryMB: 64), .v2) == "67108864")
    }

    @Test func swapIsWrittenInBytesToMemorySwapMaxOnItsOwn() {
        // v2 swap is separate from memory (not memory + swap as on v1).
        let limits = ResourceLimits(memoryMB: 64, memorySwapMB: 16)
        #expect(value(of: "memory.swap.max", limits, .v2) == "16777216")
        #expect(value(of: "memory.max", limits, .v2) == "67108864")
    }

    @Test func swapSitsWithTheMemoryWritesBeforeCPUAndPids() {
        #expect(settings(ResourceLimits(memoryMB: 64, memorySwapMB: 16), .v2) == [
            "memory/memory.max=67108864",
            "memory/memory.swap.max=16777216",
            "memory/memory.oom.group=1",
            "cpu/cpu.max=max 100000",
            "pids/pids.max=max",
        ])
    }

    @Test func noneOfTheV1FilesAreWritten() {
        let written = files(ResourceLimits(memoryMB: 64, memorySwapMB: 16, cpu: 1, pidsLimit: 8), .v2)
        for v1File in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us"] {
            #expect(!written.contains(v1File))
        }
    }

    @Test(arguments: [
        (0.5, "50000 100000"),
        (2.0, "200000 100000"),
        (1.0, "100000 100000"),
        (0.25, "25000 100000"),
    ])
    func cpuCoresBecomeAQuotaOfTheHundredMillisecondPeriod(cores: Double, expected: String) {
        #expect(value(of: "cpu.max", ResourceLimits(cpu: cores), .v2) == expected)
    }

    @Test func aTinyCPULimitIsRaisedToTheOneMillisecondFloor() {
        #expect(value(of: "cpu.max", ResourceLimits(cpu: 0.001), .v2) == "1000 100000")
    }

    @Test func pidsLimitIsWrittenAsIs() {
        #expect(value(of: "pids.max", ResourceLimits(pidsLimit: 32), .v2) == "32")
    }

    @Test func niceIsNotACgroupSetting() {
        #expect(settings(ResourceLimits(nice: 10), .v2) == settings(ResourceLimits(), .v2))
    }

    @Test func everyLimitAtOnce() {
        #expect(settings(ResourceLimits(memoryMB: 128, memorySwapMB: 32, cpu: 1.5, pidsLimit: 64, nice: 5), .v2) == [
            "memory/memory.max=134217728",
            "memory/memory.swap.max=33554432",
            "memory/memory.oom.group=1",
            "cpu/cpu.max=150000 100000",
            "pids/pids.max=64",
        ])
    }
}

@Suite("CgroupSettings for cgroup v1")
struct CgroupSettingsV1Tests {
    @Test func noLimitsWritesMinusOneForMemoryAndCPUAndMaxForPids() {
        #expect(settings(ResourceLimits(), .v1) == [
            "memory/memory.memsw.limit_in_bytes=-1",
            "memory/memory.limit_in_bytes=-1",
            "cpu/cpu.cfs_period_us=100000",
            "cpu/cpu.cfs_quota_us=-1",
            "pids/pids.max=max",
        ])
    }

    @Test func memoryIsWrittenInBytes() {
        #expect(value(of: "memory.limit_in_bytes", ResourceLimits(memoryMB: 64), .v1) == "67108864")
    }

    @Test func noSwapLimitLiftsMemswFirst() {
        let writes = CgroupSettings.writes(for: ResourceLimits(memoryMB: 64), version: .v1)
        #expect(writes.first == CgroupWrite("memory", "memory.memsw.limit_in_bytes", "-1"))
        #expect(writes.filter { $0.file == "memory.memsw.limit_in_bytes" }.count == 1)
    }

    @Test func swapIsWrittenAsMemoryPlusSwap() {
        let limits = ResourceLimits(memoryMB: 64, memorySwapMB: 16)
        let memsw = CgroupSettings.writes(for: limits, version: .v1).last { $0.file == "memory.memsw.limit_in_bytes" }
        #expect(memsw?.value == "83886080") // 80 MB
        #expect(value(of: "memory.limit_in_bytes", limits, .v1) == "67108864")
    }

    @Test func memswComesAfterMemoryLimitInBytes() throws {
        let written = files(ResourceLimits(memoryMB: 64, memorySwapMB: 16), .v1)
        // memsw is lifted first, then memory is set, then memsw gets memory plus swap.
        let memory = try #require(written.firstIndex(of: "memory.limit_in_bytes"))
        let memsw = try #require(written.lastIndex(of: "memory.memsw.limit_in_bytes"))
        #expect(written.firstIndex(of: "memory.memsw.limit_in_bytes")! < memory)
        #expect(memory < memsw)
    }

    @Test func swapWithoutMemoryWritesNoMemsw() {
        // memsw is a total; without a memory limit there is nothing to add swap to.
        let memsw = CgroupSettings.writes(for: ResourceLimits(memorySwapMB: 16), version: .v1).filter { $0.file == "memory.memsw.limit_in_bytes" }
        #expect(memsw.map(\.value) == ["-1"])
    }

    @Test func theCFSPeriodIsWrittenBeforeTheQuota() throws {
        let written = files(ResourceLimits(cpu: 0.5), .v1)
        let period = try #require(written.firstIndex(of: "cpu.cfs_period_us"))
        let quota = try #require(written.firstIndex(of: "cpu.cfs_quota_us"))
        #expect(period < quota)
    }

    @Test(arguments: [(0.5, "50000"), (2.0, "200000"), (1.0, "100000")])
    func cpuCoresBecomeAQuotaOfTheHundredMillisecondPeriod(cores: Double, expected: String) {
        #expect(value(of: "cpu.cfs_quota_us", ResourceLimits(cpu: cores), .v1) == expected)
        #expect(value(of: "cpu.cfs_period_us", ResourceLimits(cpu: cores), .v1) == "100000")
    }

    @Test func aTinyCPULimitIsRaisedToTheOneMillisecondFloor() {
        #expect(value(of: "cpu.cfs_quota_us", ResourceLimits(cpu: 0.001), .v1) == "1000")
    }

    @Test func pidsLimitIsWrittenAsIs() {
        #expect(value(of: "pids.max", ResourceLimits(pidsLimit: 32), .v1) == "32")
    }

    @Test func eachWriteNamesTheHierarchyItsFileLivesIn() {
        let writes = CgroupSettings.writes(for: ResourceLimits(memoryMB: 64, memorySwapMB: 16, cpu: 1, pidsLimit: 8), version: .v1)
        for write in writes {
            #expect(write.file.hasPrefix(write.controller + "."), "\(write)")
        }
    }

    @Test func everyLimitAtOnce() {
        #expect(settings(ResourceLimits(memoryMB: 128, memorySwapMB: 32, cpu: 1.5, pidsLimit: 64, nice: 5), .v1) == [
            "memory/memory.memsw.limit_in_bytes=-1",
            "memory/memory.limit_in_bytes=134217728",
            "memory/memory.memsw.limit_in_bytes=167772160",
            "cpu/cpu.cfs_period_us=100000",
            "cpu/cpu.cfs_quota_us=150000",
            "pids/pids.max=64",
        ])
    }
}

@Suite("CgroupSettings common")
struct CgroupSettingsCommonTests {
    @Test func thePeriodIsOneHundredMilliseconds() {
        #expect(CgroupSettings.cpuPeriodMicros == 100_000)
    }

    @Test(arguments: [CgroupVersion.v1, .v2])
    func aCPULimitIsRoundedToTheNearestMicrosecond(version: CgroupVersion) {
        // 0.333333 cores * 100000 = 33333.3 -> 33333; 0.666666 * 100000 = 66666.6 -> 66667
        let file = version == .v2 ? "cpu.max" : "cpu.cfs_quota_us"
        let suffix = version == .v2 ? " 100000" : ""
        #expect(value(of: file, ResourceLimits(cpu: 0.333333), version) == "33333" + suffix)
        #expect(value(of: file, ResourceLimits(cpu: 0.666666), version) == "66667" + suffix)
    }

    @Test func cgroupWriteDescribesItselfAsControllerFileValue() {
        #expect(CgroupWrite("pids", "pids.max", "32").description == "pids/pids.max=32")
    }
}

@Suite("ResourceLimits.needsNoCgroup")
struct ResourceLimitsNeedsNoCgroupTests {
    @Test func noLimitsNeedNoCgroup() {
        #expect(ResourceLimits().needsNoCgroup)
    }

    @Test(arguments: [-20, -1, 5, 19])
    func niceAloneNeedsNoCgroup(nice: Int) {
        #expect(ResourceLimits(nice: nice).needsNoCgroup)
    }

    @Test(arguments: [
        ResourceLimits(memoryMB: 64),
        ResourceLimits(memorySwapMB: 16),
        ResourceLimits(cpu: 0.5),
        ResourceLimits(pidsLimit: 32),
        ResourceLimits(memoryMB: 64, nice: 5),
    ])
    func anyCgroupLimitNeedsACgroup(limits: ResourceLimits) {
        #expect(!limits.needsNoCgroup)
    }
}
