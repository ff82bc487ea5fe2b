import Foundation
import GRDB
import PARCore
@testable import PARLogs
import Synchronization
import Testing

// MARK: - Helpers

/// A store in its own temporary folder; `close()` shuts it down and removes the folder.
private final class StoreFixture: Sendable {
    let directory: URL
    let path: String

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("parlogs-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("logs.sqlite").path
    }

    func configuration(
        blockLines: Int = 100, maxTotalBytes: Int = 8 << 30, sinkHighWaterBytes: Int = 4 << 20, sinkLowWaterBytes: Int = 1 << 20
    ) -> LogStoreConfiguration {
        var configuration = LogStoreConfiguration(
            path: path, maxTotalBytes: maxTotalBytes, flushIntervalSeconds: 0.05, blockLines: blockLines,
            sinkHighWaterBytes: sinkHighWaterBytes, sinkLowWaterBytes: sinkLowWaterBytes
        )
        // Never inside the test process (see `trimsAllocator`).
        configuration.trimsAllocator = false
        return configuration
    }

    func open(_ configuration: LogStoreConfiguration? = nil) throws -> LogStore {
        try LogStore(configuration: configuration ?? self.configuration())
    }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

private final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

private func lines(_ texts: [String], truncated: Bool = false) -> [LineSplitter.Line] {
    texts.map { LineSplitter.Line(text: $0, truncated: truncated) }
}

/// Every line matching `filter`, page by page; also checks that only the last page lacks a cursor.
private func allEntries(
    _ store: LogStore, _ filter: LogFilter = LogFilter(), order: LogOrder = .asc, pageSize: Int = 1_000,
    sourceLocation: SourceLocation = #_sourceLocation
) async throws -> [LogEntry] {
    var result: [LogEntry] = []
    var cursor: UInt64?
    for _ in 0..<100_000 {
        let page = try await store.query(LogQuery(filter: filter, order: order, limit: pageSize, cursor: cursor))
        result += page.entries
        guard let next = page.nextCursor else { break }
        #expect(page.entries.count == pageSize, sourceLocation: sourceLocation)
        #expect(next == page.entries.last?.sequence, sourceLocation: sourceLocation)
        cursor = next
    }
    return result
}

private func sequences(_ store: LogStore, _ filter: LogFilter = LogFilter(), order: LogOrder = .asc) async throws -> [UInt64] {
    try await allEntries(store, filter, order: order).map(\.sequence)
}

/// Polls `condition` every 50 ms for up to `timeout` seconds.
private func eventually(timeout: Double = 20, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try await condition() { return true }
        if Date() > deadline { return false }
        try await Task.sleep(for: .milliseconds(50))
    }
}

/// Whether the full-text index covers every block written so far, as queries see it.
private func fullTextCaughtUp(_ store: LogStore) async throws -> Bool {
    try await store.statistics().blocksAwaitingFullText == 0
}

private func storedBytes(_ store: LogStore, _ processID: String) throws -> Int {
    try store.database.pool.read { db in
        try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(bytes), 0) FROM log_blocks WHERE process_id = ?", arguments: [processID])
    } ?? 0
}

private func blockCount(_ store: LogStore, _ processID: String) throws -> Int {
    try store.database.pool.read { db in
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM log_blocks WHERE process_id = ?", arguments: [processID])
    } ?? 0
}

private let noon: Int64 = 1_704_110_400_000_000

// MARK: - Writing and reading

@Suite("LogStore: writing and querying")
struct LogStoreBasicTests {
    @Test func linesComeBackParsedWithConsecutiveSequenceIDs() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open()
        defer { store.shutdown() }

        let before = Timestamps.micros(Date())
        let sink = store.makeSink(processID: "web", run: 1, onDrained: {})
        #expect(sink.write(.stdout, lines([
            "[2024-01-01T12:00:00Z] [ERROR] boom",
            "plain text",
            #"{"msg": "json", "level": "warn", "user": "u1", "stream": "mine"}"#,
        ])))
        #expect(sink.write(.stderr, lines(["cut piece"], truncated: true)))
        #expect(sink.write(.stdout, []))
        let other = store.makeSink(processID: "worker", run: 3, onDrained: {})
        #expect(other.write(.stdout, lines(["WARNING:root:low memory"])))

        let page = try await store.query(LogQuery(order: .asc))
        let after = Timestamps.micros(Date())
        #expect(page.nextCursor == nil)
        let entries = page.entries
        try #require(entries.count == 5)
        #expect(entries.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(entries.map(\.processID) == ["web", "web", "web", "web", "worker"])
        #expect(entries.map(\.level) == [.error, .info, .warning, .info, .warning])
        #expect(entries.map(\.message) == ["boom", "plain text", "json", "cut piece", "low memory"])
        #expect(entries.map(\.stream) == [.stdout, .stdout, .stdout, .stderr, .stdout])
        #expect(entries.map(\.run) == [1, 1, 1, 1, 3])
        #expect(entries.map(\.truncated) == [false, false, false, true, false])
        #expect(entries.map(\.extraJSON) == [
            #"{"stream":"stdout","run":1}"#,
            #"{"stream":"stdout","run":1}"#,
            #"{"stream":"stdout","run":1,"line_stream":"mine","user":"u1"}"#,
            #"{"stream":"stderr","run":1,"truncated":true}"#,
            #"{"stream":"stdout","run":3,"logger":"root"}"#,
        ])
        // A line's own time wins; otherwise the time it was read.
        #expect(Timestamps.micros(entries[0].timestamp) == noon)
        for entry in entries.dropFirst() {
            let micros = Timestamps.micros(entry.timestamp)
            #expect(micros >= before && micros <= after)
        }

        let descending = try await store.query(LogQuery())
        #expect(descending.entries.map(\.sequence) == [5, 4, 3, 2, 1])
        #expect(descending.entries == entries.reversed())
    }

    @Test func orderLimitAndCursor() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 4))
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...10).map { "line \($0)" }))

        let firstDesc = try await store.query(LogQuery(limit: 3))
        #expect(firstDesc.entries.map(\.sequence) == [10, 9, 8])
        #expect(firstDesc.nextCursor == 8)
        let secondDesc = try await store.query(LogQuery(limit: 3, cursor: 8))
        #expect(secondDesc.entries.map(\.sequence) == [7, 6, 5])
        #expect(secondDesc.nextCursor == 5)
        let lastDesc = try await store.query(LogQuery(limit: 3, cursor: 2))
        #expect(lastDesc.entries.map(\.sequence) == [1])
        #expect(lastDesc.nextCursor == nil)

        let firstAsc = try await store.query(LogQuery(order: .asc, limit: 3))
        #expect(firstAsc.entries.map(\.sequence) == [1, 2, 3])
        #expect(firstAsc.entries.map(\.message) == ["line 1", "line 2", "line 3"])
        #expect(firstAsc.nextCursor == 3)
        let secondAsc = try await store.query(LogQuery(order: .asc, limit: 3, cursor: 3))
        #expect(secondAsc.entries.map(\.sequence) == [4, 5, 6])
        let endAsc = try await store.query(LogQuery(order: .asc, limit: 3, cursor: 10))
        #expect(endAsc.entries.isEmpty)
        #expect(endAsc.nextCursor == nil)

        let none = try await store.query(LogQuery(limit: 0))
        #expect(none.entries.isEmpty)
        #expect(none.nextCursor == nil)
        let negative = try await store.query(LogQuery(limit: -5))
        #expect(negative.entries.isEmpty)
        #expect(negative.nextCursor == nil)

        let everything = try await store.query(LogQuery(limit: 11))
        #expect(everything.entries.count == 10)
        #expect(everything.nextCursor == nil)
        // A page exactly as long as what is left offers no cursor: nothing follows.
        let exact = try await store.query(LogQuery(limit: 10))
        #expect(exact.entries.count == 10)
        #expect(exact.nextCursor == nil)
        let afterExact = try await store.query(LogQuery(limit: 10, cursor: 1))
        #expect(afterExact.entries.isEmpty)
        #expect(afterExact.nextCursor == nil)
    }

    @Test func cursorPagingThroughTwentyThousandInterleavedLines() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 100))
        defer { store.shutdown() }
        let processes = ["alpha", "beta", "gamma"]
        let sinks = processes.map { store.makeSink(processID: $0, run: 1, onDrained: {}) }

        // Chunks of varying size, round robin: each process's blocks span the others'.
        var expected: [(process: String, message: String)] = []
        var chunk = 0
        while expected.count < 20_000 {
            let which = chunk % 3
            let size = min(1 + (chunk * 7) % 37, 20_000 - expected.count)
            let texts = (0..<size).map { "\(processes[which]) line \(expected.count + $0)" }
            _ = sinks[which].write(.stdout, lines(texts))
            expected += texts.map { (processes[which], $0) }
            chunk += 1
        }

        let ascending = try await allEntries(store, order: .asc, pageSize: 777)
        #expect(ascending.count == 20_000)
        #expect(ascending.map(\.sequence) == Array(1...20_000))
        #expect(ascending.map(\.message) == expected.map(\.message))
        #expect(ascending.map(\.processID) == expected.map(\.process))

        let descending = try await allEntries(store, order: .desc, pageSize: 1_000)
        #expect(descending.map(\.sequence) == Array((1...20_000).reversed()))
        #expect(descending.map(\.message) == expected.map(\.message).reversed())

        // One process alone, both orders.
        let betaExpected = expected.filter { $0.process == "beta" }.map(\.message)
        let betaAsc = try await allEntries(store, LogFilter(processID: "beta"), order: .asc, pageSize: 333)
        #expect(betaAsc.map(\.message) == betaExpected)
        let betaDesc = try await allEntries(store, LogFilter(processID: "beta"), order: .desc, pageSize: 500)
        #expect(betaDesc.map(\.message) == betaExpected.reversed())
        #expect(zip(betaAsc, betaAsc.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
    }

    @Test func filtersNarrowTheLines() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        // Two lines a block, so the block masks and time ranges do some of the filtering.
        let store = try fixture.open(fixture.configuration(blockLines: 2))
        defer { store.shutdown() }
        let p1 = store.makeSink(processID: "p1", run: 1, onDrained: {})
        let p2 = store.makeSink(processID: "p2", run: 1, onDrained: {})
        _ = p1.write(.stdout, lines([
            "[2024-01-01T12:00:00Z] [DEBUG] alpha one",           // 1
            "[2024-01-01T12:00:01Z] [INFO] beta two",             // 2
            "[2024-01-01T12:00:02Z] [WARNING] Timeout waiting",   // 3
        ]))
        _ = p1.write(.stderr, lines(["[2024-01-01T12:00:03Z] [ERROR] disk full user=u5"])) // 4
        _ = p2.write(.stdout, lines([
            "[2024-01-01T12:00:04Z] [CRITICAL] gamma",             // 5
            #"{"ts": "2024-01-01T12:00:05Z", "level": "info", "msg": "json line", "user": "u5"}"#, // 6
        ]))
        store.appendEvent(agentID: "p1", event: .exited, level: .error, message: "agent p1 crashed") // 7 (stamped now)

        func seqs(_ filter: LogFilter) async throws -> [UInt64] { try await sequences(store, filter) }

        #expect(try await seqs(LogFilter()) == [1, 2, 3, 4, 5, 6, 7])
        #expect(try await seqs(LogFilter(processID: "p1")) == [1, 2, 3, 4])
        #expect(try await seqs(LogFilter(processID: "p2")) == [5, 6])
        #expect(try await seqs(LogFilter(processID: "supervisor")) == [7])
        #expect(try await seqs(LogFilter(processID: "nobody")) == [])
        #expect(try await seqs(LogFilter(level: .warning)) == [3])
        #expect(try await seqs(LogFilter(level: .info)) == [2, 6])
        #expect(try await seqs(LogFilter(minLevel: .error)) == [4, 5, 7])
        #expect(try await seqs(LogFilter(minLevel: .debug)) == [1, 2, 3, 4, 5, 6, 7])
        #expect(try await seqs(LogFilter(level: .info, minLevel: .error)) == [])
        #expect(try await seqs(LogFilter(stream: .stderr)) == [4])
        #expect(try await seqs(LogFilter(stream: .stdout)) == [1, 2, 3, 5, 6])
        #expect(try await seqs(LogFilter(stream: .supervisor)) == [7])
        #expect(try await seqs(LogFilter(sinceMicros: noon + 2_000_000, untilMicros: noon + 5_000_000)) == [3, 4, 5, 6])
        #expect(try await seqs(LogFilter(sinceMicros: noon + 2_000_001, untilMicros: noon + 4_999_999)) == [4, 5])
        #expect(try await seqs(LogFilter(untilMicros: noon + 1_000_000)) == [1, 2])
        #expect(try await seqs(LogFilter(sinceMicros: noon + 6_000_000)) == [7])
        #expect(try await seqs(LogFilter(processID: "p1", minLevel: .warning, stream: .stdout)) == [3])

        // Text, before and after the full-text index has caught up: the same answers.
        let textQueries: [(String, [UInt64])] = [
            ("u5", [4, 6]), ("time", [3]), ("imeout", []), ("disk u5", [4]), ("USER", [4, 6]),
            ("json", [6]), ("crash", [7]), ("p1", [7]), ("nothing", []),
        ]
        var before: [[UInt64]] = []
        for (q, expectedSequences) in textQueries {
            let found = try await seqs(LogFilter(text: TextSearch(q)))
            #expect(found == expectedSequences, "q=\(q) before indexing")
            before.append(found)
        }
        #expect(try await seqs(LogFilter(processID: "p2", text: TextSearch("u5"))) == [6])

        #expect(try await eventually { try await fullTextCaughtUp(store) })
        for ((q, _), earlier) in zip(textQueries, before) {
            #expect(try await seqs(LogFilter(text: TextSearch(q))) == earlier, "q=\(q) after indexing")
            #expect(try await sequences(store, LogFilter(text: TextSearch(q)), order: .desc) == earlier.reversed())
        }
        #expect(try await seqs(LogFilter(processID: "p2", text: TextSearch("u5"))) == [6])
    }

    @Test func textSearchAgreesWithTheFullTextIndex() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 3))
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        let messages = [
            "Timeout waiting for db", "overtime only", "user=u5 logged in", "status=500 in 3.14 ms", "snake_case_name",
            "Größe überschritten", "don't stop", "abc123 token", "[worker-7] started", "日本 テスト", "e-mail: a@b.c",
            "CamelCaseWord", "x", "retry #3 of 5", #"{"msg": "json body", "request_id": "r-17", "ms": 12}"#,
        ]
        _ = sink.write(.stdout, lines(messages))
        let queries = [
            "time", "timeout", "imeout", "wait", "u5", "5", "500", "14", "3", "case", "name", "über", "größe", "berschritten",
            "don", "t", "123", "abc", "worker", "7", "日本", "テスト", "mail", "b", "camel", "caseword", "x", "retry 3",
            "r", "17", "request", "id", "ms 12", "json body", "db timeout", "zzz",
        ]
        let all = try await allEntries(store)
        var before: [String: [UInt64]] = [:]
        for q in queries {
            let search = try #require(TextSearch(q))
            let expected = all.filter { search.matches($0.searchableText) }.map(\.sequence)
            before[q] = try await sequences(store, LogFilter(text: search))
            #expect(before[q] == expected, "q=\(q) before indexing")
        }
        #expect(try await eventually { try await fullTextCaughtUp(store) })
        for q in queries {
            #expect(try await sequences(store, LogFilter(text: TextSearch(q))) == before[q], "q=\(q) after indexing")
        }
    }

    /// After a flood an idle writer gives SQLite's memory back (its reader connections
    /// closed): queries, text search and writes go on as before, nothing missing.
    @Test func memoryGivenBackAfterAFloodLosesNothing() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        var configuration = fixture.configuration(blockLines: 50)
        configuration.releaseMemoryAfterBytes = 4 << 10
        configuration.releaseMemoryAfterQuietSeconds = 1
        let store = try fixture.open(configuration)
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...2_000).map { "flood line \($0) with some words to index" }))
        #expect(try await allEntries(store).count == 2_000)
        #expect(try await eventually { store.memoryReleases.load(ordering: .relaxed) >= 1 })
        #expect(try await allEntries(store).count == 2_000, "a query after the readers were closed")
        #expect(try await sequences(store, LogFilter(text: TextSearch("flood 1999"))).count == 1)
        _ = sink.write(.stdout, lines(["after the release"]))
        #expect(try await eventually { try await allEntries(store).last?.message == "after the release" })
        #expect(try await allEntries(store).count == 2_001)
    }

    @Test func supervisorEventsAreLinesOfProcessSupervisor() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open()
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "a1", run: 2, onDrained: {})
        _ = sink.write(.stdout, lines(["hello"]))
        let before = Timestamps.micros(Date())
        store.appendEvent(agentID: "a1", event: .restarting, level: .warning, message: "agent restarted", fields: ["run": .number(2), "pid": .number(1234), "reason": .string("crash")])
        store.appendEvent(agentID: "b2", event: .spawned, level: .info, message: "agent started")
        let page = try await store.query(LogQuery(filter: LogFilter(processID: "supervisor"), order: .asc))
        let after = Timestamps.micros(Date())
        try #require(page.entries.count == 2)
        let restarted = page.entries[0]
        #expect(restarted.sequence == 2)
        #expect(restarted.processID == "supervisor")
        #expect(restarted.stream == .supervisor)
        #expect(restarted.level == .warning)
        #expect(restarted.message == "agent restarted")
        #expect(restarted.run == 2)
        #expect(restarted.extra == ["stream": .string("supervisor"), "run": .number(2), "agent_id": .string("a1"), "event": .string("restarting"), "pid": .number(1234), "reason": .string("crash")])
        #expect(restarted.extraJSON == #"{"stream":"supervisor","run":2,"agent_id":"a1","event":"restarting","pid":1234,"reason":"crash"}"#)
        #expect((before...after).contains(Timestamps.micros(restarted.timestamp)))
        let started = page.entries[1]
        #expect(started.run == 0)
        #expect(started.extraJSON == #"{"stream":"supervisor","agent_id":"b2","event":"spawned"}"#)
        // Searchable by the agent in extra.
        let byAgent = try await store.query(LogQuery(filter: LogFilter(text: TextSearch("b2"))))
        #expect(byAgent.entries.map(\.sequence) == [3])
    }

    @Test func liveTailsEndAtShutdown() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open()
        let (tail, subscription) = try await store.subscribe(filter: LogFilter(), tail: 0)
        #expect(tail.isEmpty)
        #expect(store.hub.subscriberCount == 1)
        store.shutdown()
        #expect(await subscription.next() == nil)
        #expect(store.hub.subscriberCount == 0)
        store.shutdown() // twice is harmless
    }
}

// MARK: - Clearing and durability

@Suite("LogStore: clear and durability")
struct LogStoreClearAndDurabilityTests {
    @Test func clearOneProcessThenAll() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 4))
        defer { store.shutdown() }
        let a = store.makeSink(processID: "a", run: 1, onDrained: {})
        let b = store.makeSink(processID: "b", run: 1, onDrained: {})
        _ = a.write(.stdout, lines((1...10).map { "a \($0)" }))
        _ = b.write(.stdout, lines((1...3).map { "b \($0)" }))
        _ = a.write(.stderr, lines(["a err"]))
        #expect(try await allEntries(store).count == 14)

        #expect(await store.clear(processID: "a") == 11)
        let left = try await allEntries(store)
        #expect(left.map(\.processID) == ["b", "b", "b"])
        #expect(left.map(\.sequence) == [11, 12, 13])
        #expect(await store.clear(processID: "a") == 0)
        #expect(await store.clear(processID: "nobody") == 0)

        // New lines of a cleared process are kept.
        _ = a.write(.stdout, lines(["a again"]))
        #expect(try await sequences(store, LogFilter(processID: "a")) == [15])

        #expect(await store.clear(processID: nil) == 4)
        #expect(try await allEntries(store).isEmpty)
        #expect(await store.clear(processID: nil) == 0)
    }

    /// Lines still in an open (unwritten) block are counted, and their sequence ids are
    /// not handed out again.
    @Test
    func clearCountsLinesNotYetCommitted() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        var configuration = fixture.configuration(blockLines: 1_000)
        configuration.flushIntervalSeconds = 10
        let store = try fixture.open(configuration)
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "a", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...5).map { "a \($0)" }))
        #expect(await store.clear(processID: "a") == 5)
        #expect(try await allEntries(store).isEmpty)
        _ = sink.write(.stdout, lines(["after"]))
        #expect(try await allEntries(store).map(\.sequence).allSatisfy { $0 > 5 })
    }

    @Test func aReopenedStoreSeesEverythingAndContinuesTheSequence() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let first = try fixture.open(fixture.configuration(blockLines: 16))
        let a = first.makeSink(processID: "a", run: 1, onDrained: {})
        let b = first.makeSink(processID: "b", run: 2, onDrained: {})
        for round in 0..<10 {
            _ = a.write(.stdout, lines((0..<7).map { "a \(round)-\($0)" }))
            _ = b.write(.stderr, lines(["[2024-01-01T12:00:00Z] [ERROR] b \(round)"]))
        }
        first.appendEvent(agentID: "a", event: .stopping, level: .info, message: "stopping")
        let written = try await allEntries(first)
        #expect(written.count == 81)
        // More lines after the query, not flushed by anyone but shutdown.
        _ = a.write(.stdout, lines(["a last words"]))
        first.shutdown()

        let second = try fixture.open(fixture.configuration(blockLines: 16))
        defer { second.shutdown() }
        let reread = try await allEntries(second)
        #expect(reread.count == 82)
        #expect(Array(reread.prefix(81)) == written)
        #expect(reread.last?.message == "a last words")
        #expect(reread.last?.sequence == 82)
        #expect(reread.map(\.sequence) == Array(1...82))

        let again = second.makeSink(processID: "a", run: 2, onDrained: {})
        _ = again.write(.stdout, lines(["after restart"]))
        second.appendEvent(agentID: "a", event: .spawned, level: .info, message: "started")
        let newest = try await second.query(LogQuery(limit: 2))
        #expect(newest.entries.map(\.sequence) == [84, 83])
        #expect(newest.entries.map(\.message) == ["started", "after restart"])
    }

    @Test func sequenceIDsAreNotReusedAfterClearingEverything() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let first = try fixture.open()
        let sink = first.makeSink(processID: "a", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...10).map { "line \($0)" }))
        #expect(try await allEntries(first).count == 10)
        #expect(await first.clear(processID: nil) == 10)
        first.shutdown()

        let second = try fixture.open()
        defer { second.shutdown() }
        #expect(try await allEntries(second).isEmpty)
        let again = second.makeSink(processID: "a", run: 2, onDrained: {})
        _ = again.write(.stdout, lines(["fresh"]))
        #expect(try await sequences(second) == [11])
    }
}

// MARK: - Retention

@Suite("LogStore: retention")
struct LogStoreRetentionTests {
    @Test func byCountKeepsExactlyTheNewestLinesAndSurvivesReopening() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 100))
        store.setRetention(LogRetentionPolicy(maxEntries: 1_000, maxAgeSeconds: 86_400, maxBytes: 1 << 30), for: "kept")
        let kept = store.makeSink(processID: "kept", run: 1, onDrained: {})
        let other = store.makeSink(processID: "other", run: 1, onDrained: {})
        var keptSequences: [UInt64] = []
        var next: UInt64 = 1
        for batch in 0..<51 {
            _ = kept.write(.stdout, lines((0..<50).map { "kept line \(batch * 50 + $0)" }))
            keptSequences += (next..<next + 50)
            next += 50
            if batch % 5 == 0 {
                _ = other.write(.stdout, lines((0..<30).map { "other line \($0)" }))
                next += 30
            }
        }
        #expect(keptSequences.count == 2_550)
        let newest = Array(keptSequences.suffix(1_000))

        var visible: [UInt64] = []
        let trimmed = try await eventually {
            visible = try await sequences(store, LogFilter(processID: "kept"))
            return visible.count <= 1_000
        }
        #expect(trimmed)
        #expect(visible == newest)
        #expect(try await sequences(store, LogFilter(processID: "kept"), order: .desc) == newest.reversed())
        // Limits of another process are its own.
        #expect(try await sequences(store, LogFilter(processID: "other")).count == 330)
        // Every query path agrees: text search, level, paging with a cursor inside the hidden part.
        #expect(try await sequences(store, LogFilter(processID: "kept", text: TextSearch("kept"))) == newest)
        let belowFloor = try await store.query(LogQuery(filter: LogFilter(processID: "kept"), order: .asc, limit: 10, cursor: newest[0] - 200))
        #expect(belowFloor.entries.map(\.sequence) == Array(newest.prefix(10)))
        #expect(try await eventually { try await fullTextCaughtUp(store) })
        #expect(try await sequences(store, LogFilter(processID: "kept", text: TextSearch("line"))) == newest)
        store.shutdown()

        let reopened = try fixture.open(fixture.configuration(blockLines: 100))
        defer { reopened.shutdown() }
        #expect(try await sequences(reopened, LogFilter(processID: "kept")) == newest)
        #expect(try await sequences(reopened, LogFilter(processID: "kept", text: TextSearch("kept line"))) == newest)
        #expect(try await sequences(reopened, LogFilter(processID: "other")).count == 330)
        // What clear reports counts only the visible lines.
        #expect(await reopened.clear(processID: "kept") == 1_000)
    }

    @Test func byCountKeepsTrimmingAsLinesArrive() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 40))
        defer { store.shutdown() }
        store.setRetention(LogRetentionPolicy(maxEntries: 100, maxAgeSeconds: 86_400, maxBytes: 1 << 30), for: "p")
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...250).map { "first \($0)" }))
        #expect(try await eventually { try await sequences(store, LogFilter(processID: "p")).count == 100 })
        _ = sink.write(.stdout, lines((1...130).map { "second \($0)" }))
        var visible: [LogEntry] = []
        #expect(try await eventually {
            visible = try await allEntries(store, LogFilter(processID: "p"))
            return visible.count == 100
        })
        #expect(visible.map(\.sequence) == Array(281...380))
        #expect(visible.first?.message == "second 31")
    }

    @Test func byBytesDeletesWholeOldBlocks() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 50))
        defer { store.shutdown() }
        let maxBytes = 8_000
        store.setRetention(LogRetentionPolicy(maxEntries: 1_000_000, maxAgeSeconds: 86_400, maxBytes: maxBytes), for: "p")
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        for batch in 0..<20 {
            _ = sink.write(.stdout, lines((0..<50).map { "line \(batch * 50 + $0) " + String(repeating: "x", count: 30) }))
        }
        // About 50 kB went in, several times the limit (retention may already have run).

        // Until a retention pass has run after every line was committed (the query commits them).
        #expect(try await eventually {
            _ = try await store.query(LogQuery(limit: 1))
            return try storedBytes(store, "p") <= maxBytes
        })
        let visible = try await sequences(store, LogFilter(processID: "p"))
        #expect(visible.count < 1_000)
        let bytes = try storedBytes(store, "p")
        #expect(bytes <= maxBytes)
        #expect(bytes > 0)
        #expect(!visible.isEmpty)
        // The newest lines stay, in one unbroken run, and whole blocks went (no floor).
        #expect(visible == Array((1_001 - UInt64(visible.count))...1_000))
        #expect(try store.database.recover().floors["p"] == nil)
    }

    @Test func byAgeDeletesBlocksOnceTheyAreOld() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 100))
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...300).map { "old \($0)" }))
        let other = store.makeSink(processID: "q", run: 1, onDrained: {})
        _ = other.write(.stdout, lines((1...20).map { "default retention \($0)" }))
        #expect(try await sequences(store, LogFilter(processID: "p")).count == 300)
        // Set only now, so a slow machine cannot age the lines out before the check above.
        store.setRetention(LogRetentionPolicy(maxEntries: 1_000_000, maxAgeSeconds: 1, maxBytes: 1 << 30), for: "p")

        #expect(try await eventually { try await sequences(store, LogFilter(processID: "p")).isEmpty })
        #expect(try blockCount(store, "p") == 0)
        #expect(try await sequences(store, LogFilter(processID: "q")).count == 20)

        // New lines are kept after the old ones went. A longer age now, so a loaded machine
        // that stalls for a second between the write and the read cannot age them out too.
        store.setRetention(LogRetentionPolicy(maxEntries: 1_000_000, maxAgeSeconds: 600, maxBytes: 1 << 30), for: "p")
        _ = sink.write(.stdout, lines((1...5).map { "young \($0)" }))
        let young = try await allEntries(store, LogFilter(processID: "p"))
        #expect(young.map(\.message) == (1...5).map { "young \($0)" })
    }

    @Test func theStoreWideByteLimitDropsTheOldestBlocksOfAnyProcess() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let maxTotal = 20_000
        let store = try fixture.open(fixture.configuration(blockLines: 50, maxTotalBytes: maxTotal))
        defer { store.shutdown() }
        let a = store.makeSink(processID: "a", run: 1, onDrained: {})
        let b = store.makeSink(processID: "b", run: 1, onDrained: {})
        for batch in 0..<10 {
            _ = a.write(.stdout, lines((0..<50).map { "a \(batch)-\($0) " + String(repeating: "y", count: 40) }))
            _ = b.write(.stdout, lines((0..<50).map { "b \(batch)-\($0) " + String(repeating: "z", count: 40) }))
        }
        #expect(try await eventually {
            _ = try await store.query(LogQuery(limit: 1)) // commits every line written
            return try storedBytes(store, "a") + storedBytes(store, "b") <= maxTotal
        })
        let left = try await sequences(store)
        #expect(!left.isEmpty)
        #expect(left.last == 1_000)
        // The oldest went first: what is left is the newest, unbroken.
        #expect(left == Array(left[0]...1_000))
    }
}

// MARK: - Backpressure and live tails

@Suite("LogStore: backpressure and subscriptions")
struct LogStoreFlowTests {
    @Test func writeReturnsFalseOverTheHighWaterMarkAndOnDrainedFollows() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(sinkHighWaterBytes: 2_000, sinkLowWaterBytes: 1_000))
        defer { store.shutdown() }
        let drained = Counter()
        let sink = store.makeSink(processID: "p", run: 1, onDrained: { drained.increment() })
        var written = 0
        var refused = false
        for batch in 0..<500 {
            let texts = (0..<50).map { "batch \(batch) line \($0)" }
            written += texts.count
            if !sink.write(.stdout, lines(texts)) {
                refused = true
                break
            }
        }
        #expect(refused)
        #expect(try await eventually { drained.count >= 1 })
        #expect(drained.count == 1)
        // Reading may go on: a small write is taken without a pause, and nothing was dropped.
        #expect(sink.write(.stdout, lines(["after the pause"])))
        written += 1
        let stored = try await allEntries(store, LogFilter(processID: "p"))
        #expect(stored.count == written)
        #expect(stored.last?.message == "after the pause")
        #expect(stored.map(\.sequence) == Array(1...UInt64(written)))
    }

    @Test func subscribeGivesTheTailThenLiveLines() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open()
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        let noise = store.makeSink(processID: "noise", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines((1...10).map { "line \($0)" }))
        _ = noise.write(.stdout, lines(["noise"]))

        let (tail, subscription) = try await store.subscribe(filter: LogFilter(processID: "p"), tail: 5)
        defer { subscription.close() }
        #expect(tail.map(\.sequence) == [6, 7, 8, 9, 10])
        #expect(tail.map(\.message) == (6...10).map { "line \($0)" })

        _ = noise.write(.stdout, lines(["more noise"]))
        _ = sink.write(.stdout, lines(["live 1", "live 2", "live 3"]))
        var live: [LogEntry] = []
        let watchdog = Task { try? await Task.sleep(for: .seconds(10)); subscription.poke() }
        defer { watchdog.cancel() }
        while live.count < 3 {
            let batch = try #require(await subscription.next())
            if batch.isEmpty { Issue.record("no live lines within 10 s"); break }
            for delivery in batch {
                guard case .entry(let entry) = delivery else {
                    Issue.record("unexpected \(delivery)")
                    continue
                }
                live.append(entry)
            }
        }
        #expect(live.map(\.message) == ["live 1", "live 2", "live 3"])
        #expect(live.map(\.sequence) == [13, 14, 15])
    }

    @Test func aTailLongerThanWhatIsStoredGivesEverything() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open()
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        _ = sink.write(.stdout, lines(["one", "two"]))
        let (tail, subscription) = try await store.subscribe(filter: LogFilter(), tail: 100)
        defer { subscription.close() }
        #expect(tail.map(\.message) == ["one", "two"])
    }

    @Test func tailAndLiveLinesJoinWithoutRepeatsOrHolesWhileWriting() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 20))
        defer { store.shutdown() }
        let sink = store.makeSink(processID: "p", run: 1, onDrained: {})
        let other = store.makeSink(processID: "other", run: 1, onDrained: {})
        let total = 600
        _ = sink.write(.stdout, lines((0..<100).map { "p \($0)" }))

        // A writer keeps going while the subscription is made.
        let writer = Task.detached {
            for start in stride(from: 100, to: total, by: 5) {
                _ = sink.write(.stdout, lines((start..<start + 5).map { "p \($0)" }))
                _ = other.write(.stdout, lines(["other \(start)"]))
                await Task.yield()
            }
        }
        let (tail, subscription) = try await store.subscribe(filter: LogFilter(processID: "p"), tail: 50)
        defer { subscription.close() }
        await writer.value

        var received = tail
        let watchdog = Task { try? await Task.sleep(for: .seconds(10)); subscription.poke() }
        defer { watchdog.cancel() }
        while received.last?.message != "p \(total - 1)" {
            let batch = try #require(await subscription.next())
            if batch.isEmpty { Issue.record("the live lines stopped short of the last one"); break }
            for delivery in batch {
                guard case .entry(let entry) = delivery else {
                    Issue.record("unexpected \(delivery)")
                    continue
                }
                received.append(entry)
            }
        }
        #expect(tail.count == 50)
        let numbers = received.map { Int($0.message.dropFirst(2))! }
        let first = try #require(numbers.first)
        #expect(numbers == Array(first..<total))
        #expect(zip(received, received.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
    }
}

/// What `/metrics` reads is kept in memory by the writer and always equals what the
/// database holds: after writes, retention and clears.
@Suite("LogStore: totals in memory")
struct StoredTotalsTests {
    private func matches(_ store: LogStore) async throws -> Bool {
        let counted = try await store.statistics()
        let kept = store.storedTotals
        return counted.lines == kept.lines && counted.bytes == kept.bytes && counted.processes == kept.processes
    }

    @Test func totalsFollowWritesRetentionAndClears() async throws {
        let fixture = try StoreFixture()
        defer { fixture.remove() }
        let store = try fixture.open(fixture.configuration(blockLines: 40))
        defer { store.shutdown() }
        let a = store.makeSink(processID: "a", run: 1, onDrained: {})
        let b = store.makeSink(processID: "b", run: 1, onDrained: {})
        _ = a.write(.stdout, lines((1...250).map { "a \($0)" }))
        _ = b.write(.stdout, lines((1...30).map { "b \($0)" }))
        await store.flush()
        #expect(store.storedTotals.lines == 280)
        #expect(try await matches(store))
        store.setRetention(LogRetentionPolicy(maxEntries: 100, maxAgeSeconds: 86_400, maxBytes: 1 << 30), for: "a")
        #expect(try await eventually { store.storedTotals.lines == 130 })
        #expect(try await matches(store), "retention's floors count as the database does")
        #expect(await store.clear(processID: "b") == 30)
        #expect(store.storedTotals.lines == 100 && store.storedTotals.processes == 1)
        #expect(try await matches(store))
    }
}
