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
    /// A config file declares the agent: change it there and reload.
    case ownedByConfig(processID: String, file: String)
    /// Desired state could not be written (507 when the disk is full): nothing changed.
    case state(StateStoreError)
    case reloadInProgress
    /// The agent changed while a request was being prepared (a reload, another request).
    case changedMeanwhile(processID: String)
    /// The config file has errors (each `file:line: key: message`): nothing changed.
    case configInvalid([String])
    /// No config file to reload: the daemon was started without --config.
    case noConfigFile
    /// A rolling restart could not switch to its next run; the current run keeps serving.
    case rollingRestartFailed(processID: String, reason: String)
    /// One rolling restart per agent at a time.
    case rollingRestartInProgress(processID: String)
    /// The agent cannot leave the table now (it runs, or others depend on it): `reason` says what to do.
    case removalRefused(processID: String, reason: String)

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
        case .ownedByConfig(let processID, let file):
            "\(processID) is declared by the config file \(file); change it there and reload (par reload, SIGHUP or POST /supervisor/reload); the API may only stop and restart it"
        case .state(let error): error.description
        case .reloadInProgress: "a reload is already being applied; try again when it has answered"
        case .changedMeanwhile(let processID): "\(processID) was changed by another request (or a reload) while this one was prepared; nothing was done, look at its status and try again"
        case .configInvalid(let issues): "the config file has \(issues.count) error\(issues.count == 1 ? "" : "s"); nothing was changed: \(issues.joined(separator: "; "))"
        case .rollingRestartFailed(let processID, let reason): "rolling restart of \(processID) failed: \(reason)"
        case .rollingRestartInProgress(let processID): "a rolling restart of \(processID) is already under way; wait for its answer, then try again"
        case .removalRefused(let processID, let reason): "\(processID) was not removed: \(reason)"
        case .noConfigFile: "the daemon was started without --config, so there is no file to reload; start it with par serve --config FILE"
        }
    }
}
