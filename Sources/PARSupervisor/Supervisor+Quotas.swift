import PARCore

/// What live agents hold against the supervisor-wide quotas.
extension Supervisor {
    /// What live agents (other than `agentID`, when given) hold against the quotas.
    func quotaUsage(excluding agentID: AgentID? = nil) -> QuotaPolicy.Usage {
        Self.quotaUsage(of: agents, excluding: agentID)
    }

    /// The quotas with what is in use, for status: from the published records, without
    /// waiting for the actor.
    public nonisolated func quotas() -> (policy: QuotaPolicy, usage: QuotaPolicy.Usage) {
        (config.quotas, Self.quotaUsage(of: published.snapshot(), excluding: nil))
    }

    private nonisolated static func quotaUsage(of records: some Sequence<(key: AgentID, value: AgentRecord)>, excluding agentID: AgentID?) -> QuotaPolicy.Usage {
        var usage = QuotaPolicy.Usage()
        for (id, record) in records where id != agentID && record.isLive {
            usage.agents += 1
            usage.memoryMB += record.spec.limits.memoryMB ?? 0
            usage.cpu += record.spec.limits.cpu ?? 0
        }
        return usage
    }
}
