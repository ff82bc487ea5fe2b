import Foundation
import PARCore

/// How a run ended, as shown in status.
public struct ExitRecord: Sendable, Equatable {
    public var code: Int32?
    public var signal: Int32?
    public var at: Date
    /// `exited`, `signaled`, `stopped` (by request) or `spawn_failed`.
    public var reason: String
    public var run: Int
}

/// A point-in-time view of one agent for the API.
public struct ProcessStatus: Sendable {
    public var processID: String
    public var agentID: String
    public var packageID: String
    public var packagePath: String
    public var port: Int?
    /// The agent's second port, for an `a2a:` surface.
    public var a2aPort: Int?
    /// The virtual environment of its dependencies, if it has any.
    public var environment: String?
    public var state: ProcessState
    public var pid: Int32?
    public var startedAt: Date?
    public var uptimeSeconds: Double?
    public var run: Int
    public var restartCount: Int
    public var consecutiveRestarts: Int
    public var restartPolicy: RestartPolicy
    public var maxRestarts: Int
    public var lastExit: ExitRecord?
    public var nextRestartAt: Date?
    /// `backoff` or `rate_limited`: why the pending restart waits.
    public var nextRestartReason: String?
    public var error: String?
    /// Its `depends_on`.
    public var dependencies: [Dependency]
    /// What it is `waiting` for, each with the state its agent is in (nil: no such agent).
    public var waitingFor: [(dependency: Dependency, state: ProcessState?)]
    public var resources: ResourceUsage?
    public var limits: ResourceLimits
    public var limitsEnforced: Bool
    /// Why limits are not enforced, when they are not.
    public var limitsReason: String?
    public var cgroupPath: String?
    public var healthCheck: HealthCheckConfig
    public var healthStatus: String
    public var lastProbe: ProbeRecord?
    public var consecutiveProbeFailures: Int
    /// The built-in check found nothing listening: judged by its process, no more probes.
    public var judgedByProcess = false
    public var readyAt: Date?
}
