/// The seed's process states, plus `preparing` and `restarting`. A process waiting out a restart delay
/// after a failure is `crashed` with a `next_restart_at`; after a clean exit (policy
/// `always`) it is `restarting`, so a fleet of agents that exit by design reads healthy.
public enum ProcessState: String, Sendable, Codable, CaseIterable {
    /// Its dependencies are being installed; the process starts when they are ready.
    case preparing
    /// Agents it `depends_on` are not started (or healthy) yet; it starts the moment they are.
    case waiting
    case starting
    case running
    case stopping
    case stopped
    case failed
    case crashed
    case restarting

    /// States in which the agent holds no OS process and no restart is coming.
    public var isTerminal: Bool { self == .stopped || self == .failed }
}
