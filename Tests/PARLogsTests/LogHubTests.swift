import Foundation
@testable import PARLogs
import Testing

private func hubEntry(_ sequence: UInt64, process: String = "a", level: LogLevel = .info, message: String? = nil) -> LogEntry {
    LogEntry(sequence: sequence, processID: process, timestamp: Timestamps.date(micros: 1_704_110_400_000_000 + Int64(sequence)),
             level: level, message: message ?? "line \(sequence)", stream: .stdout, run: 1)
}

private func entries(_ range: ClosedRange<UInt64>, process: String = "a") -> [LogEntry] {
    range.map { hubEntry($0, process: process) }
}

/// The sequences of the entries in a batch, with gaps shown as nil.
private func sequences(_ batch: [LogSubscription.Delivery]?) -> [UInt64?] {
    (batch ?? []).map { delivery in
        if case .entry(let entry) = delivery { return entry.sequence }
        return nil
    }
}

/// Returns once a reader is parked in `next()` (or after 5 s, so a bug fails rather than hangs).
private func waitUntilWaiting(_ subscription: LogSubscription) async {
    let deadline = ContinuousClock.now + .seconds(5)
    while !subscription.isWaiting && ContinuousClock.now < deadline { await Task.yield() }
}

/// `next()` with a deadline, so a missing wake-up fails the test instead of hanging it.
private func nextBatch(_ subscription: LogSubscription, timeout: Duration = .seconds(5)) async -> [LogSubscription.Delivery]?? {
    await withTaskGroup(of: Optional<[LogSubscription.Delivery]?>.self) { group in
        group.addTask { .some(await subscription.next()) }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return .none
        }
        let first = await group.next()!
        if first == nil { subscription.poke() } // unblock the reader so the group can finish
        group.cancelAll()
        _ = await group.next()
        return first
    }
}

@Suite("LogHub and LogSubscription")
struct LogHubTests {
    @Test func matchingEntriesAreDeliveredInOrder() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        hub.publish(entries(1...3))
        hub.publish(entries(4...5))
        let batch = try #require(await subscription.next())
        #expect(batch == entries(1...5).map { .entry($0) })
        subscription.close()
    }

    @Test func nonMatchingEntriesAreNotDelivered() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(processID: "a", minLevel: .warning))
        hub.publish([
            hubEntry(1, process: "a", level: .info), hubEntry(2, process: "a", level: .error), hubEntry(3, process: "b", level: .error),
            hubEntry(4, process: "a", level: .warning), hubEntry(5, process: "b", level: .critical),
        ])
        let batch = try #require(await subscription.next())
        #expect(sequences(batch) == [2, 4])
        subscription.close()
    }

    @Test func aWaitingReaderIsWokenByAPublish() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        let reader = Task { await subscription.next() }
        // Whether or not the reader is already waiting, it gets the entries.
        await waitUntilWaiting(subscription)
        hub.publish(entries(1...2))
        let batch = try #require(await reader.value)
        #expect(sequences(batch) == [1, 2])
        subscription.close()
    }

    @Test func aFullQueueGivesOneGapWithTheExactMissedCount() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(), capacity: 3)
        hub.publish(entries(1...10))
        let batch = try #require(await subscription.next())
        #expect(batch == [
            .entry(hubEntry(1)), .entry(hubEntry(2)), .entry(hubEntry(3)),
            .gap(missed: 7, firstSequence: 4, lastSequence: 10),
        ])
        subscription.close()
    }

    @Test func theGapGrowsAcrossPublishesAndCountsOnlyMatchingLines() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(processID: "a"), capacity: 2)
        hub.publish(entries(1...2))
        hub.publish([hubEntry(3, process: "b"), hubEntry(4), hubEntry(5, process: "b")])
        hub.publish([hubEntry(6), hubEntry(7), hubEntry(8, process: "b")])
        let batch = try #require(await subscription.next())
        #expect(batch == [.entry(hubEntry(1)), .entry(hubEntry(2)), .gap(missed: 3, firstSequence: 4, lastSequence: 7)])
        subscription.close()
    }

    @Test func entriesAfterTheGapComeAfterIt() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(), capacity: 2)
        hub.publish(entries(1...5))
        let first = try #require(await subscription.next())
        #expect(first == [.entry(hubEntry(1)), .entry(hubEntry(2)), .gap(missed: 3, firstSequence: 3, lastSequence: 5)])
        // Read: there is room again.
        hub.publish(entries(6...7))
        let second = try #require(await subscription.next())
        #expect(second == [.entry(hubEntry(6)), .entry(hubEntry(7))])
        // Full again: a new gap, after the entries.
        hub.publish(entries(8...12))
        let third = try #require(await subscription.next())
        #expect(third == [.entry(hubEntry(8)), .entry(hubEntry(9)), .gap(missed: 3, firstSequence: 10, lastSequence: 12)])
        subscription.close()
    }

    @Test func aSlowSubscriberDoesNotAffectAFastOne() async throws {
        let hub = LogHub()
        let slow = hub.subscribe(filter: LogFilter(), capacity: 1)
        let fast = hub.subscribe(filter: LogFilter(), capacity: 100)
        hub.publish(entries(1...50))
        #expect(try #require(await fast.next()).count == 50)
        #expect(try #require(await slow.next()) == [.entry(hubEntry(1)), .gap(missed: 49, firstSequence: 2, lastSequence: 50)])
        slow.close()
        fast.close()
    }

    @Test func capacityIsAtLeastOne() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(), capacity: 0)
        #expect(subscription.capacity == 1)
        hub.publish(entries(1...3))
        #expect(try #require(await subscription.next()) == [.entry(hubEntry(1)), .gap(missed: 2, firstSequence: 2, lastSequence: 3)])
        subscription.close()
    }

    @Test func skipThroughDropsQueuedAndLaterCopies() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        hub.publish(entries(1...5))
        subscription.skip(through: 3)
        #expect(sequences(try #require(await subscription.next())) == [4, 5])
        // Copies at or below the mark that arrive later are dropped too.
        hub.publish(entries(2...3))
        hub.publish(entries(6...6))
        #expect(sequences(try #require(await subscription.next())) == [6])
        // A lower mark does not lower it.
        subscription.skip(through: 1)
        hub.publish(entries(3...3))
        hub.publish(entries(7...7))
        #expect(sequences(try #require(await subscription.next())) == [7])
        subscription.close()
    }

    @Test func skipFreesRoomInAFullQueue() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(), capacity: 3)
        hub.publish(entries(1...3))
        subscription.skip(through: 2)
        hub.publish(entries(4...5))
        #expect(sequences(try #require(await subscription.next())) == [3, 4, 5])
        subscription.close()
    }

    @Test func pokeBeforeNextGivesAnEmptyBatch() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        subscription.poke()
        let batch = try #require(await subscription.next())
        #expect(batch.isEmpty)
        // The poke is used up: the next call waits for entries again.
        hub.publish(entries(1...1))
        #expect(sequences(try #require(await subscription.next())) == [1])
        subscription.close()
    }

    @Test func pokeWakesAWaitingReader() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        let reader = Task { await subscription.next() }
        await waitUntilWaiting(subscription)
        subscription.poke()
        let batch = try #require(await reader.value)
        #expect(batch.isEmpty)
        subscription.close()
    }

    @Test func queuedEntriesWinOverAPoke() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        hub.publish(entries(1...2))
        subscription.poke()
        #expect(sequences(try #require(await subscription.next())) == [1, 2])
        // The poke was consumed with the entries.
        let reader = Task { await subscription.next() }
        await waitUntilWaiting(subscription)
        hub.publish(entries(3...3))
        #expect(sequences(try #require(await reader.value)) == [3])
        subscription.close()
    }

    @Test func closeEndsTheTailAndLeavesTheHub() async {
        let hub = LogHub()
        #expect(hub.subscriberCount == 0)
        let first = hub.subscribe(filter: LogFilter())
        let second = hub.subscribe(filter: LogFilter())
        #expect(hub.subscriberCount == 2)
        #expect(first.id != second.id)
        first.close()
        #expect(hub.subscriberCount == 1)
        let batch = await first.next()
        #expect(batch == nil)
        // Closing twice is harmless.
        first.close()
        #expect(hub.subscriberCount == 1)
        // Nothing is delivered after close.
        hub.publish(entries(1...1))
        #expect(await first.next() == nil)
        #expect(sequences(await second.next()) == [1])
        second.close()
        #expect(hub.subscriberCount == 0)
    }

    @Test func closeWakesAWaitingReaderWithNil() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        let reader = Task { await subscription.next() }
        await waitUntilWaiting(subscription)
        subscription.close()
        let batch = await reader.value
        #expect(batch == nil)
        #expect(hub.subscriberCount == 0)
    }

    @Test func entriesQueuedBeforeCloseAreStillHandedOutThenNil() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        hub.publish(entries(1...2))
        subscription.close()
        #expect(sequences(await subscription.next()) == [1, 2])
        #expect(await subscription.next() == nil)
    }

    @Test func cancellingTheReaderReturnsAndClosesTheSubscription() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        let reader = Task { await subscription.next() }
        await waitUntilWaiting(subscription)
        reader.cancel()
        let batch = await reader.value
        #expect(batch == nil)
        #expect(hub.subscriberCount == 0)
    }

    @Test func aReaderCancelledBeforeItStartsReturnsNil() async {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter())
        let reader = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await subscription.next()
        }
        #expect(await reader.value == nil)
        #expect(hub.subscriberCount == 0)
    }

    @Test func closeAllEndsEveryTail() async {
        let hub = LogHub()
        let subscriptions = (0..<5).map { _ in hub.subscribe(filter: LogFilter()) }
        #expect(hub.subscriberCount == 5)
        hub.closeAll()
        #expect(hub.subscriberCount == 0)
        for subscription in subscriptions {
            #expect(await subscription.next() == nil)
        }
    }

    @Test func publishWithoutSubscribersOrEntriesIsANoOp() async throws {
        let hub = LogHub()
        hub.publish(entries(1...3)) // nobody listening: dropped
        let subscription = hub.subscribe(filter: LogFilter())
        hub.publish([])
        hub.publish(entries(4...4))
        #expect(sequences(try #require(await subscription.next())) == [4])
        subscription.close()
    }

    @Test func manyConcurrentPublishersLoseNothingWithRoom() async throws {
        let hub = LogHub()
        let subscription = hub.subscribe(filter: LogFilter(), capacity: 100_000)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for index in 0..<500 { hub.publish([hubEntry(UInt64(worker * 1_000 + index + 1))]) }
                }
            }
        }
        var seen: [UInt64] = []
        while seen.count < 2_000 {
            guard let batch = await nextBatch(subscription), let batch else { break }
            seen += sequences(batch).compactMap { $0 }
        }
        #expect(seen.count == 2_000)
        #expect(Set(seen).count == 2_000)
        subscription.close()
    }
}
