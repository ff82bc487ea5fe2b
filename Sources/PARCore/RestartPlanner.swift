import Foundation

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

    /// The delay moved by `draw` (from -1 to 1) times the jitter fraction: a random draw
    /// made by the caller, so this stays a function.
    public static func jittered(_ delay: Double, fraction: Double, draw: Double) -> Double {
        max(0, delay * (1 + min(1, max(0, fraction)) * min(1, max(-1, draw))))
    }

    /// Restarts of `history` (monotonic seconds) still inside the intensity window at `now`.
    public static func recentRestarts(_ history: [Double], config: RestartConfig, now: Double) -> [Double] {
        guard config.startLimitBurst > 0 else { return [] }
        return history.filter { $0 > now - config.startLimitIntervalSeconds }
    }

    /// - Parameters:
    ///   - consecutiveRestarts: restarts since the last stable run, before this exit.
    ///   - runSeconds: how long the run that just ended lasted.
    ///   - exitRules: which exits are successes and which prevent a restart.
    ///   - restartHistory: when (monotonic seconds) the agent was restarted lately, for the intensity limit.
    ///   - now: the monotonic time of this decision.
    ///   - jitterDraw: a random number from -1 to 1 that moves the delay by up to the jitter fraction.
    public static func decide(
        config: RestartConfig,
        termination: Termination,
        consecutiveRestarts: Int,
        runSeconds: Double,
        exitRules: ExitStatusRules = ExitStatusRules(),
        restartHistory: [Double] = [],
        now: Double = 0,
        jitterDraw: Double = 0
    ) -> RestartDecision {
        if exitRules.preventsRestart(termination) {
            return .stayDown(reason: "\(ExitStatus(termination)) is in no_restart_exit_codes; the process \(termination)")
        }
        switch config.policy {
        case .never:
            return .stayDown(reason: "restart_policy is never; the process \(termination)")
        case .onFailure where !exitRules.isFailure(termination):
            let listed = termination.isFailure ? " (\(ExitStatus(termination)) is in success_exit_codes)" : ""
            return .stayDown(reason: "restart_policy is on-failure and the process \(termination)\(listed)")
        case .always, .onFailure:
            break
        }
        let attempt = runSeconds >= config.stableSeconds ? 0 : consecutiveRestarts
        guard attempt < config.maxRestarts else {
            return .giveUp(reason: "gave up after \(attempt) consecutive restart\(attempt == 1 ? "" : "s") (max_restarts \(config.maxRestarts)); the last run \(termination)")
        }
        let recent = recentRestarts(restartHistory, config: config, now: now)
        if config.startLimitBurst > 0, recent.count >= config.startLimitBurst {
            return .giveUp(reason: "restarted \(recent.count) times within \(formatSeconds(config.startLimitIntervalSeconds)) s (start_limit_burst \(config.startLimitBurst), start_limit_interval_seconds \(formatSeconds(config.startLimitIntervalSeconds))); the last run \(termination)")
        }
        let delay = jittered(delay(for: config, attempt: attempt), fraction: config.jitterFraction, draw: jitterDraw)
        return .restart(delaySeconds: delay, consecutiveRestarts: attempt + 1)
    }

    private static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() && abs(seconds) < 1e15 ? String(Int(seconds)) : String(seconds)
    }
}
