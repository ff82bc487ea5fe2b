import PARCore
import Testing

/// The health rules without processes: what the built-in check makes of a refused
/// connection and of a 404, against a declared check, and the fleet's status.
@Suite("Health tracker and fleet health")
struct HealthTrackerTests {
    static let refused = ProbeOutcome(healthy: false, error: "connection refused", refused: true)
    static let notFound = ProbeOutcome(healthy: false, error: "GET /health answered 404", answeredStatus: 404)
    static let serverError = ProbeOutcome(healthy: false, error: "GET /health answered 500", answeredStatus: 500)
    static let ok = ProbeOutcome(healthy: true, answeredStatus: 200)

    static func declaredHTTP() throws -> HealthCheckConfig {
        try HealthCheckConfig.parse(["type": "http"], over: .builtInDefault, field: "health_check")
    }

    @Test func onlyTimingFieldsKeepTheBuiltInKind() throws {
        let timing = try HealthCheckConfig.parse(["start_timeout_seconds": 1], over: .builtInDefault, field: "health_check")
        #expect(timing.isBuiltInDefault)
        #expect(timing.startTimeoutSeconds == 1)
        #expect(try !Self.declaredHTTP().isBuiltInDefault)
        #expect(try !HealthCheckConfig.parse(["path": "/health"], over: .builtInDefault, field: "health_check").isBuiltInDefault)
        #expect(try !HealthCheckConfig.parse(["type": "tcp"], over: .builtInDefault, field: "health_check").isBuiltInDefault)
    }

    @Test func aNotFoundAnswerIsAliveForTheBuiltInCheckOnly() throws {
        var builtIn = HealthTracker(config: .builtInDefault, startedAt: 0)
        #expect(builtIn.record(Self.notFound, now: 0.1) == .ready)
        var declared = HealthTracker(config: try Self.declaredHTTP(), startedAt: 0)
        #expect(declared.record(Self.notFound, now: 0.1) == .nothing)
        #expect(declared.phase == .starting)
        // A server error is a failure either way.
        var failing = HealthTracker(config: .builtInDefault, startedAt: 0)
        #expect(failing.record(Self.serverError, now: 0.1) == .nothing)
        #expect(failing.phase == .starting)
    }

    @Test func nothingListeningByTheStartTimeoutIsAWorkerNotAKill() throws {
        var builtIn = HealthTracker(config: .builtInDefault, startedAt: 0)
        #expect(builtIn.record(Self.refused, now: 29) == .nothing)
        guard case .runUnprobed(let detail) = builtIn.startDecision(now: 30) else {
            Issue.record("expected runUnprobed, got \(builtIn.startDecision(now: 30))")
            return
        }
        #expect(detail.contains("health_check"), "the message says how to declare a check")
        builtIn.stopProbing()
        #expect(builtIn.phase == .unprobed)
        #expect(builtIn.record(Self.refused, now: 40) == .nothing)

        // Declared, the same facts are a failed start.
        var declared = HealthTracker(config: try Self.declaredHTTP(), startedAt: 0)
        _ = declared.record(Self.refused, now: 29)
        guard case .restart(let reason, _) = declared.startDecision(now: 30) else {
            Issue.record("a declared check that is never answered restarts the agent")
            return
        }
        #expect(reason == "start_timeout")

        // Listening but answering 500 by the timeout is a failed start even for the built-in check.
        var broken = HealthTracker(config: .builtInDefault, startedAt: 0)
        _ = broken.record(Self.serverError, now: 29)
        guard case .restart = broken.startDecision(now: 30) else {
            Issue.record("an agent answering 500 is not taken for a worker")
            return
        }
    }

    @Test func aLiveAgentThatStopsListeningIsStillRestarted() {
        var tracker = HealthTracker(config: .builtInDefault, startedAt: 0)
        #expect(tracker.record(Self.ok, now: 1) == .ready)
        #expect(tracker.record(Self.refused, now: 11) == .nothing)
        #expect(tracker.record(Self.refused, now: 21) == .nothing)
        guard case .restart(let reason, _) = tracker.record(Self.refused, now: 31) else {
            Issue.record("three refused probes of a live agent restart it")
            return
        }
        #expect(reason == "unhealthy")
    }

    struct FleetCase: Sendable, CustomTestStringConvertible {
        var total: Int, healthy: Int, failed: Int, expected: String
        var testDescription: String { "\(healthy)/\(total) healthy, \(failed) failed: \(expected)" }
    }

    @Test(arguments: [
        FleetCase(total: 0, healthy: 0, failed: 0, expected: "healthy"),
        FleetCase(total: 3, healthy: 3, failed: 0, expected: "healthy"),
        FleetCase(total: 3, healthy: 3, failed: 1, expected: "degraded"),
        FleetCase(total: 0, healthy: 0, failed: 1, expected: "degraded"),
        FleetCase(total: 3, healthy: 1, failed: 0, expected: "degraded"),
        FleetCase(total: 3, healthy: 0, failed: 0, expected: "unhealthy"),
        FleetCase(total: 3, healthy: 0, failed: 2, expected: "unhealthy"),
    ])
    func fleetStatus(_ test: FleetCase) {
        #expect(FleetHealth.status(total: test.total, healthy: test.healthy, failed: test.failed) == test.expected)
    }
}
