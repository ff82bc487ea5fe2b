import PARCore

/// What live agents hold against the supervisor-wide quotas.
extension Supervisor {
    /// What live agents (other than `agentID`, when given) hold against the quotas.
    func quotaUsage(excluding agentID: AgentID? = nil) -> QuotaPolicy.Usage {
        var usage = QuotaPolicy.Usage()
        for (id, record) in agents where id != agentID && record.isLive {
            usage.agents += 1
            usage.memoryMB += record.spec.limits.memoryMB ?? 0
            usage.cpu += record.spec.limits.cpu ?? 0
        }
        return usage
    }

    /// The quotas with what is in use, for status.
    public func quotas() -> (policy: QuotaPolicy, usage: QuotaPolicy.Usage) {
        (config.quotas, quotaUsage())
    }
}
