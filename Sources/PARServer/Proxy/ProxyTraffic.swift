import Synchronization

/// What the proxy relayed, per agent, for `/metrics`: answers by status class and the
/// answers the proxy gave itself because the agent could not. Only agents the supervisor
/// knows get a row, so a client probing random ids cannot grow this table.
public final class ProxyTraffic: Sendable {
    struct Counts: Sendable, Equatable {
        /// Answers by class: index 0 is 1xx, 4 is 5xx.
        var byClass: [UInt64] = [0, 0, 0, 0, 0]
        /// 502s: the agent refused the connection or closed it before answering.
        var unreachable: UInt64 = 0
        /// 504s: no answer head within `--proxy-timeout`.
        var timedOut: UInt64 = 0
    }

    enum Failure { case unreachable, timedOut }

    private let agents = Mutex<[String: AgentCounters]>([:])
    /// Requests for agents the supervisor does not know (answered 404).
    private let unknown = Atomic<UInt64>(0)

    public init() {}

    /// One agent's counters, lock-free to bump: the relay keeps a reference per route.
    final class AgentCounters: Sendable {
        private let informational = Atomic<UInt64>(0)
        private let successful = Atomic<UInt64>(0)
        private let redirected = Atomic<UInt64>(0)
        private let clientErrors = Atomic<UInt64>(0)
        private let serverErrors = Atomic<UInt64>(0)
        private let unreachable = Atomic<UInt64>(0)
        private let timedOut = Atomic<UInt64>(0)

        func record(status: Int) {
            switch status / 100 {
            case ...1: informational.add(1, ordering: .relaxed)
            case 2: successful.add(1, ordering: .relaxed)
            case 3: redirected.add(1, ordering: .relaxed)
            case 4: clientErrors.add(1, ordering: .relaxed)
            default: serverErrors.add(1, ordering: .relaxed)
            }
        }

        func record(failure: Failure) {
            serverErrors.add(1, ordering: .relaxed)
            switch failure {
            case .unreachable: unreachable.add(1, ordering: .relaxed)
            case .timedOut: timedOut.add(1, ordering: .relaxed)
            }
        }

        var counts: Counts {
            Counts(
                byClass: [
                    informational.load(ordering: .relaxed), successful.load(ordering: .relaxed), redirected.load(ordering: .relaxed),
                    clientErrors.load(ordering: .relaxed), serverErrors.load(ordering: .relaxed),
                ],
                unreachable: unreachable.load(ordering: .relaxed),
                timedOut: timedOut.load(ordering: .relaxed)
            )
        }
    }

    func counters(for agentID: String) -> AgentCounters {
        agents.withLock { table in
            if let existing = table[agentID] { return existing }
            let created = AgentCounters()
            table[agentID] = created
            return created
        }
    }

    func record(agentID: String, status: Int) {
        counters(for: agentID).record(status: status)
    }

    func record(agentID: String, failure: Failure) {
        counters(for: agentID).record(failure: failure)
    }

    func recordUnknownAgent() {
        unknown.add(1, ordering: .relaxed)
    }

    func snapshot() -> (agents: [String: Counts], unknownAgent: UInt64) {
        (agents.withLock { $0 }.mapValues(\.counts), unknown.load(ordering: .relaxed))
    }
}
