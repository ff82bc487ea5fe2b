/// Why a run of an agent ended, as status (`last_exit.reason`) and events (`extra.reason`) say it.
public enum ExitReason: String, Sendable, Equatable, CaseIterable {
    /// A stop was asked for (API, reload, daemon shutdown).
    case stopped
    /// The process exited by itself with a code.
    case exited
    /// The process was killed by a signal nobody in the supervisor sent.
    case signaled
    /// The kernel killed it for going over its memory limit.
    case oomKilled = "oom_killed"
    /// It never passed its first health check in time.
    case startTimeout = "start_timeout"
    /// It failed `failure_threshold` liveness probes in a row.
    case unhealthy
    /// Its dependencies could not be installed, so it never started (not restarted).
    case dependencies
}

/// What happens to an agent when its process ends: the pure core of exit handling.
/// The supervisor gathers the facts, asks `plan`, then carries the outcome out.
public enum ExitPlanner {
    public struct Facts: Sendable, Equatable {
        public var termination: Termination
        /// A stop (or the daemon's shutdown) owns this exit: no restart, no failure.
        public var stopRequested: Bool
        /// The OOM-kill counter of the agent's cgroup rose during this run.
        public var oomKilled: Bool
        /// The supervisor killed it for its health: the reason and what the probe saw.
        public var healthKill: (reason: ExitReason, detail: String)?
        public var restart: RestartConfig
        /// Restarts since the last stable run, before this exit.
        public var consecutiveRestarts: Int
        public var runSeconds: Double
        public var exitRules: ExitStatusRules
        /// When (monotonic seconds) the agent was restarted lately, for the intensity limit.
        public var restartHistory: [Double]
        public var now: Double
        /// A random number from -1 to 1 for the backoff's jitter.
        public var jitterDraw: Double

        public init(
            termination: Termination, stopRequested: Bool = false, oomKilled: Bool = false,
            healthKill: (reason: ExitReason, detail: String)? = nil, restart: RestartConfig,
            consecutiveRestarts: Int = 0, runSeconds: Double = 0, exitRules: ExitStatusRules = ExitStatusRules(),
            restartHistory: [Double] = [], now: Double = 0, jitterDraw: Double = 0
        ) {
            self.exitRules = exitRules
            self.restartHistory = restartHistory
            self.now = now
            self.jitterDraw = jitterDraw
            self.termination = termination
            self.stopRequested = stopRequested
            self.oomKilled = oomKilled
            self.healthKill = healthKill
            self.restart = restart
            self.consecutiveRestarts = consecutiveRestarts
            self.runSeconds = runSeconds
        }

        public static func == (lhs: Facts, rhs: Facts) -> Bool {
            lhs.termination == rhs.termination && lhs.stopRequested == rhs.stopRequested && lhs.oomKilled == rhs.oomKilled
                && lhs.healthKill?.reason == rhs.healthKill?.reason && lhs.healthKill?.detail == rhs.healthKill?.detail
                && lhs.restart == rhs.restart && lhs.consecutiveRestarts == rhs.consecutiveRestarts && lhs.runSeconds == rhs.runSeconds
                && lhs.exitRules == rhs.exitRules && lhs.restartHistory == rhs.restartHistory && lhs.now == rhs.now && lhs.jitterDraw == rhs.jitterDraw
        }
    }

    public struct Outcome: Sendable, Equatable {
        public var state: ProcessState
        public var reason: ExitReason
        /// Shown as the process's `error`; nil when nothing went wrong.
        public var error: String?
        /// Start again after this many seconds; `consecutiveRestarts` is the count after it.
        public var restart: (delaySeconds: Double, consecutiveRestarts: Int)?
        /// The restart budget is spent (`failed`): worth a critical event.
        public var gaveUp: Bool

        public static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            lhs.state == rhs.state && lhs.reason == rhs.reason && lhs.error == rhs.error && lhs.gaveUp == rhs.gaveUp
                && lhs.restart?.delaySeconds == rhs.restart?.delaySeconds && lhs.restart?.consecutiveRestarts == rhs.restart?.consecutiveRestarts
        }
    }

    public static func plan(_ facts: Facts) -> Outcome {
        if facts.stopRequested {
            return Outcome(state: .stopped, reason: .stopped, error: nil, restart: nil, gaveUp: false)
        }
        let reason: ExitReason = facts.oomKilled ? .oomKilled
            : facts.healthKill?.reason ?? (isExitCode(facts.termination) ? .exited : .signaled)
        // A kill for memory or health is a failure whatever the exit status says, even one
        // listed in success_exit_codes.
        let killed = facts.oomKilled || facts.healthKill != nil
        let failed = facts.exitRules.isFailure(facts.termination) || killed
        let termination = killed && !facts.termination.isFailure ? Termination.signaled(signal: 9) : facts.termination
        var rules = facts.exitRules
        if killed { rules.success = [] }
        let cause = (facts.oomKilled ? "oom_killed; " : "") + (facts.healthKill.map { "\($0.reason.rawValue): \($0.detail); " } ?? "")
        let decision = RestartPlanner.decide(
            config: facts.restart, termination: termination, consecutiveRestarts: facts.consecutiveRestarts, runSeconds: facts.runSeconds,
            exitRules: rules, restartHistory: facts.restartHistory, now: facts.now, jitterDraw: facts.jitterDraw
        )
        switch decision {
        case .stayDown(let why):
            return Outcome(state: failed ? .crashed : .stopped, reason: reason, error: failed ? cause + why : nil, restart: nil, gaveUp: false)
        case .giveUp(let why):
            return Outcome(state: .failed, reason: reason, error: cause + why, restart: nil, gaveUp: true)
        case .restart(let delay, let consecutive):
            // `restarting` says the agent is fine and on its way back; `crashed` that it failed.
            return Outcome(state: failed ? .crashed : .restarting, reason: reason, error: nil, restart: (delay, consecutive), gaveUp: false)
        }
    }

    private static func isExitCode(_ termination: Termination) -> Bool {
        if case .exited = termination { return true }
        return false
    }
}

/// What the supervisor does, in order, once an exit is planned: the mechanism side only
/// carries these out.
public enum ExitEffect: Sendable, Equatable {
    /// Give the port and cgroup back: the agent holds no process and none is coming soon.
    case releaseResources
    /// Write the agent's state (not on a daemon shutdown: that is no decision about the agent).
    case persist
    case announceStopped
    case announceOOMKill
    case announceExit
    case announceGaveUp(String)
    case announceRestart(delaySeconds: Double, consecutiveRestarts: Int)
    /// Start it again at once (a delay of 0).
    case relaunchNow
    case scheduleRestart(delaySeconds: Double)
}

extension ExitPlanner.Outcome {
    public func effects(oomKilled: Bool, shuttingDown: Bool) -> [ExitEffect] {
        if reason == .stopped {
            return [.releaseResources] + (shuttingDown ? [] : [.persist]) + [.announceStopped]
        }
        var effects: [ExitEffect] = oomKilled ? [.announceOOMKill, .announceExit] : [.announceExit]
        guard let restart else {
            effects += [.releaseResources, .persist]
            if gaveUp, let error { effects.append(.announceGaveUp(error)) }
            return effects
        }
        effects += [.persist, .announceRestart(delaySeconds: restart.delaySeconds, consecutiveRestarts: restart.consecutiveRestarts)]
        effects.append(restart.delaySeconds <= 0 ? .relaunchNow : .scheduleRestart(delaySeconds: restart.delaySeconds))
        return effects
    }
}
