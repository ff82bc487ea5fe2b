/// When the log store gives a flood's memory back (pure: the writer tells it each second
/// how much was stored and carries out what it answers).
///
/// After a flood SQLite's connections keep their page caches and the full-text index's
/// buffers at their fullest, and the allocator keeps the pages they freed. Giving them back
/// between a flood's bursts would cost more than it saves: `malloc_trim` holds each arena's
/// lock while it works, and threads answering the API wait on it. So memory goes back once
/// the flood is over: enough stored since the last time, then quiet seconds in a row (each
/// storing less than `quietBytesPerSecond`; a trickle of lines is quiet). SQLite first, the
/// allocator a second later, once SQLite's pages are free. Not while the writer is busy
/// (writes failing on a full disk, or the full-text index catching up, which fills the caches
/// again): memory goes back once it is done.
public struct MemoryReleasePolicy: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case none
        /// Ask SQLite to free its caches (readers close once idle).
        case releaseDatabase
        /// Return the allocator's free pages to the kernel.
        case trimAllocator
    }

    public var afterBytes: Int
    public var afterQuietSeconds: Int
    public var quietBytesPerSecond: Int
    public private(set) var bytesSinceRelease = 0
    public private(set) var quietSeconds = 0
    private var trimPending = false

    public init(afterBytes: Int, afterQuietSeconds: Int, quietBytesPerSecond: Int = 1 << 20) {
        self.afterBytes = afterBytes
        self.afterQuietSeconds = afterQuietSeconds
        self.quietBytesPerSecond = quietBytesPerSecond
    }

    /// Called at the end of each second with the bytes handed to the writer during it.
    public mutating func endOfSecond(storedBytes: Int, busy: Bool) -> Action {
        quietSeconds = storedBytes < quietBytesPerSecond ? quietSeconds + 1 : 0
        bytesSinceRelease += storedBytes
        if trimPending {
            trimPending = false
            return .trimAllocator
        }
        guard !busy, quietSeconds >= afterQuietSeconds, bytesSinceRelease > afterBytes else { return .none }
        bytesSinceRelease = 0
        trimPending = true
        return .releaseDatabase
    }
}
