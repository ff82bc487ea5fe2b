/// The seed's process states. A process waiting out a restart delay is `crashed`
/// with a `next_restart_at`.
public enum ProcessState: String, Sendable, Codable, CaseIterable {
    case starting
    case running
    case stopping
    case stopped
    case failed
    case crashed

    /// States in which the agent holds no OS process and no restart is coming.
    public var isTerminal: Bool { self == .stopped || self == .failed }
}
