import PARCore
import PARPackages

/// Why a lifecycle request was refused. The server maps each case to one status code.
public enum SupervisorError: Error, Sendable, CustomStringConvertible {
    case invalid(ValidationError)
    case notFound(processID: String, known: [String])
    case alreadyRunning(processID: String, state: ProcessState)
    case noFreePort(range: ClosedRange<Int>)
    case package(PackageError)
    case limitsUnsupported(String)
    case spawnFailed(String)
    case quotaExceeded(QuotaPolicy.Violation)
    /// The supervisor itself failed (no fds, cgroup refused): 500, nothing started.
    case internalFailure(String)
    case shuttingDown

    public var description: String {
        switch self {
        case .invalid(let error): error.description
        case .notFound(let processID, let known):
            "no process \(processID); known processes: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
        case .alreadyRunning(let processID, let state):
            "\(processID) is \(state.rawValue); stop it first (POST /supervisor/stop/\(processID)) or use POST /supervisor/restart/\(processID)"
        case .noFreePort(let range):
            "no free port in \(range.lowerBound)-\(range.upperBound); stop an agent or widen --port-range"
        case .package(let error): error.description
        case .limitsUnsupported(let reason): reason
        case .spawnFailed(let reason): reason
        case .quotaExceeded(let violation): violation.description
        case .internalFailure(let reason): reason
        case .shuttingDown: "the supervisor is shutting down"
        }
    }
}
