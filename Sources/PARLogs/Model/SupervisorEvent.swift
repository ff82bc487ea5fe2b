/// What happened to an agent, as a supervisor line says it: the `event` field of every
/// line of process `supervisor`, and the `type` of `GET /supervisor/events`. One source
/// for both, so the event stream and the log never disagree.
public enum SupervisorEvent: String, Sendable, CaseIterable {
    case preparing
    case waiting
    case spawned
    case ready
    /// The built-in health check found nothing listening: judged by its process from now on.
    case judgedByProcess = "judged_by_process"
    case unhealthy
    case stopping
    /// It did not stop within its timeout: SIGKILL.
    case killed
    case stopped
    case exited
    case oomKilled = "oom_killed"
    case restarting
    /// The restart policy gave up: `failed`.
    case gaveUp = "gave_up"
    /// It could not be started (a package, a port, dependencies).
    case failed
    case rollingRestartStarted = "rolling_restart_started"
    case rollingRestartDone = "rolling_restart_done"
    case rollingRestartFailed = "rolling_restart_failed"
    case extraRunExited = "extra_run_exited"
    case removed
    case stateNotSaved = "state_not_saved"
}
