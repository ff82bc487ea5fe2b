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
}
