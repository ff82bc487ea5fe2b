import Foundation

/// One entry of an agent's `depends_on` (Docker Compose's long syntax): start only once
/// `agentID` is started (or healthy), and with `restart`, be restarted when it is.
public struct Dependency: Sendable, Hashable {
    public enum Condition: String, Sendable, CaseIterable {
        /// It has a process (Compose's `service_started`).
        case started
        /// It runs and passes its readiness check (`service_healthy`).
        case healthy
    }

    public var agentID: AgentID
    public var condition: Condition
    /// Restarted when the dependency restarts (OTP's `rest_for_one`, Compose's `restart: true`).
    public var restart: Bool

    public init(agentID: AgentID, condition: Condition = .started, restart: Bool = false) {
        self.agentID = agentID
        self.condition = condition
        self.restart = restart
    }

    /// Reads `["db", {"agent": "cache", "condition": "healthy", "restart": true}]`.
    public static func parseList(_ items: [Any], field: String) throws(ValidationError) -> [Dependency] {
        guard items.count <= 256 else { throw ValidationError(field: field, reason: "at most 256 dependencies, got \(items.count)") }
        var result: [Dependency] = []
        for (index, item) in items.enumerated() {
            let here = "\(field)[\(index)]"
            let dependency: Dependency
            if let name = item as? String {
                dependency = Dependency(agentID: try Self.agentID(name, field: here))
            } else if let object = item as? [String: Any] {
                do {
                    dependency = try parseObject(object, field: here)
                } catch {
                    // JSONFields names the key alone; say which entry it is in.
                    throw error.field.hasPrefix(here) ? error : ValidationError(field: "\(here).\(error.field)", reason: error.reason)
                }
            } else {
                throw ValidationError(field: here, reason: "expected an agent id or {\"agent\": ID, \"condition\": \"started\" | \"healthy\", \"restart\": BOOL}")
            }
            guard !result.contains(where: { $0.agentID == dependency.agentID }) else {
                throw ValidationError(field: here, reason: "\(dependency.agentID.rawValue) is named twice; name each dependency once")
            }
            result.append(dependency)
        }
        return result
    }

    private static func parseObject(_ object: [String: Any], field: String) throws(ValidationError) -> Dependency {
        var fields = JSONFields(object: object)
        let agentID = try Self.agentID(try fields.requiredString("agent"), field: "\(field).agent")
        var condition = Condition.started
        if let raw = try fields.string("condition") {
            guard let parsed = Condition(rawValue: raw) else {
                throw ValidationError(field: "\(field).condition", reason: "must be started or healthy, got \(raw.debugDescription)")
            }
            condition = parsed
        }
        let restart = try fields.bool("restart") ?? false
        try fields.rejectUnknown()
        return Dependency(agentID: agentID, condition: condition, restart: restart)
    }

    private static func agentID(_ raw: String, field: String) throws(ValidationError) -> AgentID {
        do {
            return try AgentID(validating: raw)
        } catch {
            throw ValidationError(field: field, reason: "names an agent id, which \(error.reason)")
        }
    }

    /// The long form, as status and stored documents write it.
    public var document: [String: Any] {
        ["agent": agentID.rawValue, "condition": condition.rawValue, "restart": restart]
    }

    public var description: String { "\(agentID.rawValue) (\(condition.rawValue))" }
}

/// What a dependency's agent is doing, as the rules need it.
public struct DependencyState: Sendable, Equatable {
    /// It has a process.
    public var started: Bool
    /// It runs and is ready (passed its readiness check, or has none).
    public var healthy: Bool
    /// Its state's name, for `waiting_for`.
    public var state: String

    public init(started: Bool, healthy: Bool, state: String) {
        self.started = started
        self.healthy = healthy
        self.state = state
    }
}

/// Pure rules over the dependency graph: which dependencies hold, whether a set of specs
/// is acyclic and names only known agents, and in which order to stop.
public enum DependencyGraph {
    public static func isMet(_ dependency: Dependency, by state: DependencyState?) -> Bool {
        guard let state else { return false }
        switch dependency.condition {
        case .started: return state.started
        case .healthy: return state.healthy
        }
    }

    /// The dependencies `states` do not meet, in the order they were declared.
    public static func unmet(_ dependencies: [Dependency], states: (AgentID) -> DependencyState?) -> [Dependency] {
        dependencies.filter { !isMet($0, by: states($0.agentID)) }
    }

    /// Why `edges` (agent → what it depends on) cannot be accepted: a dependency on an
    /// unknown agent, or a cycle (named as a path back to where it starts). Nil when fine.
    public static func problem(_ edges: [AgentID: [AgentID]], known: Set<AgentID>) -> (agent: AgentID, reason: String)? {
        for agent in edges.keys.sorted() {
            if let missing = edges[agent]?.first(where: { !known.contains($0) }) {
                return (agent, "depends on \(missing.rawValue), which is not an agent of this supervisor; spawn it first (or declare it in the same config file)")
            }
        }
        if let cycle = cycle(edges) {
            return (cycle[0], "the dependencies form a cycle: \(cycle.map(\.rawValue).joined(separator: " -> ")); nothing was started")
        }
        return nil
    }

    /// A cycle as a path `a -> b -> ... -> a`, or nil. Depth-first in sorted order, so the
    /// same graph always names the same cycle; iterative, so a chain of thousands of agents
    /// cannot exhaust a thread's stack.
    public static func cycle(_ edges: [AgentID: [AgentID]]) -> [AgentID]? {
        enum Mark { case visiting, done }
        var marks: [AgentID: Mark] = [:]
        for root in edges.keys.sorted() where marks[root] == nil {
            // Each frame: a node and the index of its next edge to follow.
            var stack: [(node: AgentID, next: Int, targets: [AgentID])] = [(root, 0, (edges[root] ?? []).sorted())]
            marks[root] = .visiting
            while let top = stack.last {
                guard top.next < top.targets.count else {
                    marks[top.node] = .done
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let target = top.targets[top.next]
                switch marks[target] {
                case .done?:
                    continue
                case .visiting?:
                    let path = stack.map(\.node)
                    let start = path.firstIndex(of: target) ?? 0
                    return Array(path[start...]) + [target]
                case nil:
                    marks[target] = .visiting
                    stack.append((target, 0, (edges[target] ?? []).sorted()))
                }
            }
        }
        return nil
    }

    /// `agents` in waves to stop: every agent comes after all that depend on it, agents of
    /// one wave stop together. Dependencies outside `agents` are ignored; a cycle (which
    /// validation refuses) ends up in the last wave rather than never.
    public static func stopWaves(_ agents: Set<AgentID>, edges: [AgentID: [AgentID]]) -> [[AgentID]] {
        var remaining = agents
        var waves: [[AgentID]] = []
        while !remaining.isEmpty {
            // Free to stop: no remaining agent depends on it.
            let dependedOn = Set(remaining.flatMap { edges[$0] ?? [] })
            let wave = remaining.filter { !dependedOn.contains($0) }.sorted()
            if wave.isEmpty {
                waves.append(remaining.sorted())
                break
            }
            waves.append(wave)
            remaining.subtract(wave)
        }
        return waves
    }

    /// Agents that declared `restart: true` on `agent`, directly.
    public static func restartingDependants(of agent: AgentID, in dependencies: [AgentID: [Dependency]]) -> [AgentID] {
        dependencies.compactMap { id, list in list.contains { $0.agentID == agent && $0.restart } ? id : nil }.sorted()
    }
}
