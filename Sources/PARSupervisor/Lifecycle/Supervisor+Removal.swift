import PARCore

extension Supervisor {
    /// Takes an agent out of the table for good: its record, route, desired state, port and
    /// uid go; its log lines stay until retention ages them out. A live one needs `force`
    /// (it is stopped first, as by a stop). Refused for an agent a config file declares (the
    /// next reload would bring it back) and for one others depend on (they would wait on
    /// it for ever).
    public func remove(processID: String, force: Bool) async throws(SupervisorError) -> ProcessStatus {
        let agentID = try lookup(processID)
        guard let record = agents[agentID] else { throw .notFound(processID: processID, known: knownIDs) }
        if let owner = record.owner { throw .ownedByConfig(processID: agentID.processID, file: owner) }
        // The rolling restart owns the agent until it answers.
        if rollingAgents.contains(agentID) { throw .rollingRestartInProgress(processID: agentID.processID) }
        let dependants = agents.filter { entry in entry.key != agentID && entry.value.spec.dependencies.contains { $0.agentID == agentID } }
            .map(\.key.processID).sorted()
        guard dependants.isEmpty else {
            throw .removalRefused(processID: agentID.processID, reason: "\(dependants.joined(separator: ", ")) depend\(dependants.count == 1 ? "s" : "") on it; remove \(dependants.count == 1 ? "it" : "them") first, or drop it from their depends_on")
        }
        if record.isLive {
            guard force else {
                throw .removalRefused(processID: agentID.processID, reason: "it is \(record.state.rawValue); stop it first, or remove it with force (par rm --force, ?force=true), which stops it")
            }
            _ = try await stop(processID: agentID.processID, timeoutSeconds: nil)
        }
        // A restart by another request may have come in while it stopped.
        guard var current = agents[agentID], !current.isLive, current.owner == nil, !rollingAgents.contains(agentID),
              !agents.contains(where: { $0.key != agentID && $0.value.spec.dependencies.contains { $0.agentID == agentID } }),
              let final = status(of: agentID) else {
            throw .changedMeanwhile(processID: agentID.processID)
        }
        // The desired state goes first: if it cannot (a full disk), the agent stays in the
        // table and the answer says why, instead of coming back at the next start.
        do {
            try state.delete(agentID: agentID.rawValue)
        } catch {
            throw .state(error)
        }
        dropRecord(agentID, &current)
        logs.appendEvent(agentID: agentID.rawValue, event: .removed, level: .info, message: "\(agentID.processID) removed", fields: ["reason": .string("removed")])
        return final
    }

    /// Takes a record out of the table once its desired state is gone: its port and uid go
    /// back, its route and its place among the waiting agents with it. Shared by removal and
    /// by a reload that drops a file's agent.
    func dropRecord(_ agentID: AgentID, _ record: inout AgentRecord) {
        releasePort(&record)
        agents[agentID] = nil
        waitingAgents.remove(agentID)
        routeTable.publish(agentID.rawValue, port: nil)
    }
}
