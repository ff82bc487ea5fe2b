import Foundation
import Synchronization

/// A many-producer, one-consumer hand-off between threads, with a byte count the
/// producers can wait on. The store's two threads block in the kernel, not on the
/// cooperative pool, so this is a plain semaphore rather than an AsyncStream.
final class WorkQueue<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var bytes = 0
        var peakBytes = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let itemsReady = DispatchSemaphore(value: 0)
    private let spaceFreed = DispatchSemaphore(value: 0)

    /// False once closed: the item was not queued.
    @discardableResult
    func push(_ item: Item, bytes: Int = 0) -> Bool {
        let queued = state.withLock { state in
            guard !state.closed else { return false }
            state.items.append(item)
            state.bytes += bytes
            state.peakBytes = max(state.peakBytes, state.bytes)
            return true
        }
        if queued { itemsReady.signal() }
        return queued
    }

    /// Later pushes are refused; what is queued can still be taken.
    func close() {
        state.withLock { $0.closed = true }
        itemsReady.signal()
    }

    /// Bytes pushed and not yet released by the consumer.
    var pendingBytes: Int { state.withLock { $0.bytes } }

    /// The most `pendingBytes` ever was: what the memory bound held to.
    var peakPendingBytes: Int { state.withLock { $0.peakBytes } }

    /// Everything queued, waiting up to `timeout` seconds for the first item.
    func takeAll(timeout: Double) -> [Item] {
        if let items = takeNow() { return items }
        _ = itemsReady.wait(timeout: .now() + timeout)
        return takeNow() ?? []
    }

    private func takeNow() -> [Item]? {
        state.withLock { state in
            guard !state.items.isEmpty else { return nil }
            defer { state.items.removeAll(keepingCapacity: true) }
            return state.items
        }
    }

    /// The consumer is done with `bytes` of what it took.
    func release(bytes: Int) {
        guard bytes > 0 else { return }
        state.withLock { $0.bytes -= bytes }
        spaceFreed.signal()
    }

    /// Blocks the producer while more than `limit` bytes are queued, unless `giveUp` says so.
    func waitForSpace(below limit: Int, giveUp: () -> Bool = { false }) {
        while pendingBytes > limit && !giveUp() {
            _ = spaceFreed.wait(timeout: .now() + 0.05)
        }
    }
}
