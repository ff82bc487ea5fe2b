/// Supervisor-wide caps on what all agents together may ask for.
public struct QuotaPolicy: Sendable, Equatable {
    public var maxTotalMemoryMB: Int?
    public var maxTotalCPU: Double?
    public var maxAgents: Int?

    public init(maxTotalMemoryMB: Int? = nil, maxTotalCPU: Double? = nil, maxAgents: Int? = nil) {
        self.maxTotalMemoryMB = maxTotalMemoryMB
        self.maxTotalCPU = maxTotalCPU
        self.maxAgents = maxAgents
    }

    /// What live agents hold against the quotas.
    public struct Usage: Sendable, Equatable {
        public var memoryMB: Int
        public var cpu: Double
        public var agents: Int
        public init(memoryMB: Int = 0, cpu: Double = 0, agents: Int = 0) {
            self.memoryMB = memoryMB
            self.cpu = cpu
            self.agents = agents
        }
    }

    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public var quota: String
        public var description: String
    }

    /// Nil when one more agent with `limits` fits; else which quota it would break.
    public func check(adding limits: ResourceLimits, to usage: Usage) -> Violation? {
        if let maxAgents, usage.agents + 1 > maxAgents {
            return Violation(quota: "max_agents", description: "quota max_agents is \(maxAgents) and \(usage.agents) agent\(usage.agents == 1 ? " is" : "s are") live; stop one first")
        }
        if let maxTotalMemoryMB {
            guard let memory = limits.memoryMB else {
                return Violation(quota: "max_total_memory_mb", description: "quota max_total_memory_mb is \(maxTotalMemoryMB) MB, so every agent must set memory_limit_mb")
            }
            if usage.memoryMB + memory > maxTotalMemoryMB {
                return Violation(quota: "max_total_memory_mb", description: "quota max_total_memory_mb is \(maxTotalMemoryMB) MB; \(usage.memoryMB) MB are in use and \(memory) MB were asked (\(maxTotalMemoryMB - usage.memoryMB) MB left)")
            }
        }
        if let maxTotalCPU {
            guard let cpu = limits.cpu else {
                return Violation(quota: "max_total_cpu", description: "quota max_total_cpu is \(maxTotalCPU) cores, so every agent must set cpu_limit")
            }
            if usage.cpu + cpu > maxTotalCPU + 1e-9 {
                return Violation(quota: "max_total_cpu", description: "quota max_total_cpu is \(maxTotalCPU) cores; \(usage.cpu) are in use and \(cpu) were asked (\(max(0, maxTotalCPU - usage.cpu)) left)")
            }
        }
        return nil
    }
}
