import Foundation
import PARCore

/// The agents a config file declares, validated.
public struct DeclaredAgents: Sendable {
    public var path: String
    public var agents: [AgentSpec]

    public init(path: String, agents: [AgentSpec]) {
        self.path = path
        self.agents = agents
    }
}

/// What a starting daemon brought back.
public struct RestoreReport: Sendable {
    public var started: [String] = []
    /// Stopped by an operator, or ended by their restart policy: left down.
    public var down: [String] = []
    /// Should run but could not be started (package gone, port range full, ...): why.
    public var failed: [String: String] = [:]
    /// Declared by a config file that no longer has them.
    public var forgotten: [String] = []
}

extension Supervisor {
    /// Brings back what the state database and the config file say should exist: agents
    /// that should run are started again (on their old port when it is free), the others
    /// are listed with their state, counters and last exit. Runs before the API listens.
    public func restore(file: DeclaredAgents?) async throws(SupervisorError) -> RestoreReport {
        var report = RestoreReport()
        let rows: [StoredAgent]
        do {
            rows = try state.loadAll()
        } catch {
            throw .state(error)
        }
        var decoded: [(row: StoredAgent, spec: AgentSpec)] = []
        for row in rows {
            do throws(ValidationError) {
                decoded.append((row, try AgentSpec.fromDocument(Data(row.spec.utf8), defaults: config.defaults)))
            } catch {
                // Kept on disk untouched: a newer daemon may read it.
                logger.error("a stored agent cannot be read and is left as it is", metadata: ["agent": "\(row.agentID)", "error": "\(error)"])
                report.failed[row.agentID] = "its stored spec cannot be read: \(error)"
            }
        }
        let plan = ReconcilePlanner.boot(stored: decoded, file: file.map { ($0.path, $0.agents) })
        for id in plan.forget {
            if let agentID = try? AgentID(validating: id) { forgetQuietly(agentID) }
            report.forgotten.append(id)
        }
        // Every restored agent's old port is held first, so an agent started earlier in the
        // loop (a new one, or one whose port was busy) cannot take another's.
        var held: [AgentID: Int] = [:]
        for agent in plan.agents where agent.start {
            if let port = agent.preferredPort, ports.reserve(port) { held[agent.spec.agentID] = port }
        }
        for agent in plan.agents {
            let agentID = agent.spec.agentID
            if let port = held[agentID] { ports.release(port) }
            guard agent.start else {
                placeDown(agent, state: agent.state, error: agent.stored?.error)
                // The plan may have given it a new owner or the file's new spec: keep that.
                let rewritten = agent.stored.map { $0.owner != agent.owner || $0.spec != String(decoding: agent.spec.documentJSON(), as: UTF8.self) } ?? true
                if rewritten, let record = agents[agentID] { persistQuietly(agentID, record) }
                report.down.append(agentID.rawValue)
                continue
            }
            do {
                let prepared = try await Self.prepare(agent.spec, config: config, extractor: extractor, cache: preparedPackages)
                _ = try await launch(spec: agent.spec, prepared: prepared, owner: agent.owner, preferredPort: agent.preferredPort, carry: agent.stored)
                report.started.append(agentID.rawValue)
            } catch {
                // Left wanted on disk: once the cause is fixed, a restart request or the
                // next daemon start brings it up.
                let why = "could not be started when the daemon started: \(error)"
                placeDown(agent, state: .failed, error: why)
                logs.appendEvent(agentID: agentID.rawValue, event: .failed, level: .error, message: "\(agentID.processID) \(why)", fields: ["reason": .string("restore_failed")])
                report.failed[agentID.rawValue] = why
            }
        }
        return report
    }

    /// Lists an agent that has no process, with what it had before the daemon restarted.
    private func placeDown(_ agent: ReconcilePlanner.BootAgent, state: ProcessState, error: String?) {
        var record = AgentRecord(
            spec: agent.spec, packageID: agent.spec.packageID ?? "", plan: nil, port: nil, lastPort: agent.preferredPort,
            owner: agent.owner, state: state, healthCheck: agent.spec.healthCheck ?? .builtInDefault
        )
        if let stored = agent.stored {
            record.desired = stored.desired
            record.outcome = stored.outcome
            record.run = stored.run
            record.restartCount = stored.restartCount
            record.consecutiveRestarts = stored.consecutiveRestarts
            record.lastExit = stored.lastExit.flatMap(ExitRecord.init(json:))
        }
        record.error = error
        update(agent.spec.agentID, record)
    }
}
