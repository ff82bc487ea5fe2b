import Foundation
import PARCore

/// What a reload of the config file did, by agent id.
public struct ReloadReport: Sendable {
    public var added: [String] = []
    public var removed: [String] = []
    public var changed: [String] = []
    public var adopted: [String] = []
    public var unchanged: [String] = []
    /// Agents the file asks for that could not be started (quota, ports): why.
    public var errors: [String: String] = [:]
    /// Daemon options the file changed, which take effect only when the daemon restarts.
    public var restartRequired: [String] = []
}

extension Supervisor {
    /// Applies a config file's agents like `kubectl apply`: new ones start, ones it no
    /// longer declares stop and are forgotten, changed ones (spec or package bytes)
    /// restart, unchanged ones are not touched. Every package is read before anything
    /// changes, so a file naming a missing or broken package changes nothing.
    public func applyConfig(_ declared: DeclaredAgents) async throws(SupervisorError) -> ReloadReport {
        guard !reloading else { throw .reloadInProgress }
        guard !shuttingDown else { throw .shuttingDown }
        reloading = true
        defer { reloading = false }
        var prepared: [AgentID: Prepared] = [:]
        var issues: [String] = []
        for spec in declared.agents {
            do {
                prepared[spec.agentID] = try await Self.prepare(spec, config: config, extractor: extractor, cache: preparedPackages)
            } catch {
                issues.append("\(declared.path): agents.\(spec.agentID.rawValue).package_path: \(error)")
            }
        }
        guard issues.isEmpty else { throw .configInvalid(issues) }
        // The file's agents replace the ones it declared before: the graph is judged with them.
        let ownedBefore = Set(agents.filter { $0.value.owner == declared.path }.map(\.key))
        do {
            try validateDependencies(declared.agents, replacing: ownedBefore.union(declared.agents.map(\.agentID)))
        } catch {
            throw .configInvalid(["\(declared.path): agents: \(error.field): \(error.reason)"])
        }

        let current = agents.values.map {
            ReconcilePlanner.CurrentAgent(
                spec: $0.spec, owner: $0.owner, packageDigest: $0.packageDigest,
                // Wanted, not ended by its policy, yet without a process: it failed to start
                // (e.g. at the daemon's start); a reload tries again.
                needsStart: $0.desired == .running && $0.outcome == nil && !$0.isLive && $0.state != .stopped
            )
        }
        let diff = ReconcilePlanner.reload(current: current, filePath: declared.path, declared: declared.agents, fileDigests: prepared.mapValues(\.digest))
        var report = ReloadReport()
        report.unchanged = diff.unchanged.map(\.rawValue)
        // Agents the file drops stop dependants first, each wave together.
        for wave in shutdownWaves(diff.removed) {
            await withTaskGroup(of: Void.self) { group in
                for agentID in wave {
                    group.addTask { _ = await self.stopProcess(agentID, timeoutSeconds: nil) }
                }
            }
        }
        for agentID in diff.removed {
            // Another request may have started it again while it stopped: then it is not ours to drop.
            guard var record = agents[agentID], record.owner == declared.path, !record.isLive else {
                report.errors[agentID.rawValue] = "it was started again by another request while the reload stopped it; stop it and reload again"
                continue
            }
            dropRecord(agentID, &record)
            forgetQuietly(agentID)
            logs.appendEvent(agentID: agentID.rawValue, event: .removed, level: .info, message: "\(agentID.processID) removed: \(declared.path) no longer declares it", fields: ["reason": .string("config_removed")])
            report.removed.append(agentID.rawValue)
        }
        for spec in diff.added {
            if let error = await replace(spec, with: prepared[spec.agentID], owner: declared.path) {
                report.errors[spec.agentID.rawValue] = error
            } else {
                report.added.append(spec.agentID.rawValue)
            }
        }
        for spec in diff.changed + diff.adopted {
            let adopted = diff.adopted.contains(spec)
            guard var record = agents[spec.agentID] else { continue }
            let same = record.spec == spec && record.packageDigest == prepared[spec.agentID]?.digest
            if record.desired == .stopped || (adopted && same) {
                // A stop an operator asked for stands; the agent takes the new spec when restarted.
                record.spec = spec
                record.owner = declared.path
                if !same { record.plan = nil }
                update(spec.agentID, record)
                persistQuietly(spec.agentID, record)
            } else if config.rollingReloads, record.state == .running, record.pid != nil {
                // Without downtime: the changed agent's next run takes over once it is ready.
                record.owner = declared.path
                update(spec.agentID, record)
                do {
                    _ = try await rollingRestart(spec.agentID, newSpec: spec, drainTimeoutSeconds: nil, asOwner: declared.path)
                } catch {
                    report.errors[spec.agentID.rawValue] = error.description
                    continue
                }
            } else if let error = await replace(spec, with: prepared[spec.agentID], owner: declared.path) {
                report.errors[spec.agentID.rawValue] = error
                continue
            }
            if adopted { report.adopted.append(spec.agentID.rawValue) } else { report.changed.append(spec.agentID.rawValue) }
        }
        if !(report.added.isEmpty && report.removed.isEmpty && report.changed.isEmpty && report.adopted.isEmpty) {
            logger.info("config applied", metadata: [
                "file": "\(declared.path)", "added": "\(report.added)", "removed": "\(report.removed)",
                "changed": "\(report.changed)", "adopted": "\(report.adopted)",
            ])
        }
        return report
    }

    /// Stops what runs under the agent's id (if anything) and starts `spec`; the error's text when it could not.
    private func replace(_ spec: AgentSpec, with prepared: Prepared?, owner: String) async -> String? {
        guard let prepared else { return "its package was not prepared" }
        if let record = agents[spec.agentID], record.isLive {
            await stopProcess(spec.agentID, timeoutSeconds: nil)
            // Stopped through the API while we waited: that stop stands; the new spec is kept for later.
            if var record = agents[spec.agentID], record.desired == .stopped {
                record.spec = spec
                record.owner = owner
                record.plan = nil
                update(spec.agentID, record)
                persistQuietly(spec.agentID, record)
                return nil
            }
        }
        agents[spec.agentID]?.owner = owner
        do {
            _ = try await launch(spec: spec, prepared: prepared, owner: owner)
            return nil
        } catch {
            return error.description
        }
    }
}
