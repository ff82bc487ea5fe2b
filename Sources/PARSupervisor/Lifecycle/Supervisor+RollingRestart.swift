import Foundation
import PARCore
import PARPackages
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// A process of an agent besides the one its record holds: the next run of a rolling
/// restart while it starts, or the previous one while it drains.
struct ExtraRun {
    enum Role: String { case next, draining }
    var role: Role
    var pid: Int32
    var run: Int
    var port: Int
    var a2aPort: Int?
    var cgroup: AgentCgroup?
    var exited = false
    var waiters: [ExitWaiter] = []
    var pidFile: String { role == .next ? "next" : "draining" }
}

/// `POST /supervisor/restart/{id}?strategy=rolling`: the next run starts on a fresh port
/// beside the current one; once it is ready the route switches to it in one write, the
/// current run's requests in flight finish (up to the drain timeout), then it stops. A
/// next run that never gets ready is killed and the current one keeps serving.
extension Supervisor {
    public struct RollingReport: Sendable {
        public var status: ProcessStatus
        /// Requests still in flight on the old run when it was stopped (0 unless the drain timed out).
        public var cutRequests: Int
        public var drainSeconds: Double
    }

    public func rollingRestart(processID: String, newSpec: AgentSpec?, drainTimeoutSeconds: Double?) async throws(SupervisorError) -> RollingReport {
        try await rollingRestart(try lookup(processID), newSpec: newSpec, drainTimeoutSeconds: drainTimeoutSeconds, asOwner: nil)
    }

    /// - Parameter asOwner: the config file applying `newSpec` (a reload), which may change its own agents.
    func rollingRestart(_ agentID: AgentID, newSpec: AgentSpec?, drainTimeoutSeconds: Double?, asOwner: String?) async throws(SupervisorError) -> RollingReport {
        let processID = agentID.processID
        guard let before = agents[agentID] else { throw .notFound(processID: processID, known: knownIDs) }
        if let owner = before.owner, owner != asOwner, let newSpec, newSpec != before.spec { throw .ownedByConfig(processID: processID, file: owner) }
        guard !rollingAgents.contains(agentID) else { throw .rollingRestartInProgress(processID: processID) }
        rollingAgents.insert(agentID)
        // Whatever way it ends (ready, failed, refused), no extra run is left on the books.
        defer {
            rollingAgents.remove(agentID)
            extraRuns[agentID] = nil
        }
        // Nothing serves now: there is nothing to keep up, so an ordinary restart does.
        guard before.state == .running, before.pid != nil else {
            let status = try await restart(processID: processID, newSpec: newSpec)
            return RollingReport(status: status, cutRequests: 0, drainSeconds: 0)
        }
        let spec = newSpec ?? before.spec
        if newSpec != nil {
            do { try validateDependencies([spec], replacing: [agentID]) } catch { throw .invalid(error) }
        }
        let prepared = try await Self.prepare(spec, config: config, extractor: extractor, cache: preparedPackages)
        let environment = try await readyEnvironment(for: prepared, agentID: agentID)
        guard var current = agents[agentID], current.spec == before.spec, current.run == before.run, current.pid != nil, !shuttingDown else {
            throw .changedMeanwhile(processID: processID)
        }
        if let violation = config.quotas.check(adding: spec.limits, to: quotaUsage()) {
            throw .quotaExceeded(violation)
        }

        // The next run: its own port (and second port), cgroup and pid file; same uid and folder.
        let (port, a2aPort) = try allocatePorts(for: prepared, preferring: nil)
        let releasePorts = { [self] in
            ports.release(port)
            if let a2aPort { ports.release(a2aPort) }
        }
        let plan: LaunchPlan
        do {
            plan = try makePlan(agentID, spec: spec, prepared: prepared, port: port, a2aPort: a2aPort, python: environment, workDirectory: workDirectory(for: agentID).path)
        } catch {
            releasePorts()
            throw error
        }
        var group: AgentCgroup?
        let run = current.run + 1
        let controllers = CgroupPlacement.wantsCgroup(version: cgroups.version, limits: spec.limits, everyAgent: config.cgroupEveryAgent)
        if controllers || cgroups.tracksEveryAgent {
            do {
                // A name of its own (the current run's group is removed, with whatever is in
                // it, once that run has drained).
                group = try cgroups.create(agent: agentID.rawValue + "+run\(run)", limits: spec.limits, controllers: controllers)
            } catch {
                releasePorts()
                throw .internalFailure("cannot create the cgroup of the next run of \(agentID.processID): \(error)")
            }
        }
        let spawned: SpawnedProcess
        do {
            spawned = try Spawner.spawn(
                executable: plan.executable, argv: plan.argv, environment: plan.environment, workingDirectory: plan.workingDirectory,
                confinement: SpawnConfinement(
                    cgroupProcsFiles: group?.procsFiles ?? [], cgroupDirectory: group?.cloneDirectory, nice: Int32(spec.limits.nice),
                    groupNice: config.agentGroupNice, identity: current.identity
                )
            )
        } catch {
            releasePorts()
            if let group { cgroups.remove(group) }
            throw .spawnFailed("cannot start the next run of \(agentID.processID): \(error)")
        }
        extraRuns[agentID] = ExtraRun(role: .next, pid: spawned.pid, run: run, port: port, a2aPort: a2aPort, cgroup: group)
        writePidFile(agentID, pid: spawned.pid, suffix: "next")
        watch(spawned, agentID: agentID, run: run, retention: spec.logRetention)
        logs.appendEvent(agentID: agentID.rawValue, event: .rollingRestartStarted, level: .info, message: "rolling restart of \(processID): run \(run) started beside run \(current.run) (pid \(spawned.pid), port \(port)); the route switches once it is ready", fields: ["pid": .number(Double(spawned.pid)), "port": .number(Double(port)), "run": .number(Double(run))])

        // Ready, or the reason it never got there.
        let healthCheck = spec.healthCheck ?? prepared.manifest.health ?? .builtInDefault
        var judgedByProcess = false
        if let failure = await waitUntilReady(agentID, pid: spawned.pid, port: port, check: healthCheck, judgedByProcess: &judgedByProcess) {
            await endExtraRun(agentID, pid: spawned.pid, timeoutSeconds: 0)
            releasePorts()
            if let group { releaseCgroupNamed(agentID, group) }
            let reason = "the next run never got ready (\(failure)); run \(current.run) keeps serving"
            logs.appendEvent(agentID: agentID.rawValue, event: .rollingRestartFailed, level: .error, message: "rolling restart of \(processID) failed: \(reason)", fields: ["reason": .string("rolling_restart_failed"), "run": .number(Double(run))])
            throw .rollingRestartFailed(processID: processID, reason: reason)
        }

        // The switch: from this write on the proxies send new requests to the next run.
        guard let latest = agents[agentID], latest.desired == .running, latest.state != .stopping, !shuttingDown else {
            await endExtraRun(agentID, pid: spawned.pid, timeoutSeconds: 0)
            releasePorts()
            if let group { releaseCgroupNamed(agentID, group) }
            throw .changedMeanwhile(processID: processID)
        }
        current = latest
        let old = (pid: current.pid, run: current.run, port: current.port, a2aPort: current.a2aPort, cgroup: current.cgroup)
        current.pendingRestart?.cancel()
        current.pendingRestart = nil
        current.nextRestartAt = nil
        current.nextRestartReason = nil
        current.spec = spec
        current.plan = plan
        current.packageID = prepared.packageID
        current.packageDigest = prepared.digest
        current.healthCheck = healthCheck
        current.exitRules = spec.exitRules(package: prepared.manifest.exitRules)
        current.pid = spawned.pid
        current.run = run
        current.port = port
        current.lastPort = port
        current.a2aPort = a2aPort
        current.cgroup = group
        current.oomKillsSeen = group.map { cgroups.oomKills($0) } ?? 0
        let now = ResourceSampler.monotonicSeconds()
        current.startedAt = Date()
        current.startedMonotonic = now
        current.readyAt = Date()
        current.state = .running
        current.restartCount += 1
        current.consecutiveRestarts = 0
        current.error = nil
        current.stopRequested = false
        current.probeInFlight = false
        current.lastProbe = nil
        current.healthKill = nil
        if healthCheck.kind == .none {
            current.health = nil
        } else {
            var tracker = HealthTracker(config: healthCheck, startedAt: now)
            _ = tracker.record(success: true, error: nil, now: now)
            // A worker the built-in check found listening nowhere stays judged by its process.
            if judgedByProcess { tracker.stopProbing() }
            current.health = tracker
            current.nextProbeAt = now + tracker.nextProbeDelay()
        }
        update(agentID, current)
        persistQuietly(agentID, current)
        writePidFile(agentID, pid: spawned.pid)
        removePidFile(agentID, suffix: "next")
        sampler.forget(agentID.processID)
        healthWakeup.signal()

        // The previous run drains, then stops.
        var cut = 0
        let drainStarted = ResourceSampler.monotonicSeconds()
        if let oldPID = old.pid, let oldPort = old.port {
            extraRuns[agentID] = ExtraRun(role: .draining, pid: oldPID, run: old.run, port: oldPort, a2aPort: old.a2aPort, cgroup: old.cgroup)
            writePidFile(agentID, pid: oldPID, suffix: "draining")
            let deadline = drainStarted + (drainTimeoutSeconds ?? spec.stopTimeoutSeconds)
            while routeTable.requestsInFlight(port: oldPort) > 0, ResourceSampler.monotonicSeconds() < deadline, !shuttingDown {
                try? await Task.sleep(for: .milliseconds(5))
            }
            cut = routeTable.requestsInFlight(port: oldPort)
            await endExtraRun(agentID, pid: oldPID, timeoutSeconds: spec.stopTimeoutSeconds)
            removePidFile(agentID, suffix: "draining")
            ports.release(oldPort)
            if let second = old.a2aPort { ports.release(second) }
        }
        if let oldGroup = old.cgroup { releaseCgroupNamed(agentID, oldGroup) }
        let drained = ResourceSampler.monotonicSeconds() - drainStarted
        logs.appendEvent(agentID: agentID.rawValue, event: .rollingRestartDone, level: cut > 0 ? .warning : .info, message: "rolling restart of \(processID) done: run \(run) serves on port \(port); run \(old.run) drained in \(String(format: "%.3f", drained)) s and stopped\(cut > 0 ? " with \(cut) request\(cut == 1 ? "" : "s") still in flight (drain timeout)" : "")", fields: ["run": .number(Double(run)), "cut_requests": .number(Double(cut))])
        guard let final = status(of: agentID) else { throw .changedMeanwhile(processID: processID) }
        return RollingReport(status: final, cutRequests: cut, drainSeconds: drained)
    }

    /// The interpreter of the package's environment, installing it first if it must be.
    private func readyEnvironment(for prepared: Prepared, agentID: AgentID) async throws(SupervisorError) -> String? {
        switch try await environmentPlan(for: prepared) {
        case .none: return nil
        case .ready(let environment): return environment.python
        case .build(let job):
            let sink = logs.makeSink(processID: agentID.processID, run: (agents[agentID]?.run ?? 0) + 1, onDrained: {})
            let result = await environments.ensure(job) { lines in
                _ = sink.write(.install, lines.map { LineSplitter.Line(text: $0) })
            }
            sink.finish()
            switch result {
            case .success(let environment): return environment.python
            case .failure(let error): throw .package(.unsupported(reason: error.description))
            }
        }
    }

    /// Probes the next run until it is ready; nil when it is, else what went wrong.
    private func waitUntilReady(_ agentID: AgentID, pid: Int32, port: Int, check: HealthCheckConfig, judgedByProcess: inout Bool) async -> String? {
        if check.kind == .none {
            // Nothing to ask: alive a moment after its start counts, as for a plain start.
            try? await Task.sleep(for: .milliseconds(50))
            return extraRun(agentID, pid: pid)?.exited == false ? nil : "it exited at once"
        }
        var tracker = HealthTracker(config: check, startedAt: ResourceSampler.monotonicSeconds())
        while true {
            guard let run = extraRun(agentID, pid: pid), !run.exited else { return "it exited before it was ready" }
            guard !shuttingDown else { return "the supervisor is shutting down" }
            var result: ProbeResult?
            for await batch in prober.probe([ProbeRequest(port: port, kind: check.kind, timeoutSeconds: check.timeoutSeconds)]) {
                result = batch.first?.1
            }
            let now = ResourceSampler.monotonicSeconds()
            switch tracker.record(result?.outcome ?? ProbeOutcome(healthy: false, error: "no probe result"), now: now) {
            case .ready: return nil
            case .restart(_, let detail): return detail
            // A worker that listens nowhere is as ready as it will be once it runs.
            case .runUnprobed:
                judgedByProcess = true
                return nil
            case .nothing: break
            }
            try? await Task.sleep(for: .milliseconds(Int64(tracker.nextProbeDelay() * 1000)))
        }
    }

    func extraRun(_ agentID: AgentID, pid: Int32) -> ExtraRun? {
        extraRuns[agentID].flatMap { $0.pid == pid ? $0 : nil }
    }

    /// An exit of a next or draining run: noted, its leftovers killed. True when it was one.
    func handleExtraRunExit(agentID: AgentID, exit: ChildExit) -> Bool {
        guard var extra = extraRuns[agentID], extra.pid == exit.pid else { return false }
        ProcessSignals.signalGroup(exit.pid, SIGKILL)
        if let group = extra.cgroup { cgroups.kill(group) } else { ProcessSignals.signalSession(exit.pid, SIGKILL) }
        extra.exited = true
        let waiters = extra.waiters
        extra.waiters = []
        extraRuns[agentID] = extra
        logs.appendEvent(agentID: agentID.rawValue, event: .extraRunExited, level: .info, message: "run \(extra.run) of \(agentID.processID) (\(extra.role == .next ? "the next run of a rolling restart" : "drained")) \(exit.termination)", fields: ["pid": .number(Double(exit.pid)), "run": .number(Double(extra.run))])
        waiters.forEach { $0.resume(exited: true) }
        return true
    }

    /// SIGTERM to an extra run's session, SIGKILL after `timeoutSeconds`; returns once it exited.
    func endExtraRun(_ agentID: AgentID, pid: Int32, timeoutSeconds: Double) async {
        guard let run = extraRun(agentID, pid: pid), !run.exited else { return }
        ProcessSignals.signalSession(pid, timeoutSeconds > 0 ? SIGTERM : SIGKILL)
        if await !waitForExtraExit(agentID, pid: pid, timeoutSeconds: max(0.05, timeoutSeconds)) {
            if let group = run.cgroup { cgroups.kill(group) }
            ProcessSignals.signalSession(pid, SIGKILL)
            _ = await waitForExtraExit(agentID, pid: pid, timeoutSeconds: 30)
        }
        ProcessSignals.signalSession(pid, SIGKILL)
    }

    private func waitForExtraExit(_ agentID: AgentID, pid: Int32, timeoutSeconds: Double) async -> Bool {
        guard let run = extraRun(agentID, pid: pid), !run.exited else { return true }
        return await withCheckedContinuation { continuation in
            let waiter = ExitWaiter(continuation)
            extraRuns[agentID]?.waiters.append(waiter)
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000)))
                waiter.resume(exited: false)
            }
        }
    }

    /// At shutdown: every next or draining run is killed with the agents.
    func killExtraRuns() async {
        for (agentID, run) in extraRuns where !run.exited {
            await endExtraRun(agentID, pid: run.pid, timeoutSeconds: 0)
        }
    }
}
