import PARCore
import Testing

@Suite("Lifecycle rules: stale events, stops, health kills and due restarts")
struct LifecycleRulesTests {
    typealias Snapshot = LifecycleRules.Snapshot

    static let running = Snapshot(state: .running, run: 3, pid: 100)

    @Test(arguments: [
        (3, Int32(100), true),   // the current run's process
        (2, Int32(100), false),  // an earlier run with a recycled pid
        (3, Int32(99), false),   // the current run number but another process
        (2, Int32(90), false),   // an earlier run reaped after its replacement started
    ])
    func exitsOfEarlierRunsAreStale(run: Int, pid: Int32, accepted: Bool) {
        #expect(LifecycleRules.acceptsExit(Self.running, run: run, pid: pid) == accepted)
    }

    @Test func anExitOfAnAgentWithNoProcessIsStale() {
        #expect(!LifecycleRules.acceptsExit(Snapshot(state: .restarting, run: 3, pid: nil), run: 3, pid: 100))
    }

    struct ProbeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var agent: Snapshot
        var run: Int
        var verdict: LifecycleRules.ProbeVerdict
        var testDescription: String { name }
    }

    static let probeCases: [ProbeCase] = [
        ProbeCase(name: "current run, running", agent: running, run: 3, verdict: .apply),
        ProbeCase(name: "current run, starting", agent: Snapshot(state: .starting, run: 3, pid: 100), run: 3, verdict: .apply),
        ProbeCase(name: "answer for the previous run", agent: running, run: 2, verdict: .stale),
        ProbeCase(name: "process gone", agent: Snapshot(state: .crashed, run: 3, pid: nil), run: 3, verdict: .stale),
        ProbeCase(name: "no tracker (health check none)", agent: Snapshot(state: .running, run: 3, pid: 100, probed: false), run: 3, verdict: .stale),
        ProbeCase(name: "stop while starting", agent: Snapshot(state: .starting, run: 3, pid: 100, stopRequested: true), run: 3, verdict: .dropped),
        ProbeCase(name: "stopping", agent: Snapshot(state: .stopping, run: 3, pid: 100, stopRequested: true), run: 3, verdict: .dropped),
    ]

    @Test(arguments: probeCases)
    func probes(_ test: ProbeCase) {
        #expect(LifecycleRules.probe(test.agent, run: test.run) == test.verdict)
    }

    @Test(arguments: [
        (Snapshot(state: .running, run: 1, pid: 7), true),
        (Snapshot(state: .starting, run: 1, pid: 7), true),
        (Snapshot(state: .running, run: 1, pid: 7, healthKillPending: true), false),
        (Snapshot(state: .starting, run: 1, pid: 7, stopRequested: true), false),
        (Snapshot(state: .stopping, run: 1, pid: 7, stopRequested: true), false),
        (Snapshot(state: .running, run: 1, pid: 7, shuttingDown: true), false),
        (Snapshot(state: .crashed, run: 1, pid: nil), false),
    ])
    func healthKills(_ agent: Snapshot, allowed: Bool) {
        #expect(LifecycleRules.mayKillForHealth(agent) == allowed)
    }

    @Test(arguments: [
        (Snapshot(state: .starting, run: 1, pid: 7), LifecycleRules.StopPlan.terminate(pid: 7)),
        (Snapshot(state: .running, run: 1, pid: 7, restartPending: false), .terminate(pid: 7)),
        (Snapshot(state: .crashed, run: 1, pid: nil, restartPending: true), .markStopped(cancelsRestart: true, announce: true)),
        (Snapshot(state: .restarting, run: 1, pid: nil, restartPending: true), .markStopped(cancelsRestart: true, announce: true)),
        (Snapshot(state: .crashed, run: 1, pid: nil, restartPending: true, shuttingDown: true), .markStopped(cancelsRestart: true, announce: true)),
        (Snapshot(state: .stopped, run: 1, pid: nil), .markStopped(cancelsRestart: false, announce: false)),
        (Snapshot(state: .failed, run: 1, pid: nil), .markStopped(cancelsRestart: false, announce: false)),
        (Snapshot(state: .crashed, run: 1, pid: nil), .markStopped(cancelsRestart: false, announce: true)),
    ])
    func stops(_ agent: Snapshot, plan: LifecycleRules.StopPlan) {
        #expect(LifecycleRules.stop(agent) == plan)
    }

    @Test(arguments: [
        (Snapshot(state: .crashed, run: 4, pid: nil, restartPending: true), Int?.some(4), true),
        (Snapshot(state: .restarting, run: 4, pid: nil, restartPending: true), Int?.some(4), true),
        (Snapshot(state: .crashed, run: 4, pid: nil), nil, true),
        (Snapshot(state: .crashed, run: 5, pid: nil), Int?.some(4), false),
        (Snapshot(state: .running, run: 5, pid: 9), Int?.some(4), false),
        (Snapshot(state: .stopped, run: 4, pid: nil), Int?.some(4), false),
        (Snapshot(state: .crashed, run: 4, pid: nil, restartPending: true, shuttingDown: true), Int?.some(4), false),
    ])
    func dueRestarts(_ agent: Snapshot, expectedRun: Int?, allowed: Bool) {
        #expect(LifecycleRules.mayRelaunch(agent, expectedRun: expectedRun) == allowed)
    }
}
