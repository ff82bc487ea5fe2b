import Synchronization

/// The ports of routable agents, readable from any thread without awaiting the supervisor:
/// the proxy consults it on every request, where an actor hop per request would cost more
/// than the forwarding itself. The supervisor republishes an agent's entry whenever it
/// writes the agent's record, so the table never says "forward" for longer than the actor.
public final class RouteTable: Sendable {
    private let ports = Mutex<[String: Int]>([:])
    private let changes = Atomic<UInt64>(0)
    /// Requests the proxies are forwarding, by agent port: a rolling restart stops the old
    /// run once its port has none left.
    private let inFlight = Mutex<[Int: Int]>([:])

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

    /// Counts a request forwarded to `port` until the returned token is released (when the
    /// exchange holding it ends, on every path).
    public func beginRequest(port: Int) -> InFlightRequest {
        inFlight.withLock { $0[port, default: 0] += 1 }
        return InFlightRequest(port: port, table: self)
    }

    fileprivate func endRequest(port: Int) {
        inFlight.withLock { table in
            let left = (table[port] ?? 1) - 1
            table[port] = left > 0 ? left : nil
        }
    }

    /// Requests being forwarded to `port` now.
    public func requestsInFlight(port: Int) -> Int {
        inFlight.withLock { $0[port] ?? 0 }
    }

    func publish(_ agentID: String, port: Int?) {
        ports.withLock { table in
            guard table[agentID] != port else { return }
            table[agentID] = port
            changes.add(1, ordering: .releasing)
        }
    }
}

/// One forwarded request, counted by its `RouteTable` while this lives.
public final class InFlightRequest: Sendable {
    let port: Int
    private let table: RouteTable

    fileprivate init(port: Int, table: RouteTable) {
        self.port = port
        self.table = table
    }

    deinit { table.endRequest(port: port) }
}
