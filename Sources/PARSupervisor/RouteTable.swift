import Synchronization

/// The ports of routable agents, readable from any thread without awaiting the supervisor:
/// the proxy consults it on every request, where an actor hop per request would cost more
/// than the forwarding itself. The supervisor republishes an agent's entry whenever it
/// writes the agent's record, so the table never says "forward" for longer than the actor.
public final class RouteTable: Sendable {
    private let ports = Mutex<[String: Int]>([:])
    private let changes = Atomic<UInt64>(0)

    public init() {}

    /// The agent's port when it is running and answers its health check; nil otherwise
    /// (unknown, starting, stopped, crashed: the slow path explains which).
    public func port(of agentID: String) -> Int? {
        ports.withLock { $0[agentID] }
    }

    /// Grows with every change, so a reader may cache what it looked up until it moves.
    public var version: UInt64 {
        changes.load(ordering: .acquiring)
    }

    func publish(_ agentID: String, port: Int?) {
        ports.withLock { table in
            guard table[agentID] != port else { return }
            table[agentID] = port
            changes.add(1, ordering: .releasing)
        }
    }
}
