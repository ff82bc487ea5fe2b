import Foundation
import PARCore
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// Readiness and liveness: the probe schedule, applying answers, killing for health.
extension Supervisor {
    /// Agents started before the loops ran (restored at start) get their full start timeout
    /// from now: nobody was probing them meanwhile.
    func restartStartClocks() {
        let now = ResourceSampler.monotonicSeconds()
        for (agentID, record) in agents where record.state == .starting && record.pid != nil {
            agents[agentID]?.health = HealthTracker(config: record.healthCheck, startedAt: now)
            agents[agentID]?.nextProbeAt = now
        }
    }

    /// Runs due probes as one batch (never on a request's path) and sleeps until the next
    /// one is due or a new agent starts. Probes due within a little of each other are sent
    /// together, so a fleet on the same interval costs one wake-up per round, not one per agent.
    func healthLoop() async {
        let prober = self.prober
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let (due, sleep) = takeDueProbes()
                if !due.isEmpty {
                    group.addTask {
                        let requests = due.map { ProbeRequest(port: $0.port, kind: $0.kind, timeoutSeconds: $0.timeout) }
                        for await results in prober.probe(requests) {
                            await self.applyProbes(results.map { (due[$0.0], $0.1) })
                        }
                    }
                }
                await healthWakeup.wait(upTo: sleep)
            }
        }
    }

    struct DueProbe: Sendable {
        var agentID: AgentID
        var run: Int
        var port: Int
        var kind: HealthCheckConfig.Kind
        var timeout: Double
    }

    /// Probes due now (marked in flight) and how long until the next one; also fails
    /// starts that ran out of time.
    func takeDueProbes() -> ([DueProbe], Double) {
        let now = ResourceSampler.monotonicSeconds()
        var due: [DueProbe] = []
        // With nothing to probe the loop sleeps long: a new agent wakes it.
        var nextWake = 60.0
        for (agentID, record) in agents {
            guard let tracker = record.health, record.pid != nil, let port = record.port,
                  record.state == .starting || record.state == .running, record.healthKill == nil else { continue }
            switch tracker.startDecision(now: now) {
            case .restart(let reason, let detail):
                killForHealth(agentID, reason: reason, detail: detail)
                continue
            case .runUnprobed(let detail):
                runUnprobed(agentID, detail: detail, now: now)
                continue
            case .nothing, .ready:
                break
            }
            guard tracker.phase != .unprobed else { continue }
            if tracker.phase == .starting {
                nextWake = min(nextWake, tracker.startedAt + tracker.config.startTimeoutSeconds - now)
            }
            guard !record.probeInFlight else { continue }
            // A live agent's probe may go up to a tenth of its interval early, with others.
            let slack = tracker.phase == .live ? min(1, tracker.config.intervalSeconds / 10) : 0
            if record.nextProbeAt <= now + slack {
                agents[agentID]?.probeInFlight = true
                due.append(DueProbe(agentID: agentID, run: record.run, port: port, kind: tracker.config.kind, timeout: tracker.config.timeoutSeconds))
            } else {
                nextWake = min(nextWake, record.nextProbeAt - now)
            }
        }
        healthLoopWakesAt = now + max(0.001, nextWake)
        return (due, max(0.001, nextWake))
    }

    /// Results decided together, applied in one hop to the actor.
    func applyProbes(_ results: [(DueProbe, ProbeResult)]) {
        for (probe, result) in results { applyProbe(agentID: probe.agentID, run: probe.run, result: result) }
    }

    func applyProbe(agentID: AgentID, run: Int, result: ProbeResult) {
        guard var record = agents[agentID], var tracker = record.health else { return }
        switch LifecycleRules.probe(record.lifecycle(shuttingDown: shuttingDown), run: run) {
        case .stale:
            return
        case .dropped:
            // A stop in progress owns the agent's end; a probe failing because of it must not kill it.
            agents[agentID]?.probeInFlight = false
            return
        case .apply:
            break
        }
        let now = ResourceSampler.monotonicSeconds()
        record.probeInFlight = false
        record.lastProbe = ProbeRecord(at: Date(), result: result)
        let decision = tracker.record(result.outcome, now: now)
        record.health = tracker
        record.nextProbeAt = now + tracker.nextProbeDelay()
        update(agentID, record)
        // The loop may be sleeping past this agent's next probe: wake it to reschedule.
        if record.nextProbeAt < healthLoopWakesAt { healthWakeup.signal() }
        switch decision {
        case .nothing:
            break
        case .ready:
            guard record.state == .starting else { break }
            record.state = .running
            record.readyAt = Date()
            update(agentID, record)
            let seconds = now - tracker.startedAt
            logs.appendEvent(agentID: agentID.rawValue, event: .ready, level: .info, message: "\(agentID.processID) is ready (health check passed after \(String(format: "%.3f", seconds)) s)", fields: ["run": .number(Double(run))])
        case .restart(let reason, let detail):
            killForHealth(agentID, reason: reason, detail: detail)
        case .runUnprobed(let detail):
            runUnprobed(agentID, detail: detail, now: now)
        }
    }

    /// The built-in check found nothing listening: the agent runs on as a worker, judged by
    /// its process, and its log says so and how to declare a check.
    func runUnprobed(_ agentID: AgentID, detail: String, now: Double) {
        guard var record = agents[agentID], var tracker = record.health, tracker.phase == .starting else { return }
        tracker.stopProbing()
        record.health = tracker
        if record.state == .starting {
            record.state = .running
            record.readyAt = Date()
        }
        update(agentID, record)
        logs.appendEvent(agentID: agentID.rawValue, event: .judgedByProcess, level: .warning, message: "\(agentID.processID) \(detail)", fields: ["run": .number(Double(record.run))])
    }

    /// Kills an agent that failed its health; the exit then goes through the restart policy
    /// as a failure, with `reason` as its cause.
    func killForHealth(_ agentID: AgentID, reason: String, detail: String) {
        guard var record = agents[agentID], let pid = record.pid,
              LifecycleRules.mayKillForHealth(record.lifecycle(shuttingDown: shuttingDown)) else { return }
        record.healthKill = (reason, detail)
        update(agentID, record)
        logs.appendEvent(agentID: agentID.rawValue, event: .unhealthy, level: .error, message: "\(agentID.processID) \(detail); killing it (\(reason))", fields: ["reason": .string(reason), "pid": .number(Double(pid))])
        if let group = record.cgroup { cgroups.kill(group) }
        ProcessSignals.signalSession(pid, SIGKILL)
    }

    /// `starting`, `healthy`, `unhealthy`, `disabled` (no check) or `down` (no process).
    static func healthStatus(_ record: AgentRecord) -> String {
        guard record.pid != nil else { return "down" }
        if record.healthCheck.kind == .none { return record.state == .running ? "healthy" : "starting" }
        guard let tracker = record.health else { return "starting" }
        if tracker.phase == .starting { return "starting" }
        if tracker.phase == .unprobed { return record.state == .running ? "healthy" : "starting" }
        return tracker.consecutiveFailures == 0 ? "healthy" : "unhealthy"
    }
}
