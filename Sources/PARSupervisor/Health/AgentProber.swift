import Foundation
import PARCore
import Synchronization

/// Asks agents on their loopback ports whether they are healthy. The server module gives
/// the real one (HTTP and TCP); the supervisor only schedules probes and acts on answers.
public protocol AgentProber: Sendable {
    /// Runs every probe of `batch` at once and yields results (each with its index in
    /// `batch`) as soon as they are known, those decided together in one element, so one
    /// slow agent never delays the others' answers.
    func probe(_ batch: [ProbeRequest]) -> AsyncStream<[(Int, ProbeResult)]>
}

public struct ProbeRequest: Sendable, Equatable {
    public var port: Int
    public var kind: HealthCheckConfig.Kind
    public var timeoutSeconds: Double

    public init(port: Int, kind: HealthCheckConfig.Kind, timeoutSeconds: Double) {
        self.port = port
        self.kind = kind
        self.timeoutSeconds = timeoutSeconds
    }
}

public struct ProbeResult: Sendable, Equatable {
    public var healthy: Bool
    public var latencySeconds: Double
    public var error: String?
    /// The HTTP status the agent answered with, when it answered.
    public var answeredStatus: Int?
    /// Nothing listened on the port (a refused connection is a different fact from an answer).
    public var refused: Bool

    public init(healthy: Bool, latencySeconds: Double, error: String?, answeredStatus: Int? = nil, refused: Bool = false) {
        self.healthy = healthy
        self.latencySeconds = latencySeconds
        self.error = error
        self.answeredStatus = answeredStatus
        self.refused = refused
    }

    public var outcome: ProbeOutcome {
        ProbeOutcome(healthy: healthy, error: error, answeredStatus: answeredStatus, refused: refused)
    }
}

/// The last probe of an agent, as shown in status and `/supervisor/health`.
public struct ProbeRecord: Sendable, Equatable {
    public var at: Date
    public var result: ProbeResult
}

/// Wakes a sleeping loop early: the health loop sleeps until its next due probe, and a
/// newly started agent cuts that sleep short.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `seconds`, or earlier when signalled.
    func wait(upTo seconds: Double) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64(max(0, seconds) * 1000))) }
            group.addTask { await self.waitForSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            signal()
        }
    }
}
