import Foundation
import PARCore
import PARPackages
import PARProcess

/// Desired state (spec, plan) and observed state (pid, exits) of one agent, kept by the supervisor.
struct AgentRecord {
    var spec: AgentSpec
    var packageID: String
    /// Nil for an agent restored as down: its package is read again when it is restarted.
    var plan: LaunchPlan?
    var port: Int?
    /// The uid and gid it runs as (with `--agent-users`).
    var identity: AgentIdentity?
    /// The second port of a package with an `a2a:` surface.
    var a2aPort: Int?
    /// The Python environment it runs in (its dependencies), kept from eviction while it lives.
    var environmentKey: String?
    /// Names the current wait for dependencies: a result for an older wait is ignored.
    var preparingToken: UUID?
    /// The port it last held, asked for again when it comes back (also after a daemon restart).
    var lastPort: Int?
    /// The config file that declares it; nil when it came through the API.
    var owner: String?
    /// Whether it should run: only an API stop (or a reload) turns it off.
    var desired: StoredAgent.Desired = .running
    /// Set when the restart policy ended it; a starting daemon leaves such agents down.
    var outcome: StoredAgent.Outcome?
    /// The content hash of the package it runs, so a reload sees rebuilt package bytes.
    var packageDigest: String?
    var state: ProcessState
    var pid: Int32?
    /// Where requests for it go now: the one definition of routable, for the route table,
    /// the proxy's lookups and the status document's `routes` alike.
    var routablePort: Int? {
        state == .running && pid != nil ? port : nil
    }
    var startedAt: Date?
    var startedMonotonic: Double?
    var run: Int = 0
    var restartCount: Int = 0
    var consecutiveRestarts: Int = 0
    var lastExit: ExitRecord?
    var nextRestartAt: Date?
    /// Why the pending restart waits: `backoff` (its policy's delay) or `rate_limited` (the
    /// supervisor's restart budget is spent).
    var nextRestartReason: String?
    /// When (monotonic seconds) it was restarted lately, for `start_limit_burst`.
    var restartHistory: [Double] = []
    /// The dependencies it is `waiting` for (none when it is not waiting).
    var waitingFor: [Dependency] = []
    /// Its spec's `success_exit_codes` and `no_restart_exit_codes` over its package's.
    var exitRules = ExitStatusRules()
    var error: String?
    var pendingRestart: Task<Void, Never>?
    var stopRequested = false
    /// The agent's cgroup, kept across restarts and removed when it ends for good.
    var cgroup: AgentCgroup?
    /// OOM kills already accounted for, so each exit knows whether it was one.
    var oomKillsSeen: UInt64 = 0
    /// The resolved check: the request's, else the package's, else HTTP GET /health.
    var healthCheck: HealthCheckConfig
    /// Readiness and liveness of the current run.
    var health: HealthTracker?
    var nextProbeAt: Double = 0
    var probeInFlight = false
    var lastProbe: ProbeRecord?
    var readyAt: Date?
    /// Set when the supervisor kills the agent for its health: becomes the exit's reason.
    var healthKill: (reason: String, detail: String)?

    /// Holds a process or expects one (a pending restart, dependencies being installed):
    /// what quotas, 409s and shutdown count.
    /// A `crashed` agent that will not restart (`never`) is not live.
    var isLive: Bool { pid != nil || pendingRestart != nil || nextRestartAt != nil || state == .stopping || state == .waiting }
    var exitWaiters: [ExitWaiter] = []

    /// What the lifecycle rules need to judge an event about this agent.
    func lifecycle(shuttingDown: Bool) -> LifecycleRules.Snapshot {
        LifecycleRules.Snapshot(
            state: state, run: run, pid: pid, stopRequested: stopRequested,
            restartPending: pendingRestart != nil || nextRestartAt != nil, healthKillPending: healthKill != nil,
            probed: health != nil, shuttingDown: shuttingDown
        )
    }
}

/// A one-shot wait for an exit or a timeout, whichever comes first.
final class ExitWaiter: Sendable {
    private let state: Mutex<CheckedContinuation<Bool, Never>?>

    init(_ continuation: CheckedContinuation<Bool, Never>) {
        state = Mutex(continuation)
    }

    /// `exited` is true when the process ended, false on timeout. Only the first call counts.
    func resume(exited: Bool) {
        let continuation = state.withLock { current -> CheckedContinuation<Bool, Never>? in
            defer { current = nil }
            return current
        }
        continuation?.resume(returning: exited)
    }
}

import Synchronization
