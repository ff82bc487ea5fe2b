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
    /// Each backoff delay is moved by up to this fraction either way (0.1: ±10%), so agents
    /// that crashed together do not come back together.
    public var jitterFraction: Double
    /// More than this many restarts within `startLimitIntervalSeconds` makes the agent
    /// `failed` (systemd's `StartLimitBurst`, OTP's intensity); 0 turns the limit off.
    public var startLimitBurst: Int
    public var startLimitIntervalSeconds: Double

    public init(
        policy: RestartPolicy = .onFailure,
        maxRestarts: Int = 3,
        delaySeconds: Double = 5,
        backoffMultiplier: Double = 2.0,
        maxDelaySeconds: Double = 300,
        stableSeconds: Double = 60,
        jitterFraction: Double = 0.1,
        startLimitBurst: Int = 0,
        startLimitIntervalSeconds: Double = 10
    ) {
        self.policy = policy
        self.maxRestarts = maxRestarts
        self.delaySeconds = delaySeconds
        self.backoffMultiplier = backoffMultiplier
        self.maxDelaySeconds = maxDelaySeconds
        self.stableSeconds = stableSeconds
        self.jitterFraction = jitterFraction
        self.startLimitBurst = startLimitBurst
        self.startLimitIntervalSeconds = startLimitIntervalSeconds
    }
}
