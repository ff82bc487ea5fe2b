import PARCore
import Testing

@Suite("RestartPlanner")
struct RestartPlannerTests {
    /// delay 5 s, ×2 per attempt, capped at 300 s, 3 restarts, stable after 60 s.
    let config = RestartConfig(policy: .onFailure, maxRestarts: 3, delaySeconds: 5, backoffMultiplier: 2, maxDelaySeconds: 300, stableSeconds: 60)

    func config(_ policy: RestartPolicy) -> RestartConfig {
        var copy = config
        copy.policy = policy
        return copy
    }

    // MARK: policy

    @Test(arguments: [Termination.exited(code: 0), .exited(code: 1), .signaled(signal: 9)])
    func neverPolicyKeepsTheProcessDownHoweverItEnded(termination: Termination) {
        let decision = RestartPlanner.decide(config: config(.never), termination: termination, consecutiveRestarts: 0, runSeconds: 1)
        guard case .stayDown = decision else {
            Issue.record("expected stayDown, got \(decision)")
            return
        }
    }

    @Test func onFailurePolicyKeepsACleanExitDown() {
        let decision = RestartPlanner.decide(config: config(.onFailure), termination: .exited(code: 0), consecutiveRestarts: 0, runSeconds: 1)
        guard case .stayDown = decision else {
            Issue.record("expected stayDown, got \(decision)")
            return
        }
    }

    @Test(arguments: [Termination.exited(code: 1), .exited(code: 255), .signaled(signal: 15), .signaled(signal: 9)])
    func onFailurePolicyRestartsAFailedProcess(termination: Termination) {
        let decision = RestartPlanner.decide(config: config(.onFailure), termination: termination, consecutiveRestarts: 0, runSeconds: 1)
        #expect(decision == .restart(delaySeconds: 5, consecutiveRestarts: 1))
    }

    @Test func alwaysPolicyRestartsACleanExit() {
        let decision = RestartPlanner.decide(config: config(.always), termination: .exited(code: 0), consecutiveRestarts: 0, runSeconds: 1)
        #expect(decision == .restart(delaySeconds: 5, consecutiveRestarts: 1))
    }

    // MARK: budget

    @Test func eachRestartWithinTheBudgetCountsOneMoreAndBacksOff() {
        let decisions = (0..<3).map {
            RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: $0, runSeconds: 1)
        }
        #expect(decisions == [
            .restart(delaySeconds: 5, consecutiveRestarts: 1),
            .restart(delaySeconds: 10, consecutiveRestarts: 2),
            .restart(delaySeconds: 20, consecutiveRestarts: 3),
        ])
    }

    @Test func givesUpOnceMaxRestartsConsecutiveRestartsAreSpent() {
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 3, runSeconds: 1)
        guard case .giveUp = decision else {
            Issue.record("expected giveUp, got \(decision)")
            return
        }
    }

    @Test func zeroMaxRestartsGivesUpOnTheFirstFailure() {
        var noRestarts = config
        noRestarts.maxRestarts = 0
        let decision = RestartPlanner.decide(config: noRestarts, termination: .exited(code: 1), consecutiveRestarts: 0, runSeconds: 1)
        guard case .giveUp = decision else {
            Issue.record("expected giveUp, got \(decision)")
            return
        }
    }

    @Test func alwaysPolicyAlsoGivesUpWhenTheBudgetIsSpent() {
        let decision = RestartPlanner.decide(config: config(.always), termination: .exited(code: 0), consecutiveRestarts: 3, runSeconds: 1)
        guard case .giveUp = decision else {
            Issue.record("expected giveUp, got \(decision)")
            return
        }
    }

    // MARK: stable-run reset

    @Test func aRunOfAtLeastStableSecondsResetsTheCount() {
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 3, runSeconds: 60)
        #expect(decision == .restart(delaySeconds: 5, consecutiveRestarts: 1))
    }

    @Test func aRunJustShorterThanStableSecondsKeepsTheCount() {
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 3, runSeconds: 59.9)
        guard case .giveUp = decision else {
            Issue.record("expected giveUp, got \(decision)")
            return
        }
    }

    // MARK: delay

    @Test func delayGrowsByTheMultiplierPerAttempt() {
        #expect((0...4).map { RestartPlanner.delay(for: config, attempt: $0) } == [5, 10, 20, 40, 80])
    }

    @Test func delayIsCappedAtMaxDelay() {
        var capped = config
        capped.maxDelaySeconds = 12
        #expect((0...3).map { RestartPlanner.delay(for: capped, attempt: $0) } == [5, 10, 12, 12])
    }

    @Test func delayOfAHugeAttemptIsMaxDelayNotInfinity() {
        #expect(RestartPlanner.delay(for: config, attempt: 100_000) == 300)
    }

    @Test func multiplierOfOneKeepsTheDelayConstant() {
        var flat = config
        flat.backoffMultiplier = 1
        #expect((0...5).map { RestartPlanner.delay(for: flat, attempt: $0) } == Array(repeating: 5, count: 6))
    }

    @Test func aNegativeAttemptIsTreatedAsTheFirst() {
        #expect(RestartPlanner.delay(for: config, attempt: -3) == 5)
    }

    @Test func restartDecisionUsesTheDelayCappedAtMaxDelay() {
        var capped = config
        capped.maxRestarts = 10
        capped.maxDelaySeconds = 12
        let decision = RestartPlanner.decide(config: capped, termination: .signaled(signal: 11), consecutiveRestarts: 5, runSeconds: 0)
        #expect(decision == .restart(delaySeconds: 12, consecutiveRestarts: 6))
    }

    @Test func defaultConfigIsOnFailureWithThreeRestartsFromFiveSeconds() {
        let defaults = RestartConfig()
        #expect(defaults.policy == .onFailure)
        #expect(defaults.maxRestarts == 3)
        #expect(defaults.delaySeconds == 5)
        #expect(defaults.backoffMultiplier == 2)
        #expect(defaults.maxDelaySeconds == 300)
        #expect(defaults.stableSeconds == 60)
    }

    @Test func policyRawValuesAreTheAPISpellings() {
        #expect(RestartPolicy(rawValue: "always") == .always)
        #expect(RestartPolicy(rawValue: "on-failure") == .onFailure)
        #expect(RestartPolicy(rawValue: "never") == .never)
        #expect(RestartPolicy(rawValue: "onFailure") == nil)
    }

    // MARK: jitter

    @Test(arguments: [-1.0, -0.5, 0, 0.3, 1])
    func jitterMovesTheDelayByAtMostItsFractionEitherWay(draw: Double) {
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 1, runSeconds: 1, jitterDraw: draw)
        guard case .restart(let delay, _) = decision else {
            Issue.record("expected a restart, got \(decision)")
            return
        }
        #expect(abs(delay - 10 * (1 + 0.1 * draw)) < 1e-9)
        #expect((9...11).contains(delay))
    }

    @Test func jitterSpreadsAgentsThatCrashedTogether() {
        let delays = (0..<50).map { _ in RestartPlanner.jittered(5, fraction: 0.1, draw: Double.random(in: -1...1)) }
        #expect(delays.allSatisfy { (4.5...5.5).contains($0) })
        #expect(Set(delays).count > 40, "fifty agents do not come back at the same instant")
    }

    @Test func jitterIsClampedAndNeverNegative() {
        #expect(RestartPlanner.jittered(5, fraction: 3, draw: -1) == 0)
        #expect(RestartPlanner.jittered(5, fraction: 0.1, draw: 7) == 5.5)
        #expect(RestartPlanner.jittered(0, fraction: 0.1, draw: 1) == 0, "no delay stays no delay")
        #expect(RestartPlanner.jittered(5, fraction: 0, draw: 1) == 5)
    }

    // MARK: exit codes

    @Test func aListedSuccessIsACleanExitForOnFailure() {
        let rules = ExitStatusRules(success: [.code(3), .signal(15)])
        for termination in [Termination.exited(code: 3), .signaled(signal: 15)] {
            let decision = RestartPlanner.decide(config: config(.onFailure), termination: termination, consecutiveRestarts: 0, runSeconds: 1, exitRules: rules)
            guard case .stayDown(let reason) = decision else {
                Issue.record("expected stayDown, got \(decision)")
                continue
            }
            #expect(reason.contains("success_exit_codes"))
        }
    }

    @Test func aListedSuccessIsStillRestartedByAlways() {
        let rules = ExitStatusRules(success: [.code(3)])
        let decision = RestartPlanner.decide(config: config(.always), termination: .exited(code: 3), consecutiveRestarts: 0, runSeconds: 1, exitRules: rules)
        #expect(decision == .restart(delaySeconds: 5, consecutiveRestarts: 1))
    }

    @Test(arguments: [RestartPolicy.always, .onFailure])
    func aNoRestartExitKeepsTheProcessDownWhateverThePolicy(policy: RestartPolicy) {
        let rules = ExitStatusRules(noRestart: [.code(78), .signal(6)])
        for termination in [Termination.exited(code: 78), .signaled(signal: 6)] {
            let decision = RestartPlanner.decide(config: config(policy), termination: termination, consecutiveRestarts: 0, runSeconds: 1, exitRules: rules)
            guard case .stayDown(let reason) = decision else {
                Issue.record("expected stayDown, got \(decision)")
                continue
            }
            #expect(reason.contains("no_restart_exit_codes"))
        }
        let other = RestartPlanner.decide(config: config(policy), termination: .exited(code: 1), consecutiveRestarts: 0, runSeconds: 1, exitRules: rules)
        #expect(other == .restart(delaySeconds: 5, consecutiveRestarts: 1))
    }

    // MARK: intensity

    func limited(burst: Int, within seconds: Double) -> RestartConfig {
        var copy = config(.always)
        copy.maxRestarts = 1_000
        copy.startLimitBurst = burst
        copy.startLimitIntervalSeconds = seconds
        return copy
    }

    @Test func moreThanBurstRestartsWithinTheIntervalGiveUp() {
        let config = limited(burst: 3, within: 10)
        let allowed = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 2, runSeconds: 0, restartHistory: [101, 102], now: 105)
        guard case .restart = allowed else {
            Issue.record("two restarts within 10 s are within a burst of 3: \(allowed)")
            return
        }
        let refused = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 3, runSeconds: 0, restartHistory: [101, 102, 104], now: 105)
        guard case .giveUp(let reason) = refused else {
            Issue.record("a fourth restart within 10 s is over a burst of 3: \(refused)")
            return
        }
        #expect(reason.contains("restarted 3 times within 10 s"))
        #expect(reason.contains("start_limit_burst 3"))
    }

    @Test func restartsOutsideTheIntervalDoNotCount() {
        let config = limited(burst: 3, within: 10)
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 3, runSeconds: 0, restartHistory: [80, 90, 95, 101], now: 105)
        guard case .restart = decision else {
            Issue.record("only one restart lies within the last 10 s: \(decision)")
            return
        }
        #expect(RestartPlanner.recentRestarts([80, 90, 95, 101], config: config, now: 105) == [101])
    }

    @Test func aBurstOfZeroIsNoLimit() {
        let config = limited(burst: 0, within: 10)
        let decision = RestartPlanner.decide(config: config, termination: .exited(code: 1), consecutiveRestarts: 5, runSeconds: 0, restartHistory: Array(repeating: 104.9, count: 500), now: 105)
        guard case .restart = decision else {
            Issue.record("no intensity limit by default: \(decision)")
            return
        }
        #expect(RestartPlanner.recentRestarts([104], config: config, now: 105) == [], "nothing is kept when the limit is off")
    }
}
