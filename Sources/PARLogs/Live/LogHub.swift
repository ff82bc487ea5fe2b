import Synchronization

/// Live tails: every stored line is offered to each subscriber whose filter matches.
/// A subscriber's queue is bounded; when it is full the subscriber gets one gap marker
/// counting what it missed instead, so a slow client never slows the agents, the store
/// or the other clients.
public final class LogHub: Sendable {
    private let subscribers = Mutex<[UInt64: LogSubscription]>([:])
    private let nextID = Atomic<UInt64>(1)
    private let count = Atomic<Int>(0)

    public init() {}

    public func subscribe(filter: LogFilter, capacity: Int = 10_000) -> LogSubscription {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let subscription = LogSubscription(id: id, filter: filter, capacity: capacity, hub: self)
        subscribers.withLock { $0[id] = subscription }
        count.add(1, ordering: .releasing)
        return subscription
    }

    func remove(_ id: UInt64) {
        if subscribers.withLock({ $0.removeValue(forKey: id) }) != nil {
            count.subtract(1, ordering: .releasing)
        }
    }

    public var subscriberCount: Int { count.load(ordering: .acquiring) }

    func publish(_ entries: [LogEntry]) {
        guard count.load(ordering: .acquiring) > 0, !entries.isEmpty else { return }
        let current = subscribers.withLock { Array($0.values) }
        for subscription in current { subscription.offer(entries) }
    }

    /// Ends every tail (daemon shutdown).
    func closeAll() {
        let current = subscribers.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        count.store(0, ordering: .releasing)
        for subscription in current { subscription.close() }
    }
}

/// One live tail. Read it with `next()` from one task.
public final class LogSubscription: Sendable {
    public enum Delivery: Sendable, Equatable {
        case entry(LogEntry)
        /// Lines that matched but were dropped because this subscriber fell behind;
        /// fetch them by cursor (`cursor = firstSequence - 1`, `order=asc`).
        case gap(missed: Int, firstSequence: UInt64, lastSequence: UInt64)
    }

    private struct State {
        var queue: [Delivery] = []
        var queuedEntries = 0
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
        /// `poke()` was called: `next()` returns an empty batch (a keep-alive turn).
        var poked = false
        /// Entries at or below this were already delivered (the tail), so live copies are skipped.
        var deliveredThrough: UInt64 = 0
    }

    public let id: UInt64
    public let filter: LogFilter
    public let capacity: Int
    private let state = Mutex(State())
    private let hub: LogHub

    init(id: UInt64, filter: LogFilter, capacity: Int, hub: LogHub) {
        self.id = id
        self.filter = filter
        self.capacity = max(1, capacity)
        self.hub = hub
    }

    /// Live lines at or below `sequence` are dropped (they were already sent as the tail).
    public func skip(through sequence: UInt64) {
        state.withLock { state in
            state.deliveredThrough = max(state.deliveredThrough, sequence)
            state.queue.removeAll { delivery in
                if case .entry(let entry) = delivery, entry.sequence <= sequence { return true }
                return false
            }
            state.queuedEntries = state.queue.count { if case .entry = $0 { true } else { false } }
        }
    }

    func offer(_ entries: [LogEntry]) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.closed else { return nil }
            var added = false
            for entry in entries where entry.sequence > state.deliveredThrough && filter.matches(entry) {
                added = true
                if state.queuedEntries < capacity {
                    state.queue.append(.entry(entry))
                    state.queuedEntries += 1
                } else if case .gap(let missed, let first, _) = state.queue.last {
                    state.queue[state.queue.count - 1] = .gap(missed: missed + 1, firstSequence: first, lastSequence: entry.sequence)
                } else {
                    state.queue.append(.gap(missed: 1, firstSequence: entry.sequence, lastSequence: entry.sequence))
                }
            }
            guard added else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Makes a waiting (or the next) `next()` return an empty batch, so the reader can
    /// send a keep-alive and notice a client that went away.
    public func poke() {
        let waiter = state.withLock { state in
            state.poked = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Everything queued so far, waiting until there is something; an empty batch after
    /// `poke()`; nil once closed.
    public func next() async -> [Delivery]? {
        while true {
            if let ready = take() { return ready }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if !state.queue.isEmpty || state.closed || state.poked { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                close()
            }
        }
    }

    /// `.some(nil)`: closed and drained. `nil`: nothing to hand out yet.
    private func take() -> [Delivery]?? {
        state.withLock { state in
            if !state.queue.isEmpty {
                defer {
                    state.queue.removeAll(keepingCapacity: state.queue.count < 4096)
                    state.queuedEntries = 0
                    state.poked = false
                }
                return .some(state.queue)
            }
            if state.closed { return .some(nil) }
            if state.poked {
                state.poked = false
                return .some([])
            }
            return nil
        }
    }

    /// A `next()` is parked waiting for something to hand out (tests wait for this).
    var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Stops the tail; a waiting `next()` returns nil.
    public func close() {
        hub.remove(id)
        let waiter = state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
