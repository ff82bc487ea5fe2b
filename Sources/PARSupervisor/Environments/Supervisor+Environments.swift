import Foundation
import PARCore
import PARLogs
import PARPackages

/// Python packages with dependencies: the spawn answers at once with the agent
/// `preparing`, the install runs off the spawn's path (its output in the agent's `install`
/// log stream), and the process starts when the environment is ready. A failed install
/// fails the agent (`last_exit.reason: "dependencies"`) and is never retried by policy.
extension Supervisor {
    /// What a launch must do about a package's dependencies.
    enum EnvironmentPlan: Sendable {
        /// None to install: the configured interpreter runs it.
        case none
        /// Built already: its python runs the agent now.
        case ready(PythonEnvironment)
        /// To be built first; its python path is known before it exists.
        case build(EnvironmentJob)

        var python: String? {
            switch self {
            case .none: nil
            case .ready(let environment): environment.python
            case .build(let job): job.python
            }
        }

        var key: String? {
            switch self {
            case .none: nil
            case .ready(let environment): environment.key
            case .build(let job): job.key
            }
        }
    }

    func environmentPlan(for prepared: Prepared) async throws(SupervisorError) -> EnvironmentPlan {
        guard prepared.manifest.command == nil, !prepared.requirements.isEmpty else { return .none }
        let interpreter: PythonInterpreter
        do {
            interpreter = try await environments.interpreter(for: prepared.manifest.runtime)
        } catch {
            throw .package(.unsupported(reason: error.description))
        }
        let key = EnvironmentCachePolicy.key(requirements: prepared.requirements, interpreter: interpreter)
        if let environment = environments.ready(key) { return .ready(environment) }
        let python = environments.directory(for: key).appendingPathComponent("bin/python").path
        return .build(EnvironmentJob(key: key, requirements: prepared.requirements, interpreter: interpreter, python: python))
    }

    /// Marks the agent `preparing` and starts waiting for its environment.
    func beginPreparing(_ agentID: AgentID, _ record: inout AgentRecord, job: EnvironmentJob) {
        let token = UUID()
        record.state = .preparing
        record.preparingToken = token
        record.health = nil
        record.error = nil
        let processID = agentID.processID
        let sink = logs.makeSink(processID: processID, run: record.run + 1, onDrained: {})
        let environments = self.environments
        logs.appendEvent(agentID: agentID.rawValue, event: .preparing, level: .info, message: "\(processID) is preparing: installing its dependencies (environment \(job.key)); it starts when they are ready", fields: ["environment": .string(job.key)])
        record.pendingRestart = Task { [weak self] in
            let result = await environments.ensure(job) { lines in
                _ = sink.write(.install, lines.map { LineSplitter.Line(text: $0) })
            }
            sink.finish()
            await self?.finishPreparing(agentID, token: token, result: result)
        }
    }

    /// The environment is ready (start the agent) or could not be built (fail it).
    private func finishPreparing(_ agentID: AgentID, token: UUID, result: Result<PythonEnvironment, EnvironmentError>) async {
        guard var record = agents[agentID], record.state == .preparing, record.preparingToken == token else { return }
        record.pendingRestart = nil
        record.preparingToken = nil
        let processID = agentID.processID
        switch result {
        case .success:
            do {
                try startOrWait(agentID, &record, why: "after installing its dependencies")
            } catch {
                failStart(agentID, &record, error: "start failed: \(error)")
            }
        case .failure(let error):
            record.state = .failed
            record.outcome = .failed
            record.error = error.description
            record.lastExit = ExitRecord(code: nil, signal: nil, at: Date(), reason: ExitReason.dependencies.rawValue, run: record.run)
            releasePort(&record)
            releaseCgroup(agentID, &record)
            logs.appendEvent(agentID: agentID.rawValue, event: .failed, level: .critical, message: "\(processID) failed: \(error.description)", fields: ["reason": .string(ExitReason.dependencies.rawValue)])
        }
        update(agentID, record)
        persistQuietly(agentID, record)
        await evictEnvironments()
    }

    /// Says in the agent's install stream that its dependencies were there already.
    func noteReused(_ environment: PythonEnvironment, agentID: AgentID, run: Int) {
        let sink = logs.makeSink(processID: agentID.processID, run: run, onDrained: {})
        _ = sink.write(.install, [LineSplitter.Line(text: "dependencies already installed: reusing environment \(environment.key)")])
    }

    /// Removes environments no agent uses once the cache is over its cap.
    func evictEnvironments() async {
        let inUse = Set(agents.values.filter { $0.isLive || $0.state == .preparing }.compactMap(\.environmentKey))
        let removed = await environments.evict(inUse: inUse)
        if !removed.isEmpty {
            logger.info("removed unused Python environments over the cache cap", metadata: ["environments": "\(removed.joined(separator: ", "))"])
        }
    }
}
