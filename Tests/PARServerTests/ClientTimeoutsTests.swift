import Testing

@testable import PARServer

/// The relay's clocks for client connections, without sockets: every phase against each
/// side of its limit, while running, stopping and past the drain.
@Suite("Relay client timeouts")
struct ClientTimeoutsTests {
    static let second: UInt64 = 1_000_000_000
    static let rules = ClientTimeouts(headNanoseconds: 30 * second, keepAliveNanoseconds: 75 * second, answerNanoseconds: 60 * second)
    static let now: UInt64 = 1_000 * second

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var phase: ClientPhase
        var stopping = false
        var drainOver = false
        var expected: ClientTimeoutAction
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let now = Self.now, s = Self.second
        return [
            Case(name: "idle under keep-alive", phase: .idle(since: now - 74 * s), expected: .none),
            Case(name: "idle at keep-alive", phase: .idle(since: now - 75 * s), expected: .close),
            Case(name: "idle while stopping", phase: .idle(since: now), stopping: true, expected: .close),
            Case(name: "head under the head timeout", phase: .receiving(startedAt: now - 29 * s), expected: .none),
            Case(name: "head at the head timeout", phase: .receiving(startedAt: now - 30 * s), expected: .answerRequestTimeout),
            Case(name: "bytes left behind an answer", phase: .receiving(startedAt: nil), expected: .startHeadClock),
            Case(name: "half a head while stopping", phase: .receiving(startedAt: now), stopping: true, expected: .close),
            Case(name: "agent within the proxy timeout", phase: .awaitingAgent(deadline: now + 1), expected: .none),
            Case(name: "agent past the proxy timeout", phase: .awaitingAgent(deadline: now), expected: .answerGatewayTimeout),
            Case(name: "agent pending while stopping (drain)", phase: .awaitingAgent(deadline: now + s), stopping: true, expected: .none),
            Case(name: "a long agent answer, client keeping up", phase: .relaying, expected: .none),
            Case(name: "a long agent answer while stopping (drain)", phase: .relaying, stopping: true, expected: .none),
            Case(name: "client reading its answer", phase: .sending(lastProgress: now - 59 * s), expected: .none),
            Case(name: "client taking nothing of its answer", phase: .sending(lastProgress: now - 60 * s), expected: .close),
            Case(name: "closing once flushed", phase: .closing, expected: .none),
            Case(name: "relaying past the drain", phase: .relaying, stopping: true, drainOver: true, expected: .close),
            Case(name: "agent pending past the drain", phase: .awaitingAgent(deadline: now + s), stopping: true, drainOver: true, expected: .close),
            // Clocks read before a connection's own timestamps (one sweep's `now` is taken
            // before a read updates them) never underflow into a timeout.
            Case(name: "progress stamped after the sweep's now", phase: .sending(lastProgress: now + s), expected: .none),
            Case(name: "head started after the sweep's now", phase: .receiving(startedAt: now + s), expected: .none),
        ]
    }()

    @Test(arguments: cases)
    func action(_ test: Case) {
        #expect(Self.rules.action(for: test.phase, now: Self.now, stopping: test.stopping, drainOver: test.drainOver) == test.expected)
    }
}
