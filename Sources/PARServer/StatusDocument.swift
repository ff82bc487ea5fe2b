import Foundation
import PARCore
import PARLogs
import PARSupervisor

/// The JSON shapes of the management API. Absent values are written as null so clients
/// see every key.
extension JSONWriter {
    mutating func process(_ status: ProcessStatus) {
        beginObject()
        field("process_id", status.processID)
        field("agent_id", status.agentID)
        field("package_id", status.packageID)
        field("package_path", status.packagePath)
        field("port", status.port)
        field("a2a_port", status.a2aPort)
        field("environment", status.environment)
        field("state", status.state.rawValue)
        field("pid", status.pid)
        field("started_at", date: status.startedAt)
        field("uptime", status.uptimeSeconds.map { ($0 * 1000).rounded() / 1000 })
        field("run", status.run)
        field("restart_count", status.restartCount)
        field("consecutive_restarts", status.consecutiveRestarts)
        field("restart_policy", status.restartPolicy.rawValue)
        field("max_restarts", status.maxRestarts)
        key("last_exit")
        if let exit = status.lastExit {
            beginObject()
            field("code", exit.code)
            field("signal", exit.signal)
            field("signal_name", exit.signal.flatMap(Termination.signalName))
            field("at", date: exit.at)
            field("reason", exit.reason)
            field("run", exit.run)
            endObject()
        } else {
            null()
        }
        field("next_restart_at", date: status.nextRestartAt)
        field("next_restart_reason", status.nextRestartReason)
        key("depends_on")
        beginArray()
        for dependency in status.dependencies {
            beginObject()
            field("agent", dependency.agentID.rawValue)
            field("condition", dependency.condition.rawValue)
            field("restart", dependency.restart)
            endObject()
        }
        endArray()
        key("waiting_for")
        beginArray()
        for (dependency, state) in status.waitingFor {
            beginObject()
            field("agent", dependency.agentID.rawValue)
            field("condition", dependency.condition.rawValue)
            field("state", state?.rawValue ?? "unknown")
            endObject()
        }
        endArray()
        field("error", status.error)
        key("resources")
        if let usage = status.resources { resources(usage) } else { null() }
        key("limits")
        beginObject()
        field("memory_limit_mb", status.limits.memoryMB)
        field("memory_swap_mb", status.limits.memorySwapMB)
        field("cpu_limit", status.limits.cpu)
        field("pids_limit", status.limits.pidsLimit)
        field("nice", status.limits.nice)
        endObject()
        field("limits_enforced", status.limitsEnforced)
        field("limits_reason", status.limitsReason)
        field("cgroup", status.cgroupPath)
        field("ready_at", date: status.readyAt)
        key("health")
        health(status)
        endObject()
    }

    mutating func health(_ status: ProcessStatus) {
        beginObject()
        field("status", status.healthStatus)
        field("type", status.healthCheck.typeName)
        // `declared: false` is the built-in check; `judged_by: process` once it found nothing listening.
        field("declared", !status.healthCheck.isBuiltInDefault)
        if status.judgedByProcess { field("judged_by", "process") }
        if case .http(let path) = status.healthCheck.kind { field("path", path) }
        field("interval_seconds", status.healthCheck.intervalSeconds)
        field("timeout_seconds", status.healthCheck.timeoutSeconds)
        field("failure_threshold", status.healthCheck.failureThreshold)
        field("start_timeout_seconds", status.healthCheck.startTimeoutSeconds)
        field("last_probe_at", date: status.lastProbe?.at)
        field("latency_ms", status.lastProbe.map { ($0.result.latencySeconds * 100_000).rounded() / 100 })
        field("consecutive_failures", status.consecutiveProbeFailures)
        field("error", status.lastProbe?.result.error)
        endObject()
    }

    mutating func cgroupUsage(_ usage: CgroupUsage) {
        beginObject()
        field("memory_bytes", usage.memoryBytes)
        field("memory_peak_bytes", usage.memoryPeakBytes)
        field("memory_limit_bytes", usage.memoryLimitBytes)
        field("cpu_usage_seconds", usage.cpuUsageSeconds)
        field("cpu_limit_cores", usage.cpuQuotaCores)
        field("throttled_seconds", usage.throttledSeconds)
        field("throttled_periods", usage.throttledPeriods)
        field("pids_current", usage.pidsCurrent)
        field("pids_limit", usage.pidsLimit)
        field("oom_kills", usage.oomKills)
        endObject()
    }

    mutating func resources(_ usage: ResourceUsage) {
        beginObject()
        key("memory")
        beginObject()
        field("rss_bytes", usage.memory.rssBytes)
        field("vms_bytes", usage.memory.vmsBytes)
        field("percent", usage.memory.percent)
        endObject()
        key("cpu")
        beginObject()
        field("percent", usage.cpu.percent)
        field("user_time", usage.cpu.userTime)
        field("system_time", usage.cpu.systemTime)
        endObject()
        key("io")
        if let io = usage.io {
            beginObject()
            field("read_bytes", io.readBytes)
            field("write_bytes", io.writeBytes)
            field("read_count", io.readCount)
            field("write_count", io.writeCount)
            endObject()
        } else {
            null()
        }
        field("num_threads", usage.numThreads)
        field("num_fds", usage.numFDs)
        field("num_processes", usage.numProcesses)
        field("sampled_at", date: usage.sampledAt)
        key("cgroup")
        if let cgroup = usage.cgroup { cgroupUsage(cgroup) } else { null() }
        endObject()
    }

    /// One log line in the seed's shape; `extra` is spliced in as stored (already JSON).
    /// A supervisor line as an event: the log entry's fields with `type` (its `event`) and
    /// the agent it is about (`agent_id`, `process_id`), both from the line's extra.
    mutating func supervisorEvent(_ entry: LogEntry) {
        let extra = entry.extra
        let agentID: String? = if case .string(let id)? = extra["agent_id"] { id } else { nil }
        let kind: String = if case .string(let kind)? = extra["event"] { kind } else { "event" }
        logEntry(entry, type: kind, agentID: agentID)
    }

    mutating func logEntry(_ entry: LogEntry, type: String? = nil, agentID: String? = nil) {
        beginObject()
        if let type { field("type", type) }
        field("sequence", entry.sequence)
        if let agentID { field("agent_id", agentID) }
        field("process_id", agentID.map { "par-" + $0 } ?? entry.processID)
        field("timestamp", date: entry.timestamp)
        field("level", entry.level.rawValue)
        field("message", entry.message)
        key("extra")
        raw(entry.extraJSON)
        endObject()
    }

}
