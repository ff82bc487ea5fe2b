import PARCore
import Testing

@Suite("QuotaPolicy.check")
struct QuotaPolicyTests {
    // MARK: No quotas

    @Test func withoutQuotasAnythingFits() {
        let policy = QuotaPolicy()
        #expect(policy.check(adding: ResourceLimits(), to: QuotaPolicy.Usage()) == nil)
        #expect(policy.check(adding: ResourceLimits(memoryMB: 1_048_576, cpu: 4_096), to: QuotaPolicy.Usage(memoryMB: 1 << 30, cpu: 10_000, agents: 10_000)) == nil)
    }

    // MARK: max_agents

    @Test func oneMoreAgentBelowMaxAgentsFits() {
        #expect(QuotaPolicy(maxAgents: 3).check(adding: ResourceLimits(), to: QuotaPolicy.Usage(agents: 2)) == nil)
    }

    @Test func reachingMaxAgentsRefusesTheNextAgent() throws {
        let violation = try #require(QuotaPolicy(maxAgents: 3).check(adding: ResourceLimits(), to: QuotaPolicy.Usage(agents: 3)))
        #expect(violation.quota == "max_agents")
        #expect(violation.description.contains("max_agents is 3"))
        #expect(violation.description.contains("3 agents are live"))
    }

    @Test func maxAgentsMessageUsesTheSingularForOneLiveAgent() throws {
        let violation = try #require(QuotaPolicy(maxAgents: 1).check(adding: ResourceLimits(), to: QuotaPolicy.Usage(agents: 1)))
        #expect(violation.description.contains("1 agent is live"))
    }

    @Test func maxAgentsZeroRefusesEveryAgent() {
        #expect(QuotaPolicy(maxAgents: 0).check(adding: ResourceLimits(), to: QuotaPolicy.Usage())?.quota == "max_agents")
    }

    @Test func maxAgentsIsCheckedBeforeTheOtherQuotas() {
        let policy = QuotaPolicy(maxTotalMemoryMB: 100, maxTotalCPU: 1, maxAgents: 1)
        // Breaks all three; the agent count is named.
        #expect(policy.check(adding: ResourceLimits(), to: QuotaPolicy.Usage(memoryMB: 100, cpu: 1, agents: 1))?.quota == "max_agents")
    }

    // MARK: max_total_memory_mb

    @Test func memoryWithinTheQuotaFits() {
        #expect(QuotaPolicy(maxTotalMemoryMB: 1024).check(adding: ResourceLimits(memoryMB: 256), to: QuotaPolicy.Usage(memoryMB: 512, agents: 2)) == nil)
    }

    @Test func memoryFillingTheQuotaExactlyFits() {
        #expect(QuotaPolicy(maxTotalMemoryMB: 1024).check(adding: ResourceLimits(memoryMB: 512), to: QuotaPolicy.Usage(memoryMB: 512, agents: 1)) == nil)
    }

    @Test func memoryOverTheQuotaIsRefusedNamingUsedAskedAndLeft() throws {
        let violation = try #require(QuotaPolicy(maxTotalMemoryMB: 1024).check(adding: ResourceLimits(memoryMB: 300), to: QuotaPolicy.Usage(memoryMB: 800, agents: 2)))
        #expect(violation.quota == "max_total_memory_mb")
        #expect(violation.description.contains("max_total_memory_mb is 1024 MB"))
        #expect(violation.description.contains("800 MB are in use"))
        #expect(violation.description.contains("300 MB were asked"))
        #expect(violation.description.contains("224 MB left"))
    }

    @Test func memoryOverTheQuotaByOneMegabyteIsRefused() {
        #expect(QuotaPolicy(maxTotalMemoryMB: 1024).check(adding: ResourceLimits(memoryMB: 513), to: QuotaPolicy.Usage(memoryMB: 512))?.quota == "max_total_memory_mb")
    }

    @Test func aMemoryQuotaRefusesAnAgentWithoutAMemoryLimit() throws {
        let violation = try #require(QuotaPolicy(maxTotalMemoryMB: 1024).check(adding: ResourceLimits(cpu: 0.5), to: QuotaPolicy.Usage()))
        #expect(violation.quota == "max_total_memory_mb")
        #expect(violation.description.contains("memory_limit_mb"))
        #expect(violation.description.contains("1024 MB"))
    }

    @Test func withoutAMemoryQuotaAnAgentNeedsNoMemoryLimit() {
        #expect(QuotaPolicy(maxAgents: 5).check(adding: ResourceLimits(), to: QuotaPolicy.Usage()) == nil)
    }

    // MARK: max_total_cpu

    @Test func cpuFillingTheQuotaExactlyFits() {
        #expect(QuotaPolicy(maxTotalCPU: 2.0).check(adding: ResourceLimits(cpu: 0.5), to: QuotaPolicy.Usage(cpu: 1.5, agents: 1)) == nil)
    }

    @Test func cpuSumsThatAreOnlyEqualUpToFloatingPointErrorFit() {
        // 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
        #expect(QuotaPolicy(maxTotalCPU: 0.3).check(adding: ResourceLimits(cpu: 0.2), to: QuotaPolicy.Usage(cpu: 0.1, agents: 1)) == nil)
        // Nine agents of 0.1 sum to 0.8999999999999999; the tenth still fits in 1.0.
        let nineTenths = (0..<9).reduce(0.0) { total, _ in total + 0.1 }
        #expect(QuotaPolicy(maxTotalCPU: 1.0).check(adding: ResourceLimits(cpu: 0.1), to: QuotaPolicy.Usage(cpu: nineTenths, agents: 9)) == nil)
    }

    @Test func cpuOverTheQuotaByALittleIsRefused() throws {
        let violation = try #require(QuotaPolicy(maxTotalCPU: 2.0).check(adding: ResourceLimits(cpu: 0.51), to: QuotaPolicy.Usage(cpu: 1.5, agents: 1)))
        #expect(violation.quota == "max_total_cpu")
        #expect(violation.description.contains("max_total_cpu is 2.0 cores"))
        #expect(violation.description.contains("1.5 are in use"))
        #expect(violation.description.contains("0.51 were asked"))
        #expect(violation.description.contains("(0.5 left)"))
    }

    @Test func cpuOverTheQuotaBySmallestValidStepIsRefused() {
        // cpu_limit accepts 0.01 steps; one step too many must not slip through the tolerance.
        #expect(QuotaPolicy(maxTotalCPU: 2.0).check(adding: ResourceLimits(cpu: 0.01), to: QuotaPolicy.Usage(cpu: 2.0, agents: 4))?.quota == "max_total_cpu")
    }

    @Test func cpuLeftIsNeverNegativeInTheMessage() throws {
        // Usage can exceed the quota (e.g. the quota was lowered on restart).
        let violation = try #require(QuotaPolicy(maxTotalCPU: 1.0).check(adding: ResourceLimits(cpu: 0.5), to: QuotaPolicy.Usage(cpu: 3.0, agents: 3)))
        #expect(violation.description.contains("(0.0 left)"))
    }

    @Test func aCPUQuotaRefusesAnAgentWithoutACPULimit() throws {
        let violation = try #require(QuotaPolicy(maxTotalCPU: 2.0).check(adding: ResourceLimits(memoryMB: 64), to: QuotaPolicy.Usage()))
        #expect(violation.quota == "max_total_cpu")
        #expect(violation.description.contains("cpu_limit"))
    }

    // MARK: Order and field names

    @Test func memoryIsCheckedBeforeCPU() {
        let policy = QuotaPolicy(maxTotalMemoryMB: 100, maxTotalCPU: 1)
        #expect(policy.check(adding: ResourceLimits(memoryMB: 200, cpu: 5), to: QuotaPolicy.Usage())?.quota == "max_total_memory_mb")
        #expect(policy.check(adding: ResourceLimits(cpu: 0.5), to: QuotaPolicy.Usage())?.quota == "max_total_memory_mb")
    }

    @Test func anAgentWithinEveryQuotaFits() {
        let policy = QuotaPolicy(maxTotalMemoryMB: 1024, maxTotalCPU: 2, maxAgents: 4)
        #expect(policy.check(adding: ResourceLimits(memoryMB: 256, cpu: 0.5), to: QuotaPolicy.Usage(memoryMB: 512, cpu: 1, agents: 2)) == nil)
    }

    @Test func violationQuotaNamesAreTheConfigurationKeys() {
        let names = [
            QuotaPolicy(maxAgents: 0).check(adding: ResourceLimits(), to: QuotaPolicy.Usage())?.quota,
            QuotaPolicy(maxTotalMemoryMB: 1).check(adding: ResourceLimits(memoryMB: 2), to: QuotaPolicy.Usage())?.quota,
            QuotaPolicy(maxTotalCPU: 1).check(adding: ResourceLimits(cpu: 2), to: QuotaPolicy.Usage())?.quota,
        ]
        #expect(names == ["max_agents", "max_total_memory_mb", "max_total_cpu"])
    }

    @Test func aViolationIsAnErrorWhoseDescriptionIsTheMessage() throws {
        let violation = try #require(QuotaPolicy(maxAgents: 0).check(adding: ResourceLimits(), to: QuotaPolicy.Usage()))
        let error: any Error = violation
        #expect("\(error)" == violation.description)
    }
}
