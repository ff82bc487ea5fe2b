/// The lifecycle's gatekeeping decisions, pure: which events still concern an agent's
/// current run, what a stop does, when a kill for health or a due restart may go ahead.
/// `ExitPlanner` decides what an accepted exit means, `RestartPlanner` when to restart,
/// `HealthTracker` what a probe means; the supervisor gathers a `Snapshot`, asks, and
/// carries the answer out. Events arrive late all the time (an exit reaped after the
/// replacement started, a probe answered after a stop began), so each rule is about
/// telling a stale event from a current one.
public enum LifecycleRules {
    /// What the supervisor knows of an agent when an event about it arrives.
    public struct Snapshot: Sendable, Equatable {
        public var state: ProcessState
        /// The run (start) the agent is on now.
        public var run: Int
        public var pid: Int32?
        /// A stop (API, reload) is in progress.
        public var stopRequested: Bool
        /// A restart is scheduled (its timer has not fired).
        public var restartPending: Bool
        /// The supervisor already killed this run for its health.
        public var healthKillPending: Bool
        /// It has a health tracker for this run.
        public var probed: Bool
        public var shuttingDown: Bool

        public init(
            state: ProcessState, run: Int, pid: Int32?, stopRequested: Bool = false, restartPending: Bool = false,
            healthKillPending: Bool = false, probed: Bool = true, shuttingDown: Bool = false
        ) {
            self.state = state
            self.run = run
            self.pid = pid
            self.stopRequested = stopRequested
            self.restartPending = restartPending
            self.healthKillPending = healthKillPending
            self.probed = probed
            self.shuttingDown = shuttingDown
        }
    }

    /// An exit is the current run's only if both its run and its pid match.
    public static func acceptsExit(_ agent: Snapshot, run: Int, pid: Int32) -> Bool {
        agent.run == run && agent.pid == pid
    }

    public enum ProbeVerdict: Sendable, Equatable {
        /// Feed it to the health tracker.
        case apply
        /// About an earlier run, or one that has no process or tracker: nothing to do.
        case stale
        /// The run is being stopped (or is no longer starting or running): the probe is
        /// done but its answer must not kill or promote the agent.
        case dropped
    }

    public static func probe(_ agent: Snapshot, run: Int) -> ProbeVerdict {
        guard agent.run == run, agent.pid != nil, agent.probed else { return .stale }
        guard agent.state == .starting || agent.state == .running, !agent.stopRequested else { return .dropped }
        return .apply
    }

    /// A kill for health goes ahead once per run, never into a stop or a shutdown, which
    /// own the agent's end.
    public static func mayKillForHealth(_ agent: Snapshot) -> Bool {
        agent.pid != nil && !agent.healthKillPending && (agent.state == .starting || agent.state == .running)
            && !agent.stopRequested && !agent.shuttingDown
    }

    public enum StopPlan: Sendable, Equatable {
        /// No process: cancel a pending restart; `announce` when it was not already down for good.
        case markStopped(cancelsRestart: Bool, announce: Bool)
        /// SIGTERM to its session, SIGKILL after the timeout; a pending restart is cancelled.
        case terminate(pid: Int32)
    }

    public static func stop(_ agent: Snapshot) -> StopPlan {
        if let pid = agent.pid { return .terminate(pid: pid) }
        return .markStopped(cancelsRestart: agent.restartPending, announce: !agent.state.isTerminal)
    }

    /// A due restart (its timer fired, or a delay of 0) starts the agent only if it is still
    /// waiting for exactly that restart: not stopped, not started again meanwhile, not
    /// during shutdown.
    public static func mayRelaunch(_ agent: Snapshot, expectedRun: Int?) -> Bool {
        (agent.state == .crashed || agent.state == .restarting) && agent.pid == nil && !agent.shuttingDown
            && (expectedRun.map { $0 == agent.run } ?? true)
    }
}
