/// Where a relay client connection stands, as far as its clocks care: the relay's loop
/// reduces each connection to this, asks `ClientTimeouts` what is due, and carries the
/// answer out. The rules (RFC 9112 section 9.5 leaves the values to servers; these are
/// nginx's kinds of timer) are then read, and tested, in one place without a socket.
enum ClientPhase: Equatable, Sendable {
    /// No request under way and nothing to write: a keep-alive connection between requests.
    case idle(since: UInt64)
    /// Bytes of a request not yet whole; `startedAt` is nil for bytes left behind an answer
    /// that have not been looked at since.
    case receiving(startedAt: UInt64?)
    /// The request went to an agent whose answer has not begun.
    case awaitingAgent(deadline: UInt64)
    /// An agent's answer is under way and the client has taken all of it so far: the
    /// agent's pace is its own business (SSE, WebSocket-like streams, slow model calls).
    case relaying
    /// Bytes of an answer (the agent's or the loop's own) wait for the client;
    /// `lastProgress` is when it last took some.
    case sending(lastProgress: UInt64)
    /// The answer is out and the connection closes once its bytes are.
    case closing
}

/// What is due for one client connection at a sweep.
enum ClientTimeoutAction: Equatable, Sendable {
    case none
    /// Bytes left behind an answer begin their head clock now.
    case startHeadClock
    /// A request not whole within the head timeout: 408 and the close.
    case answerRequestTimeout
    /// The agent did not begin its answer in time: 504 (the exchange ends, the connection may stay).
    case answerGatewayTimeout
    /// Closed without a word: idle past keep-alive, a client taking nothing of its answer,
    /// or the shutdown drain.
    case close
}

/// The relay's clocks for client connections: `--request-head-timeout`,
/// `--keep-alive-timeout`, `--proxy-timeout` (agent's answer and client's reading) and the
/// shutdown drain. Pure.
struct ClientTimeouts: Sendable {
    var headNanoseconds: UInt64
    var keepAliveNanoseconds: UInt64
    var answerNanoseconds: UInt64

    /// `stopping`: the daemon is shutting down (idle connections close at once);
    /// `drainOver`: its drain time is spent (every connection closes).
    func action(for phase: ClientPhase, now: UInt64, stopping: Bool, drainOver: Bool) -> ClientTimeoutAction {
        if drainOver { return .close }
        switch phase {
        case .awaitingAgent(let deadline):
            return now >= deadline ? .answerGatewayTimeout : .none
        case .sending(let lastProgress):
            // A client that takes nothing of its answer must not pin an agent connection.
            return now - min(now, lastProgress) >= answerNanoseconds ? .close : .none
        case .relaying, .closing:
            return .none
        case .idle(let since):
            if stopping { return .close }
            return now - min(now, since) >= keepAliveNanoseconds ? .close : .none
        case .receiving(let startedAt):
            if stopping { return .close }
            guard let startedAt else { return .startHeadClock }
            return now - min(now, startedAt) >= headNanoseconds ? .answerRequestTimeout : .none
        }
    }
}
