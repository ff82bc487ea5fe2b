/// What to do after an agent's process ended.
public enum RestartDecision: Sendable, Equatable {
    /// Start it again after `delaySeconds`; `consecutiveRestarts` is the count after this restart.
    case restart(delaySeconds: Double, consecutiveRestarts: Int)
    /// The policy says no (e.g. `never`, or `on-failure` after a clean exit): the process stays down.
    case stayDown(reason: String)
    /// The restart budget is spent: the process is `failed`.
    case giveUp(reason: String)
}

/// Pure restart policy: the seed's rules plus the stable-run reset. No clocks, no processes.
public enum RestartPlanner {
    /// Delay before restart number `attempt` (from 0): `min(delay * multiplier^attempt, maxDelay)`.
    public static func delay(for config: RestartConfig, attempt: Int) -> Double {
        let raw = config.delaySeconds * pow(config.backoffMultiplier, Double(max(0, attempt)))
        guard raw.isFinite else { return config.maxDelaySeconds }
        return min(max(0, raw), config.maxDelaySeconds)
    }

    /// - Parameters:
    ///   - consecutiveRestarts: restarts since the last stable run, before this exit.
    ///   - runSeconds: how long the run that just ended lasted.
    public static func decide(
        config: RestartConfig,
        termination: Termination,
        consecutiveRestarts: Int,
        runSeconds: Double
    ) -> RestartDecision {
        switch config.policy {
        case .never:
            return .stayDown(reason: "restart_policy is never; the process \(termination)")
        case .onFailure where !termination.isFailure:
            return .stayDown(reason: "restart_policy is on-failure and the process \(termination)")
        case .always, .onFailure:
            break
        }
        let attempt = runSeconds >= config.stableSeconds ? 0 : consecutiveRestarts
        guard attempt < config.maxRestarts else {
            return .giveUp(reason: "gave up after \(attempt) consecutive restart\(attempt == 1 ? "" : "s") (max_restarts \(config.maxRestarts)); the last run \(termination)")
        }
        return .restart(delaySeconds: delay(for: config, attempt: attempt), consecutiveRestarts: attempt + 1)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
