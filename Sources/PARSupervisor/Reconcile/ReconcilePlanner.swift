import PARCore

/// Pure decisions about desired state: what a starting daemon brings back, and what a
/// config reload changes. No processes, no files: the supervisor carries the plan out.
public enum ReconcilePlanner {
    /// One agent a starting daemon knows of, from the state database and the config file.
    public struct BootAgent: Sendable, Equatable {
        public var spec: AgentSpec
        public var owner: String?
        /// Start it now (it should run and the policy had not ended it).
        public var start: Bool
        /// Shown while it is down: `stopped`, `failed` or `crashed`.
        public var state: ProcessState
        /// Its port before the restart, asked for again so clients keep their address.
        public var preferredPort: Int?
        public var stored: StoredAgent?
    }

    public struct BootPlan: Sendable, Equatable {
        public var agents: [BootAgent]
        /// Stored agents of a config file that no longer declares them: forgotten.
        public var forget: [String]
    }

    /// - Parameters:
    ///   - stored: rows of the state database with their decoded specs.
    ///   - file: the config file's path and its agents, when the daemon runs with one.
    public static func boot(stored: [(row: StoredAgent, spec: AgentSpec)], file: (path: String, agents: [AgentSpec])?) -> BootPlan {
        var plan = BootPlan(agents: [], forget: [])
        let declared = Dictionary(uniqueKeysWithValues: (file?.agents ?? []).map { ($0.agentID.rawValue, $0) })
        var seen: Set<String> = []
        for (row, storedSpec) in stored {
            seen.insert(row.agentID)
            var row = row
            var spec = storedSpec
            if let file, let fromFile = declared[row.agentID] {
                // The file is the truth for what it declares; an agent spawned through the
                // API that the file now declares is taken over by it.
                row.owner = file.path
                if fromFile != storedSpec {
                    // Changed while the daemon was down: a fresh start, as a reload would give,
                    // unless an operator had stopped it.
                    spec = fromFile
                    row.outcome = nil
                    row.consecutiveRestarts = 0
                }
            } else if row.owner != nil, file != nil {
                // Its file no longer declares it.
                plan.forget.append(row.agentID)
                continue
            } else if file == nil {
                // Without a config file, agents a file once declared are kept as they were
                // (forgetting --config must not stop them), and the API may manage them.
                row.owner = nil
            }
            let start = row.desired == .running && row.outcome == nil
            plan.agents.append(BootAgent(
                spec: spec, owner: row.owner, start: start,
                state: start ? .starting : ProcessState(rawValue: row.outcome?.rawValue ?? "stopped") ?? .stopped,
                preferredPort: row.port, stored: row
            ))
        }
        for spec in file?.agents ?? [] where !seen.contains(spec.agentID.rawValue) {
            plan.agents.append(BootAgent(spec: spec, owner: file?.path, start: true, state: .starting, preferredPort: nil, stored: nil))
        }
        plan.agents.sort { $0.spec.agentID < $1.spec.agentID }
        return plan
    }


    /// What a reload of the config file changes.
    public struct ReloadDiff: Sendable, Equatable {
        public var added: [AgentSpec] = []
        /// Agents the file owned and no longer declares: stopped and forgotten.
        public var removed: [AgentID] = []
        /// A different spec or different package bytes: restarted with the new one.
        public var changed: [AgentSpec] = []
        /// Spawned through the API and now declared by the file, which takes them over.
        public var adopted: [AgentSpec] = []
        public var unchanged: [AgentID] = []
    }

    /// One agent the supervisor has now, for the diff.
    public struct CurrentAgent: Sendable, Equatable {
        public var spec: AgentSpec
        public var owner: String?
        /// The digest of the package bytes its process runs (nil: unknown).
        public var packageDigest: String?
        /// It should run but has no process (its start failed): a reload starts it again.
        public var needsStart: Bool

        public init(spec: AgentSpec, owner: String?, packageDigest: String?, needsStart: Bool = false) {
            self.spec = spec
            self.owner = owner
            self.packageDigest = packageDigest
            self.needsStart = needsStart
        }
    }

    /// - Parameters:
    ///   - fileDigests: the digest of each declared agent's package as the file names it now.
    public static func reload(current: [CurrentAgent], filePath: String, declared: [AgentSpec], fileDigests: [AgentID: String]) -> ReloadDiff {
        var diff = ReloadDiff()
        let byID = Dictionary(uniqueKeysWithValues: current.map { ($0.spec.agentID, $0) })
        for spec in declared.sorted(by: { $0.agentID < $1.agentID }) {
            guard let now = byID[spec.agentID] else {
                diff.added.append(spec)
                continue
            }
            if now.owner != filePath {
                diff.adopted.append(spec)
                continue
            }
            let sameSpec = now.spec == spec
            let samePackage = now.packageDigest == nil || fileDigests[spec.agentID] == nil || now.packageDigest == fileDigests[spec.agentID]
            if sameSpec && samePackage && !now.needsStart {
                diff.unchanged.append(spec.agentID)
            } else {
                diff.changed.append(spec)
            }
        }
        let declaredIDs = Set(declared.map(\.agentID))
        diff.removed = current.filter { $0.owner == filePath && !declaredIDs.contains($0.spec.agentID) }.map(\.spec.agentID).sorted()
        return diff
    }
}
