/// When a process that exited is started again (the seed's `restart_policy`).
public enum RestartPolicy: String, Sendable, Codable, CaseIterable {
    case always
    case onFailure = "on-failure"
    case never
}

/// The restart part of an agent's spec: data, decided on by `RestartPlanner`.
public struct RestartConfig: Sendable, Equatable {
    public var policy: RestartPolicy
    public var maxRestarts: Int
    public var delaySeconds: Double
    public var backoffMultiplier: Double
    public var maxDelaySeconds: Double
    /// A run that lasts this long counts as healthy: the consecutive-restart count resets.
    public var stableSeconds: Double

    public init(
        policy: RestartPolicy = .onFailure,
        maxRestarts: Int = 3,
        delaySeconds: Double = 5,
        backoffMultiplier: Double = 2.0,
        maxDelaySeconds: Double = 300,
        stableSeconds: Double = 60
    ) {
        self.policy = policy
        self.maxRestarts = maxRestarts
        self.delaySeconds = delaySeconds
        self.backoffMultiplier = backoffMultiplier
        self.maxDelaySeconds = maxDelaySeconds
        self.stableSeconds = stableSeconds
    }
}
