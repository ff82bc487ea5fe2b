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

    private let counts = Mutex<[String: Counts]>([:])
    /// Requests for agents the supervisor does not know (answered 404).
    private let unknown = Atomic<UInt64>(0)

    public init() {}

    func record(agentID: String, status: Int) {
        let index = min(max(status / 100, 1), 5) - 1
        counts.withLock { $0[agentID, default: Counts()].byClass[index] += 1 }
    }

    func record(agentID: String, failure: Failure) {
        counts.withLock { table in
            table[agentID, default: Counts()].byClass[4] += 1
            switch failure {
            case .unreachable: table[agentID, default: Counts()].unreachable += 1
            case .timedOut: table[agentID, default: Counts()].timedOut += 1
            }
        }
    }

    func recordUnknownAgent() {
        unknown.add(1, ordering: .relaxed)
    }

    func snapshot() -> (agents: [String: Counts], unknownAgent: UInt64) {
        (counts.withLock { $0 }, unknown.load(ordering: .relaxed))
    }
}
