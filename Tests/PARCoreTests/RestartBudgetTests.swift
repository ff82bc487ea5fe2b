import PARCore
import Testing

@Suite("RestartBudget")
struct RestartBudgetTests {
    @Test func theBurstGoesAtOnce() {
        var budget = RestartBudget(ratePerSecond: 2, burst: 3, now: 100)
        #expect((0..<3).map { _ in budget.reserve(now: 100, notBefore: 100) } == [100, 100, 100])
    }

    @Test func overTheBurstRestartsAreSpacedByTheRateInTheOrderAsked() {
        var budget = RestartBudget(ratePerSecond: 4, burst: 2, now: 0)
        let times = (0..<6).map { _ in budget.reserve(now: 0, notBefore: 0) }
        #expect(times == [0, 0, 0.25, 0.5, 0.75, 1.0])
    }

    @Test func noneIsDroppedHoweverManyAreAsked() {
        var budget = RestartBudget(ratePerSecond: 10, burst: 5, now: 0)
        let times = (0..<1000).map { _ in budget.reserve(now: 0, notBefore: 0) }
        #expect(times.count == 1000)
        #expect(times == times.sorted(), "later requests never overtake earlier ones")
        // 995 over the burst at 10/s: the last one waits 99.5 s.
        #expect(abs(times.last! - 99.5) < 1e-9)
    }

    @Test func theBucketRefillsWithTimeUpToTheBurst() {
        var budget = RestartBudget(ratePerSecond: 2, burst: 2, now: 0)
        _ = budget.reserve(now: 0, notBefore: 0)
        _ = budget.reserve(now: 0, notBefore: 0)
        #expect(budget.balance(at: 0) == 0)
        #expect(budget.balance(at: 0.5) == 1)
        #expect(budget.balance(at: 60) == 2, "never more than the burst")
        #expect(budget.reserve(now: 60, notBefore: 60) == 60)
        #expect(budget.reserve(now: 60, notBefore: 60) == 60)
        #expect(budget.reserve(now: 60, notBefore: 60) == 60.5)
    }

    @Test func aBackoffLongerThanTheWaitIsKept() {
        var budget = RestartBudget(ratePerSecond: 1, burst: 1, now: 0)
        _ = budget.reserve(now: 0, notBefore: 0)
        // The token comes at 1 s, but the agent's own backoff says 5 s.
        #expect(budget.reserve(now: 0, notBefore: 5) == 5)
    }

    @Test(arguments: [0.0, -1, .infinity])
    func aRateOfZeroOrLessOrInfiniteIsNoBudget(rate: Double) {
        var budget = RestartBudget(ratePerSecond: rate, burst: 1, now: 0)
        #expect(budget.isUnlimited)
        #expect((0..<100).allSatisfy { _ in budget.reserve(now: 3, notBefore: 3) == 3 })
    }

    @Test func aClockThatStepsBackDoesNotMintTokens() {
        var budget = RestartBudget(ratePerSecond: 1, burst: 1, now: 10)
        _ = budget.reserve(now: 10, notBefore: 10)
        #expect(budget.reserve(now: 5, notBefore: 5) >= 6, "a time before the last one refills nothing")
    }
}
