import PARLogs
import Testing

/// When a flood's memory goes back: after it, never between its bursts.
@Suite("Memory release after a flood")
struct MemoryReleasePolicyTests {
    private let mib = 1 << 20

    private func policy() -> MemoryReleasePolicy {
        MemoryReleasePolicy(afterBytes: 64 << 20, afterQuietSeconds: 10)
    }

    /// Feeds one value per second; returns the second (0-based) of each action taken.
    private func run(_ policy: inout MemoryReleasePolicy, _ seconds: [Int], busy: Set<Int> = []) -> [(Int, MemoryReleasePolicy.Action)] {
        seconds.enumerated().compactMap { second, bytes in
            let action = policy.endOfSecond(storedBytes: bytes, busy: busy.contains(second))
            return action == .none ? nil : (second, action)
        }
    }

    @Test func aFloodGivesItsMemoryBackAfterTenQuietSecondsSQLiteFirst() {
        var policy = policy()
        let actions = run(&policy, Array(repeating: 20 * mib, count: 5) + Array(repeating: 0, count: 15))
        #expect(actions.map(\.0) == [14, 15])
        #expect(actions.map(\.1) == [.releaseDatabase, .trimAllocator])
        #expect(policy.bytesSinceRelease == 0)
    }

    @Test func burstsFiveSecondsApartAreNeverInterrupted() {
        var policy = policy()
        // Three seconds of flood, five quiet, over and over (the soak's flooding agents).
        let cycle = Array(repeating: 30 * mib, count: 3) + Array(repeating: 0, count: 5)
        #expect(run(&policy, Array([[Int]](repeating: cycle, count: 20).joined())).isEmpty)
        // Once they stop, it goes back.
        #expect(run(&policy, Array(repeating: 0, count: 10)).map(\.1) == [.releaseDatabase, .trimAllocator])
    }

    @Test func aTrickleIsQuietAndLittleStoredNeedsNothingBack() {
        var policy = policy()
        #expect(run(&policy, Array(repeating: mib - 1, count: 60)).isEmpty, "60 MiB in all: under the 64 MiB")
        #expect(run(&policy, Array(repeating: mib - 1, count: 6)).map(\.0) == [4, 5], "over 64 MiB on the 65th second")
    }

    @Test func aSecondOverTheQuietRateStartsTheCountAgain() {
        var policy = policy()
        let seconds = [100 * mib] + Array(repeating: 0, count: 9) + [mib] + Array(repeating: 0, count: 9)
        #expect(run(&policy, seconds).isEmpty)
        #expect(run(&policy, [0]).map(\.1) == [.releaseDatabase])
    }

    @Test func notWhileTheWriterIsBusyButOnceItIsDone() {
        var policy = policy()
        let actions = run(&policy, [100 * mib] + Array(repeating: 0, count: 15), busy: Set(0...12))
        #expect(actions.map(\.0) == [13, 14])
    }

    @Test func theAllocatorIsTrimmedEvenWhenTheNextFloodBegins() {
        var policy = policy()
        _ = run(&policy, [100 * mib] + Array(repeating: 0, count: 9))
        #expect(policy.endOfSecond(storedBytes: 0, busy: false) == .releaseDatabase)
        #expect(policy.endOfSecond(storedBytes: 50 * mib, busy: false) == .trimAllocator)
        #expect(policy.bytesSinceRelease == 50 * mib, "the new flood counts toward the next release")
    }
}
