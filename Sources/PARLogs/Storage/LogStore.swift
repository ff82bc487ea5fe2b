import Foundation
import GRDB
import PARCore
import CPARSys
import Synchronization

public struct LogStoreConfiguration: Sendable {
    /// The SQLite file (created with its folder if missing).
    public var path: String
    public var defaultRetention: LogRetentionPolicy
    /// Over this the oldest blocks of any process go first.
    public var maxTotalBytes: Int
    /// A block open longer than this is written even if not full: at most this much of
    /// what was read is lost if the daemon is killed.
    public var flushIntervalSeconds: Double
    public var blockLines: Int
    public var blockBytes: Int
    /// A process with more than this read but not yet parsed stops being read until
    /// it is down to `sinkLowWaterBytes`: the agent blocks on its pipe, nothing is dropped.
    public var sinkHighWaterBytes: Int
    public var sinkLowWaterBytes: Int
    /// The same across all processes together: bounds the daemon's memory.
    public var globalHighWaterBytes: Int
    /// Once this much has been stored since the last time, and then this many seconds in a
    /// row each stored under 1 MiB, the writer gives SQLite's caches and the allocator's free
    /// memory back (`MemoryReleasePolicy`).
    public var releaseMemoryAfterBytes = 64 << 20
    /// Seconds in a row, each storing under 1 MiB, that end a flood.
    public var releaseMemoryAfterQuietSeconds = 10
    /// Whether the allocator's free pages go back too (`malloc_trim`). Off for a store inside
    /// a test process: there, pages given back under the dispatch library's event loop (which
    /// the tests' `Process` and pipe handlers use) turned a stale read of freed memory into a
    /// crash (a read of a zeroed page).
    public var trimsAllocator = true
    /// Told about storage failures (disk full, I/O errors); lines of a failed write are lost.
    public var onError: @Sendable (String) -> Void

    public init(
        path: String, defaultRetention: LogRetentionPolicy = .default, maxTotalBytes: Int = 8 << 30,
        flushIntervalSeconds: Double = 0.25, blockLines: Int = 4096, blockBytes: Int = 256 << 10,
        sinkHighWaterBytes: Int = 2 << 20, sinkLowWaterBytes: Int = 512 << 10, globalHighWaterBytes: Int = 16 << 20,
        onError: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.path = path
        self.defaultRetention = defaultRetention
        self.maxTotalBytes = maxTotalBytes
        self.flushIntervalSeconds = flushIntervalSeconds
        self.blockLines = blockLines
        self.blockBytes = blockBytes
        self.sinkHighWaterBytes = sinkHighWaterBytes
        self.sinkLowWaterBytes = sinkLowWaterBytes
        self.globalHighWaterBytes = globalHighWaterBytes
        self.onError = onError
    }
}

public struct LogStatistics: Sendable {
    public var blocks: Int
    public var lines: Int
    /// Packed size of the stored lines.
    public var bytes: Int
    /// Blocks `q=` still scans line by line until the full-text index reaches them.
    public var blocksAwaitingFullText: Int
    public var processes: Int
    /// The SQLite file and its WAL on disk.
    public var fileBytes: Int
}

public struct LogStoreError: Error, CustomStringConvertible {
    public let description: String
}

/// Every line every agent prints, kept durably in SQLite, queryable and tailed live.
///
/// Two threads of its own, so neither the reactor nor the HTTP event loops ever wait on
/// parsing or disk: the ingest thread parses lines, gives them sequence ids, offers them
/// to live tails and packs them into blocks; the writer thread commits blocks (one
/// transaction per batch), applies retention, and fills the full-text index when idle.
/// Queries read through SQLite's WAL readers concurrently with the writer.
public final class LogStore: Sendable {
    public let configuration: LogStoreConfiguration
    public let hub = LogHub()
    let database: LogDatabase
    let ingest = WorkQueue<IngestItem>()
    fileprivate let commits = WorkQueue<CommitItem>()
    /// Ingest stops taking work while more than this waits to be committed.
    fileprivate static let commitQueueBytes = 8 << 20
    /// What queries need from the writer: how far full text goes, and the retention floors.
    fileprivate let readState: Mutex<ReadState>
    private let policies = Mutex<[String: LogRetentionPolicy]>([:])
    private let pausedSinks = Mutex<[ObjectIdentifier: LogSink]>([:])
    /// 1 while any sink is paused: lets the ingest thread skip the lock otherwise.
    private let pausedCount = Atomic<Int>(0)
    private let pauses = Atomic<Int>(0)
    /// Times the writer gave memory back after a flood (for tests).
    let memoryReleases = Atomic<Int>(0)
    private let ingestDone = DispatchSemaphore(value: 0)
    private let writerDone = DispatchSemaphore(value: 0)
    fileprivate let stopped = Atomic<Bool>(false)
    private let faultState = Mutex(FaultState())
    /// Per kind of failure: when it was last told to `onError`, and how many since.
    private let reports = Mutex<[String: (lastNanos: UInt64, suppressed: Int)]>([:])

    struct FaultState {
        var reason: String?
        var since: Date?
        var lostLines = 0
    }

    struct ReadState {
        var ftsThrough: Int64
        var floors: [String: UInt64]
        /// What is stored, kept by the writer after each commit, so `/metrics` costs the
        /// same however many lines are stored.
        var totals = StoredTotals()
    }

    /// Visible lines and bytes stored, and the newest block, as of the last commit.
    public struct StoredTotals: Sendable {
        public var lines = 0
        public var bytes = 0
        public var processes = 0
        /// Blocks the full-text index has not reached yet.
        public var fullTextBacklog: Int64 = 0
    }

    enum IngestItem: Sendable {
        case lines(LogSink, LogStream, [LineSplitter.Line], readAtMicros: Int64, bytes: Int)
        case event(processID: String, level: LogLevel, message: String, run: Int, extraMembers: String, atMicros: Int64)
        case finish(processID: String)
        case barrier(@Sendable () -> Void)
        case clear(processID: String?, done: @Sendable (Int) -> Void)
        case stop
    }

    enum CommitItem: Sendable {
        case block(SealedLogBlock)
        case barrier(@Sendable () -> Void)
        /// `unwritten`: lines of the process still in open blocks, dropped by the ingest thread.
        case clear(processID: String?, unwritten: Int, nextSequence: UInt64, done: @Sendable (Int) -> Void)
        case stop
    }

    public init(configuration: LogStoreConfiguration) throws(LogStoreError) {
        self.configuration = configuration
        let recovered: LogDatabase.Recovered
        do {
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: configuration.path).deletingLastPathComponent(), withIntermediateDirectories: true)
            database = try LogDatabase(path: configuration.path)
            recovered = try database.recover()
        } catch {
            throw LogStoreError(description: "cannot open the log store at \(configuration.path): \(error)")
        }
        readState = Mutex(ReadState(ftsThrough: recovered.ftsThrough, floors: recovered.floors.mapValues(\.sequence), totals: Self.sum(recovered.totals, fullTextBacklog: recovered.lastBlockID - recovered.ftsThrough)))
        let ingestLoop = IngestLoop(store: self, nextSequence: recovered.nextSequence)
        let writerLoop = WriterLoop(store: self, recovered: recovered)
        let ingestThread = Thread { [ingestDone] in
            Self.yieldToSupervision()
            ingestLoop.run()
            ingestDone.signal()
        }
        ingestThread.name = "par-log-ingest"
        ingestThread.start()
        let writerThread = Thread { [writerDone] in
            Self.yieldToSupervision()
            writerLoop.run()
            writerDone.signal()
        }
        writerThread.name = "par-log-writer"
        writerThread.start()
    }

    /// The store's threads run at nice 5: under a flood of lines, restarts, probes and the
    /// API get the CPU first, and the store catches up when they are idle.
    private static func yieldToSupervision() {
        _ = par_lower_thread_priority(5)
    }

    static func sum(_ totals: [String: LogDatabase.ProcessTotals], fullTextBacklog: Int64) -> StoredTotals {
        var result = StoredTotals(fullTextBacklog: max(0, fullTextBacklog))
        for entry in totals.values {
            result.lines += entry.lines
            result.bytes += entry.bytes
        }
        result.processes = totals.count
        return result
    }

    /// What is stored and how far the full-text index lags, from memory: O(1) in what is
    /// stored (`statistics()` counts in the database).
    public var storedTotals: StoredTotals {
        readState.withLock { $0.totals }
    }

    /// Agents' output read and not yet stored, in bytes (as counted against the buffer limit).
    public var bufferedBytes: Int { ingest.pendingBytes }

    /// The most `bufferedBytes` has been since the store opened.
    public var peakBufferedBytes: Int { ingest.peakPendingBytes }

    /// How often an agent's reading was paused because the store was behind.
    public var readerPauses: Int { pauses.load(ordering: .relaxed) }

    /// Agents whose pipes are not being read until the store catches up.
    public var pausedReaders: Int { pausedSinks.withLock { $0.count } }

    /// The database file and its WAL on disk, in bytes (two stat calls).
    public var fileBytes: Int {
        ["", "-wal"].reduce(0) { sum, suffix in
            sum + ((try? FileManager.default.attributesOfItem(atPath: configuration.path + suffix)[.size] as? Int) ?? 0)
        }
    }

    /// Writes what was read so far and stops both threads; live tails end.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ingest.push(.stop)
        ingest.close()
        ingestDone.wait()
        writerDone.wait()
        hub.closeAll()
        resumeAllPaused()
    }

    // MARK: Writing

    /// Where one run of one process writes. `onDrained` is called (from the store's
    /// thread) after a `write` returned false, once the process may be read again.
    public func makeSink(processID: String, run: Int, onDrained: @escaping @Sendable () -> Void) -> LogSink {
        LogSink(processID: processID, run: run, store: self, onDrained: onDrained)
    }

    /// Retention for one process's lines (nil: the default).
    public func setRetention(_ policy: LogRetentionPolicy?, for processID: String) {
        policies.withLock { $0[processID] = policy }
    }

    func retention(for processID: String) -> LogRetentionPolicy {
        policies.withLock { $0[processID] } ?? configuration.defaultRetention
    }

    /// A supervisor event, stored as a line of process `supervisor` with the agent and the
    /// event's kind in extra (`agent_id`, `event`).
    public func appendEvent(agentID: String, event: SupervisorEvent, level: LogLevel, message: String, fields: [String: JSONValue] = [:]) {
        var extra = fields
        extra["event"] = .string(event.rawValue)
        var run = 0
        if case .number(let value)? = extra.removeValue(forKey: "run") { run = Int(value) }
        extra["agent_id"] = .string(agentID)
        ingest.push(.event(processID: LogFilter.supervisorProcessID, level: level, message: message, run: run, extraMembers: JSONText.members(extra), atMicros: Timestamps.micros(Date())))
    }

    // MARK: Reading

    /// Returns once every line handed in before the call is committed. While the store
    /// cannot write (a full disk) it returns at once: readers see what is committed.
    public func flush() async {
        if writeFault != nil { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if !ingest.push(.barrier({ continuation.resume() })) { continuation.resume() }
        }
    }

    // MARK: Faults

    /// Why the store cannot write now (and since when), or nil when it can.
    public var writeFault: (reason: String, since: Date)? {
        faultState.withLock { state in state.reason.map { ($0, state.since ?? Date()) } }
    }

    /// Lines that could never be written (a daemon stopped while the disk was full).
    public var lostLines: Int { faultState.withLock { $0.lostLines } }

    func noteWriteFailure(_ reason: String) {
        let first = faultState.withLock { state -> Bool in
            defer { state.reason = reason }
            if state.reason == nil { state.since = Date() }
            return state.reason == nil
        }
        if first { reports.withLock { $0["write"] = nil } }
        report("write", "writing logs failed (\(reason)); nothing is dropped: agents' output waits and the write is tried again every 250 ms")
    }

    func noteWriteSuccess() {
        let recovered = faultState.withLock { state -> Date? in
            defer { state.reason = nil; state.since = nil }
            return state.reason == nil ? nil : state.since
        }
        if let since = recovered {
            configuration.onError(String(format: "the log store writes again (it could not for %.1f s); nothing was lost", Date().timeIntervalSince(since)))
            reports.withLock { $0["write"] = nil }
        }
    }

    func noteLinesLost(_ count: Int) {
        faultState.withLock { $0.lostLines += count }
        configuration.onError("the daemon stopped while the log store could not write: \(count) lines were never stored")
    }

    /// Tells `onError` about a failure at most once a minute per kind, with how many were held back.
    func report(_ kind: String, _ message: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        let suppressed: Int? = reports.withLock { all in
            if let last = all[kind], now &- last.lastNanos < 60_000_000_000 {
                all[kind] = (last.lastNanos, last.suppressed + 1)
                return nil
            }
            let held = all[kind]?.suppressed ?? 0
            all[kind] = (now, 0)
            return held
        }
        guard let suppressed else { return }
        configuration.onError(message + (suppressed > 0 ? " (\(suppressed) more like it in the last minute)" : ""))
    }

    public func query(_ query: LogQuery) async throws(LogStoreError) -> LogPage {
        await flush()
        let state = readState.withLock { $0 }
        do {
            return try await database.pool.read { db in
                try LogQueryExecutor.run(query, db: db, ftsThrough: state.ftsThrough) { entry in
                    guard let floor = state.floors[entry.processID] else { return true }
                    return entry.sequence >= floor
                }
            }
        } catch {
            throw LogStoreError(description: "reading the log store failed: \(error)")
        }
    }

    /// How much is stored, and how far behind the full-text index is.
    public func statistics() async throws(LogStoreError) -> LogStatistics {
        let ftsThrough = readState.withLock { $0.ftsThrough }
        let path = configuration.path
        do {
            return try await database.pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(line_count), 0), COALESCE(SUM(bytes), 0), COALESCE(SUM(id > ?), 0), COUNT(DISTINCT process_id) FROM log_blocks", arguments: [ftsThrough])
                let hidden = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(hidden_lines), 0) FROM log_floors") ?? 0
                let fileBytes = ["", "-wal"].reduce(0) { sum, suffix in
                    sum + ((try? FileManager.default.attributesOfItem(atPath: path + suffix)[.size] as? Int) ?? 0)
                }
                return LogStatistics(
                    blocks: row?[0] ?? 0, lines: (row?[1] ?? 0) - hidden, bytes: row?[2] ?? 0,
                    blocksAwaitingFullText: row?[3] ?? 0, processes: row?[4] ?? 0, fileBytes: fileBytes
                )
            }
        } catch {
            throw LogStoreError(description: "reading the log store failed: \(error)")
        }
    }

    /// Removes the lines of one process, or all; returns how many were removed, or nil
    /// when the store cannot write now and did not answer within `timeout` (the clear is
    /// then applied once it can).
    public func clear(processID: String?, timeout: Duration = .seconds(1)) async -> Int? {
        let answer = OneAnswer<Int?>()
        return await withTaskGroup(of: Void.self, returning: Int?.self) { group in
            group.addTask { [weak self] in
                // Only a store that cannot write stops waiting; otherwise the answer comes.
                while !Task.isCancelled {
                    try? await Task.sleep(for: timeout)
                    if Task.isCancelled { return }
                    if self?.writeFault != nil {
                        answer.give(nil)
                        return
                    }
                }
            }
            let removed = await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
                answer.set(continuation)
                if !ingest.push(.clear(processID: processID, done: { answer.give($0) })) { answer.give(0) }
            }
            group.cancelAll()
            return removed
        }
    }

    /// A live tail. With `tail > 0` the last `tail` matching stored lines come first (oldest
    /// first); live lines follow without repeats or holes.
    public func subscribe(filter: LogFilter, tail: Int, capacity: Int = 10_000) async throws(LogStoreError) -> (tail: [LogEntry], subscription: LogSubscription) {
        let subscription = hub.subscribe(filter: filter, capacity: capacity)
        guard tail > 0 else { return ([], subscription) }
        do {
            let page = try await query(LogQuery(filter: filter, order: .desc, limit: tail))
            let entries = Array(page.entries.reversed())
            if let last = entries.last { subscription.skip(through: last.sequence) }
            return (entries, subscription)
        } catch {
            subscription.close()
            throw error
        }
    }

    // MARK: Backpressure

    /// Pauses `sink`'s reader if it is (still) over a mark; false means "stop reading".
    /// Pausing and resuming both hold this lock, so a sink is registered exactly while
    /// its reader is paused, and every pause is matched by one `onDrained`.
    func pauseIfOver(_ sink: LogSink) -> Bool {
        let globalOver = ingest.pendingBytes > configuration.globalHighWaterBytes
        let paused = pausedSinks.withLock { registry in
            guard sink.pauseIfOver(high: configuration.sinkHighWaterBytes, globalOver: globalOver) else { return false }
            registry[ObjectIdentifier(sink)] = sink
            return true
        }
        if paused {
            pausedCount.store(1, ordering: .releasing)
            pauses.add(1, ordering: .relaxed)
        }
        return !paused
    }

    /// Called by the ingest thread after it freed memory: resumes the sinks now under both marks.
    func resumeDrainedSinks() {
        guard pausedCount.load(ordering: .acquiring) > 0 else { return }
        let globalOK = ingest.pendingBytes <= configuration.globalHighWaterBytes / 2
        let resumed = pausedSinks.withLock { registry in
            var resumed: [LogSink] = []
            for (key, sink) in registry where sink.resumeIfDrained(low: configuration.sinkLowWaterBytes, globalOK: globalOK) {
                registry[key] = nil
                resumed.append(sink)
            }
            if registry.isEmpty { pausedCount.store(0, ordering: .releasing) }
            return resumed
        }
        for sink in resumed { sink.notifyDrained() }
    }

    private func resumeAllPaused() {
        let resumed = pausedSinks.withLock { registry in
            defer { registry.removeAll() }
            return registry.values.filter { $0.resumeIfDrained(low: .max, globalOK: true) }
        }
        pausedCount.store(0, ordering: .releasing)
        for sink in resumed { sink.notifyDrained() }
    }
}

/// One run of one process writing into the store. `write` is called from the reactor thread.
public final class LogSink: Sendable {
    private struct Flow {
        /// Bytes handed in and not yet parsed.
        var pending = 0
        /// The last `write` said "stop reading" and no `onDrained` has followed yet.
        var readerPaused = false
    }

    public let processID: String
    public let run: Int
    private let store: LogStore
    private let flow = Mutex(Flow())
    private let onDrained: @Sendable () -> Void

    init(processID: String, run: Int, store: LogStore, onDrained: @escaping @Sendable () -> Void) {
        self.processID = processID
        self.run = run
        self.store = store
        self.onDrained = onDrained
    }

    /// Hands lines to the store. False: stop reading this process until `onDrained`.
    public func write(_ stream: LogStream, _ lines: [LineSplitter.Line]) -> Bool {
        guard !lines.isEmpty else { return true }
        // What a queued line costs in memory: its bytes plus the String and array overhead.
        let bytes = lines.reduce(0) { $0 + $1.text.utf8.count + 48 }
        guard store.ingest.push(.lines(self, stream, lines, readAtMicros: Timestamps.micros(Date()), bytes: bytes), bytes: bytes) else { return true }
        let configuration = store.configuration
        let (over, paused) = flow.withLock { flow in
            flow.pending += bytes
            return (flow.pending > configuration.sinkHighWaterBytes, flow.readerPaused)
        }
        if paused { return false }
        guard over || store.ingest.pendingBytes > configuration.globalHighWaterBytes else { return true }
        return store.pauseIfOver(self)
    }

    /// The process is gone: its last lines are written without waiting for the flush interval.
    public func finish() {
        store.ingest.push(.finish(processID: processID))
    }

    func release(bytes: Int) {
        flow.withLock { $0.pending -= bytes }
    }

    /// Under the store's pause lock.
    func pauseIfOver(high: Int, globalOver: Bool) -> Bool {
        flow.withLock { flow in
            if flow.pending > high || globalOver { flow.readerPaused = true }
            return flow.readerPaused
        }
    }

    /// Under the store's pause lock; true if the pause ended (call `notifyDrained`).
    func resumeIfDrained(low: Int, globalOK: Bool) -> Bool {
        flow.withLock { flow in
            guard flow.readerPaused, flow.pending <= low, globalOK else { return false }
            flow.readerPaused = false
            return true
        }
    }

    func notifyDrained() { onDrained() }
}

/// The ingest thread: parse, number, publish, pack.
private final class IngestLoop: @unchecked Sendable {
    private unowned let store: LogStore
    private var nextSequence: UInt64
    private var builders: [String: LogBlockBuilder] = [:]
    private let flushNanos: UInt64
    private let configuration: LogStoreConfiguration

    init(store: LogStore, nextSequence: UInt64) {
        self.store = store
        self.nextSequence = nextSequence
        self.configuration = store.configuration
        self.flushNanos = UInt64(max(0.001, store.configuration.flushIntervalSeconds) * 1e9)
    }

    func run() {
        var stopping = false
        while true {
            let items = store.ingest.takeAll(timeout: stopping ? 0 : builders.isEmpty ? 1 : configuration.flushIntervalSeconds / 2)
            if items.isEmpty && stopping { break }
            var released = 0
            let now = DispatchTime.now().uptimeNanoseconds
            for item in items {
                switch item {
                case .lines(let sink, let stream, let lines, let readAt, let bytes):
                    let live = store.hub.subscriberCount > 0
                    var entries: [LogEntry] = []
                    if live { entries.reserveCapacity(lines.count) }
                    for line in lines {
                        let parsed = LineParser.parse(line.text)
                        let micros = parsed.timestampMicros ?? readAt
                        let entry = LogEntry(
                            sequence: nextSequence, processID: sink.processID,
                            timestamp: Timestamps.date(micros: micros), level: parsed.level,
                            message: parsed.message, stream: stream, run: sink.run, truncated: line.truncated,
                            extraMembers: parsed.extraMembers
                        )
                        nextSequence += 1
                        append(entry, micros: micros, now: now)
                        if live { entries.append(entry) }
                    }
                    if live { store.hub.publish(entries) }
                    sink.release(bytes: bytes)
                    released += bytes
                case .event(let processID, let level, let message, let run, let extra, let at):
                    let entry = LogEntry(sequence: nextSequence, processID: processID, timestamp: Timestamps.date(micros: at), level: level, message: message, stream: .supervisor, run: run, extraMembers: extra)
                    nextSequence += 1
                    append(entry, micros: at, now: now)
                    store.hub.publish([entry])
                case .finish(let processID):
                    seal(processID)
                case .barrier(let done):
                    sealAll()
                    store.commits.push(.barrier(done))
                case .clear(let processID, let done):
                    var unwritten = 0
                    if let processID {
                        unwritten = builders.removeValue(forKey: processID)?.lineCount ?? 0
                    } else {
                        unwritten = builders.values.reduce(0) { $0 + $1.lineCount }
                        builders.removeAll()
                    }
                    store.commits.push(.clear(processID: processID, unwritten: unwritten, nextSequence: nextSequence, done: done))
                case .stop:
                    stopping = true
                }
            }
            store.ingest.release(bytes: released)
            store.resumeDrainedSinks()
            for (processID, builder) in builders where !builder.isEmpty && now &- builder.openedAt >= flushNanos {
                seal(processID)
            }
            if stopping {
                sealAll()
                // Pushes are refused now; whatever got in before is taken on the next turn.
                continue
            }
            // A stop is not held up by writes that cannot happen (a full disk).
            store.commits.waitForSpace(below: LogStore.commitQueueBytes) { store.stopped.load(ordering: .relaxed) }
        }
        store.commits.push(.stop)
    }

    private func append(_ entry: LogEntry, micros: Int64, now: UInt64) {
        var builder = builders.removeValue(forKey: entry.processID) ?? LogBlockBuilder(processID: entry.processID)
        builder.append(entry, micros: micros, now: now)
        if builder.lineCount >= configuration.blockLines || builder.bytes.count >= configuration.blockBytes {
            let block = builder.seal()
            store.commits.push(.block(block), bytes: block.data.count)
        }
        builders[entry.processID] = builder
    }

    private func seal(_ processID: String) {
        guard var builder = builders.removeValue(forKey: processID), !builder.isEmpty else { return }
        let block = builder.seal()
        store.commits.push(.block(block), bytes: block.data.count)
    }

    private func sealAll() {
        for processID in Array(builders.keys) { seal(processID) }
    }
}

/// A continuation resumed by whichever answer comes first.
final class OneAnswer<Value: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Value, Never>?, early: Value?)>((nil, nil))

    func set(_ continuation: CheckedContinuation<Value, Never>) {
        let early = state.withLock { state -> Value? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func give(_ value: Value) {
        let continuation = state.withLock { state -> CheckedContinuation<Value, Never>? in
            if let continuation = state.continuation {
                state.continuation = nil
                state.early = value
                return continuation
            }
            if state.early == nil { state.early = value }
            return nil
        }
        continuation?.resume(returning: value)
    }
}

/// The writer thread: commit, retention, full-text index.
private final class WriterLoop: @unchecked Sendable {
    private unowned let store: LogStore
    private var totals: [String: LogDatabase.ProcessTotals]
    private var floors: [String: LogDatabase.Floor]
    private var ftsThrough: Int64
    private var lastBlockID: Int64
    private var lastRetention: UInt64 = 0
    static let fullTextLag: Int64 = 256
    /// Operations whose transaction failed, tried again in order; their bytes stay counted.
    private var retry: [Operation] = []
    private var retryBytes = 0
    /// After a failed indexing pass, wait before trying again rather than spin.
    private var indexingPausedUntil: UInt64 = 0
    /// When a flood's memory goes back; fed the bytes stored each second.
    private var memoryRelease: MemoryReleasePolicy
    private var bytesThisSecond = 0
    private var secondStartedAt: UInt64 = 0
    private var configuration: LogStoreConfiguration { store.configuration }
    private var database: LogDatabase { store.database }

    init(store: LogStore, recovered: LogDatabase.Recovered) {
        self.store = store
        self.totals = recovered.totals
        self.floors = recovered.floors
        self.ftsThrough = recovered.ftsThrough
        self.lastBlockID = recovered.lastBlockID
        self.memoryRelease = MemoryReleasePolicy(
            afterBytes: store.configuration.releaseMemoryAfterBytes, afterQuietSeconds: store.configuration.releaseMemoryAfterQuietSeconds
        )
    }

    func run() {
        while true {
            let degraded = !retry.isEmpty
            let backlog = ftsThrough < lastBlockID && DispatchTime.now().uptimeNanoseconds >= indexingPausedUntil
            let items = store.commits.takeAll(timeout: degraded ? 0.25 : backlog ? 0.001 : 1)
            for case .block(let block) in items { bytesThisSecond += block.data.count }
            var stopping = false
            // While writes fail, they are tried again every 250 ms (and with any new work).
            if !items.isEmpty || degraded { stopping = commit(items) }
            let now = DispatchTime.now().uptimeNanoseconds
            if retry.isEmpty, now &- lastRetention >= 1_000_000_000 || stopping {
                lastRetention = now
                applyRetention()
            }
            if stopping {
                if !retry.isEmpty {
                    // One last try; what still cannot be written is counted and said.
                    _ = commit([])
                    let lost = retryLines
                    if lost > 0 { store.noteLinesLost(lost) }
                }
                return
            }
            // Idle time fills the full-text index; under a flood it is filled in step too once
            // it lags by more than `fullTextLag` blocks, so the backlog stays bounded.
            if retry.isEmpty && ftsThrough < lastBlockID && now >= indexingPausedUntil {
                if items.isEmpty {
                    indexText(now: now)
                } else {
                    while lastBlockID - ftsThrough > Self.fullTextLag, indexText(now: now) {}
                }
            }
            if now &- secondStartedAt >= 1_000_000_000 {
                switch memoryRelease.endOfSecond(storedBytes: bytesThisSecond, busy: !retry.isEmpty || ftsThrough < lastBlockID) {
                case .none:
                    break
                case .releaseDatabase:
                    // Without waiting for a long query: readers close once idle.
                    database.pool.releaseMemoryEventually()
                case .trimAllocator:
                    if configuration.trimsAllocator { _ = par_release_free_memory() }
                    store.memoryReleases.add(1, ordering: .relaxed)
                }
                bytesThisSecond = 0
                secondStartedAt = now
            }
        }
    }

    /// One change to make in the database, in order. Kept for the next attempt when a
    /// transaction fails (a full disk): nothing handed in is dropped.
    private enum Operation {
        case insert([SealedLogBlock])
        case clear(processID: String?, nextSequence: UInt64)
    }

    /// What a transaction changes in memory, applied only once it committed.
    private struct Staged {
        var totals: [String: LogDatabase.ProcessTotals]
        var floors: [String: LogDatabase.Floor]
        var lastBlockID: Int64
    }

    /// Returns true when the stop item was among them.
    private func commit(_ items: [LogStore.CommitItem]) -> Bool {
        var operations = retry
        var heldBytes = retryBytes
        var droppedBytes = 0
        var callbacks: [@Sendable () -> Void] = []
        var answers: [(done: @Sendable (Int) -> Void, inMemory: Int, operation: Int)] = []
        var stopping = false
        for item in items {
            switch item {
            case .block(let block):
                heldBytes += block.data.count
                if case .insert(var blocks)? = operations.last {
                    blocks.append(block)
                    operations[operations.count - 1] = .insert(blocks)
                } else {
                    operations.append(.insert([block]))
                }
            case .barrier(let callback):
                callbacks.append(callback)
            case .clear(let processID, let unwritten, let nextSequence, let callback):
                // Blocks of the process not written yet need no writing.
                var droppedLines = 0
                operations = operations.map { operation in
                    guard case .insert(let blocks) = operation else { return operation }
                    let (gone, kept) = (blocks.filter { processID == nil || $0.processID == processID }, blocks.filter { processID != nil && $0.processID != processID })
                    droppedLines += gone.reduce(0) { $0 + $1.lineCount }
                    let bytes = gone.reduce(0) { $0 + $1.data.count }
                    droppedBytes += bytes
                    heldBytes -= bytes
                    return .insert(kept)
                }
                operations.append(.clear(processID: processID, nextSequence: nextSequence))
                answers.append((callback, unwritten + droppedLines, operations.count - 1))
            case .stop:
                stopping = true
            }
        }
        var staged = Staged(totals: totals, floors: floors, lastBlockID: lastBlockID)
        var removedByOperation: [Int: Int] = [:]
        let storedMicros = Timestamps.micros(Date())
        do {
            try database.pool.write { db in
                for (index, operation) in operations.enumerated() {
                    switch operation {
                    case .insert(let blocks):
                        guard !blocks.isEmpty else { continue }
                        staged.lastBlockID = try database.insert(blocks, storedMicros: storedMicros, db: db)
                        for block in blocks {
                            var entry = staged.totals[block.processID, default: .init()]
                            entry.lines += block.lineCount
                            entry.bytes += block.data.count
                            entry.oldestStoredMicros = min(entry.oldestStoredMicros, storedMicros)
                            staged.totals[block.processID] = entry
                        }
                        try database.setMeta("next_seq", Int64((blocks.map(\.lastSequence).max() ?? 0) + 1), db: db)
                    case .clear(let processID, let nextSequence):
                        removedByOperation[index] = try clearRows(processID, staged: &staged, db: db)
                        // The dropped lines' sequence ids are never handed out again.
                        try database.setMeta("next_seq", Int64(nextSequence), db: db)
                    }
                }
            }
        } catch {
            // Nothing of the transaction happened: the same operations are tried again, and
            // their bytes stay counted, so ingest (and then the agents) wait meanwhile.
            retry = operations.filter { if case .insert(let blocks) = $0 { !blocks.isEmpty } else { true } }
            retryBytes = heldBytes
            store.commits.release(bytes: droppedBytes)
            store.noteWriteFailure("\(error)")
            for answer in answers { answer.done(answer.inMemory) }
            for callback in callbacks { callback() }
            return stopping
        }
        // Committed: now the in-memory view follows.
        totals = staged.totals
        floors = staged.floors
        lastBlockID = staged.lastBlockID
        for operation in operations {
            guard case .clear(let processID, _) = operation else { continue }
            store.readState.withLock { state in
                if let processID { state.floors[processID] = nil } else { state.floors.removeAll() }
            }
        }
        retry = []
        retryBytes = 0
        publishTotals()
        store.commits.release(bytes: heldBytes + droppedBytes)
        store.noteWriteSuccess()
        for answer in answers { answer.done(answer.inMemory + (removedByOperation[answer.operation] ?? 0)) }
        for callback in callbacks { callback() }
        return stopping
    }

    private func publishTotals() {
        let sum = LogStore.sum(totals, fullTextBacklog: lastBlockID - ftsThrough)
        store.readState.withLock { $0.totals = sum }
    }

    /// Lines of blocks not written yet (lost if the daemon stops before the disk recovers).
    private var retryLines: Int {
        retry.reduce(0) { sum, operation in
            if case .insert(let blocks) = operation { return sum + blocks.reduce(0) { $0 + $1.lineCount } }
            return sum
        }
    }

    private func clearRows(_ processID: String?, staged: inout Staged, db: GRDB.Database) throws -> Int {
        guard let processID else {
            let removed = try database.deleteEverything(db: db)
            staged.totals.removeAll()
            staged.floors.removeAll()
            return removed
        }
        let removed = try database.deleteBlocks(where: "process_id = ?", arguments: [processID], ftsThrough: ftsThrough, db: db)
        try db.execute(sql: "DELETE FROM log_floors WHERE process_id = ?", arguments: [processID])
        let hidden = staged.floors.removeValue(forKey: processID)?.hiddenLines ?? 0
        staged.totals[processID] = nil
        return removed.lines - hidden
    }

    private func applyRetention() {
        let nowMicros = Timestamps.micros(Date())
        do {
            for processID in Array(totals.keys) {
                guard let processTotals = totals[processID] else { continue }
                let policy = store.retention(for: processID)
                let summary = RetentionPlanner.Totals(lines: processTotals.lines, bytes: processTotals.bytes)
                guard RetentionPlanner.isOver(summary, policy: policy, oldestStoredMicros: processTotals.oldestStoredMicros, nowMicros: nowMicros) else { continue }
                try trim(processID, policy: policy, nowMicros: nowMicros)
            }
            try trimGlobal()
        } catch {
            store.report("retention", "applying log retention failed: \(error)")
        }
    }

    /// Changes are made on copies and taken over only once the transaction committed.
    private func trim(_ processID: String, policy: LogRetentionPolicy, nowMicros: Int64) throws {
        var processTotals = totals[processID]
        var floor = floors[processID]
        try database.pool.write { db in
            while true {
                guard let current = processTotals else { return }
                let blocks = try database.oldestBlocks(of: processID, limit: 512, floor: floor, db: db)
                let plan = RetentionPlanner.plan(totals: .init(lines: current.lines, bytes: current.bytes), policy: policy, oldestFirst: blocks, nowMicros: nowMicros)
                if plan.isEmpty { return }
                if !plan.deleteBlocks.isEmpty {
                    let ids = plan.deleteBlocks.map(String.init).joined(separator: ",")
                    _ = try database.deleteBlocks(where: "id IN (\(ids))", arguments: [], ftsThrough: ftsThrough, db: db)
                    if let existing = floor, plan.deleteBlocks.contains(existing.blockID) {
                        floor = nil
                        try db.execute(sql: "DELETE FROM log_floors WHERE process_id = ?", arguments: [processID])
                    }
                }
                if let (blockID, hidden) = plan.floor, let sequence = try database.sequence(ofLine: hidden, inBlock: blockID, db: db) {
                    floor = .init(blockID: blockID, hiddenLines: hidden, sequence: sequence)
                    try db.execute(sql: """
                        INSERT INTO log_floors (process_id, block_id, hidden_lines, floor_seq) VALUES (?, ?, ?, ?)
                        ON CONFLICT(process_id) DO UPDATE SET block_id = excluded.block_id, hidden_lines = excluded.hidden_lines, floor_seq = excluded.floor_seq
                        """, arguments: [processID, blockID, hidden, Int64(sequence)])
                }
                var updated = current
                updated.lines -= plan.linesRemoved
                updated.bytes -= plan.bytesRemoved
                updated.oldestStoredMicros = try Int64.fetchOne(db, sql: "SELECT MIN(stored_us) FROM log_blocks WHERE process_id = ?", arguments: [processID]) ?? .max
                processTotals = updated.lines > 0 || updated.bytes > 0 ? updated : nil
                // The plan stopped inside what was fetched: done. Otherwise fetch the next blocks.
                if plan.deleteBlocks.count < blocks.count || blocks.isEmpty { return }
            }
        }
        totals[processID] = processTotals
        floors[processID] = floor
        store.readState.withLock { $0.floors[processID] = floor?.sequence }
        publishTotals()
    }

    private func trimGlobal() throws {
        var total = totals.values.reduce(0) { $0 + $1.bytes }
        guard total > configuration.maxTotalBytes else { return }
        var stagedTotals = totals
        var stagedFloors = floors
        var clearedFloors: [String] = []
        try database.pool.write { db in
            while total > configuration.maxTotalBytes {
                let rows = try Row.fetchAll(db, sql: "SELECT id, process_id, line_count, bytes FROM log_blocks ORDER BY first_seq LIMIT 64")
                if rows.isEmpty { return }
                var ids: [Int64] = []
                for row in rows where total > configuration.maxTotalBytes {
                    let processID: String = row[1]
                    let id: Int64 = row[0]
                    ids.append(id)
                    total -= row[3] as Int
                    var entry = stagedTotals[processID, default: .init()]
                    var lines: Int = row[2]
                    if let floor = stagedFloors[processID], floor.blockID == id {
                        lines -= floor.hiddenLines
                        stagedFloors[processID] = nil
                        clearedFloors.append(processID)
                        try db.execute(sql: "DELETE FROM log_floors WHERE process_id = ?", arguments: [processID])
                    }
                    entry.lines -= lines
                    entry.bytes -= row[3] as Int
                    stagedTotals[processID] = entry
                }
                _ = try database.deleteBlocks(where: "id IN (\(ids.map(String.init).joined(separator: ",")))", arguments: [], ftsThrough: ftsThrough, db: db)
            }
        }
        totals = stagedTotals
        floors = stagedFloors
        store.readState.withLock { state in for processID in clearedFloors { state.floors[processID] = nil } }
        publishTotals()
    }

    /// One pass of up to 8 blocks; false when it failed (and pauses indexing) or had nothing to do.
    @discardableResult
    private func indexText(now: UInt64) -> Bool {
        do {
            let through = ftsThrough
            if let last = try database.pool.write({ db in try database.indexText(after: through, limit: 8, db: db) }) {
                ftsThrough = last
                store.readState.withLock { $0.ftsThrough = last }
            } else {
                ftsThrough = lastBlockID
                publishTotals()
                return false
            }
            publishTotals()
            return true
        } catch {
            store.report("fulltext", "full-text indexing of logs failed (retrying in 10 s; q= scans meanwhile): \(error)")
            indexingPausedUntil = now + 10_000_000_000
            return false
        }
    }
}
