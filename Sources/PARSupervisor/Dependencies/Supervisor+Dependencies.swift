import Foundation
import PARCore
import PARProcess

/// `depends_on`: an agent whose dependencies are not met is `waiting`, holding its port
/// and cgroup but no process, and starts the moment they are (every record write that
/// could meet one wakes the check, nothing polls). Stops go in reverse order, and
/// `restart: true` restarts dependants when their dependency restarts.
extension Supervisor {
    /// What `agentID`'s record means for the agents that depend on it.
    func dependencyState(of agentID: AgentID) -> DependencyState? {
        guard let record = agents[agentID] else { return nil }
        return DependencyState(
            started: record.pid != nil,
            healthy: record.pid != nil && record.state == .running,
            state: record.state.rawValue
        )
    }

    func unmetDependencies(_ spec: AgentSpec) -> [Dependency] {
        DependencyGraph.unmet(spec.dependencies) { dependencyState(of: $0) }
    }

    /// Refuses a spec whose dependencies name an unknown agent or close a cycle with the
    /// agents there are (or, for a config file, with the ones it declares).
    func validateDependencies(_ specs: [AgentSpec], replacing: Set<AgentID> = []) throws(ValidationError) {
        guard specs.contains(where: { !$0.dependencies.isEmpty }) || agents.values.contains(where: { !$0.spec.dependencies.isEmpty }) else { return }
        var edges: [AgentID: [AgentID]] = [:]
        for (id, record) in agents where !replacing.contains(id) {
            edges[id] = record.spec.dependencies.map(\.agentID)
        }
        for spec in specs { edges[spec.agentID] = spec.dependencies.map(\.agentID) }
        let known = Set(agents.keys).subtracting(replacing).union(specs.map(\.agentID))
        // Only new specs are judged for unknown ids: an agent already accepted keeps waiting
        // for one that went away.
        let judged = Set(specs.map(\.agentID))
        if let problem = DependencyGraph.problem(edges.filter { judged.contains($0.key) }, known: known) {
            throw ValidationError(field: "depends_on", reason: "\(problem.agent.rawValue) \(problem.reason)")
        }
        if let cycle = DependencyGraph.cycle(edges) {
            throw ValidationError(field: "depends_on", reason: "the dependencies form a cycle: \(cycle.map(\.rawValue).joined(separator: " -> ")); nothing was started")
        }
    }

    /// Starts the record's process, or parks it `waiting` when a dependency is not met.
    func startOrWait(_ agentID: AgentID, _ record: inout AgentRecord, why: String? = nil) throws(SpawnError) {
        let unmet = unmetDependencies(record.spec)
        guard unmet.isEmpty else {
            let first = record.waitingFor.isEmpty || record.state != .waiting
            record.state = .waiting
            record.waitingFor = unmet
            record.health = nil
            record.error = nil
            if first {
                logs.appendEvent(agentID: agentID.rawValue, event: .waiting, level: .info, message: "\(agentID.processID) is waiting for \(unmet.map(\.description).joined(separator: ", ")); it starts the moment they are", fields: ["reason": .string("waiting")])
            }
            return
        }
        record.waitingFor = []
        try start(agentID, &record, why: why)
    }

    /// Called by every record write while some agent waits: one check, soon, on the actor.
    func scheduleDependencyCheck() {
        guard dependencyCheck == nil else { return }
        dependencyCheck = Task { [weak self] in
            await self?.startWaitingAgents()
        }
    }

    private func startWaitingAgents() {
        dependencyCheck = nil
        for agentID in waitingAgents.sorted() {
            guard var record = agents[agentID], record.state == .waiting, !shuttingDown else { continue }
            let unmet = unmetDependencies(record.spec)
            if !unmet.isEmpty {
                if unmet != record.waitingFor {
                    record.waitingFor = unmet
                    update(agentID, record)
                }
                continue
            }
            record.waitingFor = []
            do {
                try start(agentID, &record, why: "its dependencies are met (\(record.spec.dependencies.map(\.description).joined(separator: ", ")))")
            } catch {
                failStart(agentID, &record, error: "start failed: \(error)")
            }
            update(agentID, record)
            persistQuietly(agentID, record)
        }
    }

    /// `restart: true`: the agents that declared it on `agentID` are stopped and started
    /// again, waiting until `agentID` meets their condition anew.
    func restartDependants(of agentID: AgentID) {
        let dependants = DependencyGraph.restartingDependants(of: agentID, in: agents.reduce(into: [:]) { $0[$1.key] = $1.value.spec.dependencies })
        for dependant in dependants {
            guard let record = agents[dependant], record.isLive, record.state != .waiting, record.desired == .running else { continue }
            logs.appendEvent(agentID: dependant.rawValue, event: .restarting, level: .info, message: "restarting \(dependant.processID): it depends on \(agentID.rawValue) with restart: true, which restarted", fields: ["reason": .string("dependency_restarted")])
            let previous = dependantRestarts[dependant]
            dependantRestarts[dependant] = Task { [weak self] in
                await previous?.value
                await self?.restartForDependency(dependant)
            }
        }
    }

    private func restartForDependency(_ agentID: AgentID) async {
        defer { dependantRestarts[agentID] = nil }
        guard let before = agents[agentID], before.isLive, !shuttingDown else { return }
        let spec = before.spec
        let owner = before.owner
        let prepared: Prepared
        do {
            prepared = try await Self.prepare(spec, config: config, extractor: extractor, cache: preparedPackages)
        } catch {
            logs.appendEvent(agentID: agentID.rawValue, event: .failed, level: .error, message: "cannot restart \(agentID.processID) after its dependency restarted: \(error)")
            return
        }
        guard let current = agents[agentID], current.spec == spec, current.desired == .running, current.isLive else { return }
        await stopProcess(agentID, timeoutSeconds: nil)
        guard let stopped = agents[agentID], stopped.desired == .running, !stopped.isLive else { return }
        do {
            _ = try await launch(spec: spec, prepared: prepared, owner: owner)
        } catch {
            logs.appendEvent(agentID: agentID.rawValue, event: .failed, level: .error, message: "cannot restart \(agentID.processID) after its dependency restarted: \(error)")
        }
    }

    /// Agents in waves to stop (shutdown, a reload's removals): dependants before what they depend on.
    func shutdownWaves(_ live: [AgentID]) -> [[AgentID]] {
        var edges: [AgentID: [AgentID]] = [:]
        for id in live { edges[id] = agents[id]?.spec.dependencies.map(\.agentID) ?? [] }
        return DependencyGraph.stopWaves(Set(live), edges: edges)
    }
}
