import PARCore

/// Decides which of a process's oldest blocks go when it is over its retention.
/// Pure: the store feeds it block summaries and applies the plan.
///
/// Count is exact: lines over `maxEntries` inside the block that stays are hidden by a
/// floor (queries skip them) until the whole block goes. Bytes and age drop whole blocks
/// (bytes: until the total is at most `maxBytes`; age: blocks written longer ago than
/// `maxAgeSeconds`).
public enum RetentionPlanner {
    public struct BlockSummary: Sendable, Equatable {
        public var id: Int64
        public var lineCount: Int
        /// Lines at the start already hidden by an earlier floor.
        public var hiddenLines: Int
        public var bytes: Int
        /// When the block was written; age is counted from there, not from the times the
        /// lines carry (an agent replaying an old log would otherwise lose it at once).
        public var storedMicros: Int64

        public init(id: Int64, lineCount: Int, hiddenLines: Int = 0, bytes: Int, storedMicros: Int64) {
            self.id = id
            self.lineCount = lineCount
            self.hiddenLines = hiddenLines
            self.bytes = bytes
            self.storedMicros = storedMicros
        }

        var visibleLines: Int { lineCount - hiddenLines }
    }

    public struct Totals: Sendable, Equatable {
        /// Visible lines (hidden ones not counted).
        public var lines: Int
        public var bytes: Int

        public init(lines: Int, bytes: Int) {
            self.lines = lines
            self.bytes = bytes
        }
    }

    public struct Plan: Sendable, Equatable {
        public var deleteBlocks: [Int64] = []
        /// Hide this many lines (in total) at the start of this block.
        public var floor: (blockID: Int64, hiddenLines: Int)?
        public var linesRemoved = 0
        public var bytesRemoved = 0

        public var isEmpty: Bool { deleteBlocks.isEmpty && floor == nil }

        public static func == (lhs: Plan, rhs: Plan) -> Bool {
            lhs.deleteBlocks == rhs.deleteBlocks && lhs.floor?.blockID == rhs.floor?.blockID
                && lhs.floor?.hiddenLines == rhs.floor?.hiddenLines && lhs.linesRemoved == rhs.linesRemoved
                && lhs.bytesRemoved == rhs.bytesRemoved
        }
    }

    /// Whether the store needs to look at this process's blocks at all.
    public static func isOver(_ totals: Totals, policy: LogRetentionPolicy, oldestStoredMicros: Int64?, nowMicros: Int64) -> Bool {
        if totals.lines > policy.maxEntries || totals.bytes > policy.maxBytes { return true }
        if let oldestStoredMicros, oldestStoredMicros < ageCutoff(policy: policy, nowMicros: nowMicros) { return true }
        return false
    }

    public static func ageCutoff(policy: LogRetentionPolicy, nowMicros: Int64) -> Int64 {
        nowMicros - Int64(policy.maxAgeSeconds * 1_000_000)
    }

    /// `oldestFirst`: the process's blocks from the oldest, as many as the plan may need.
    public static func plan(totals: Totals, policy: LogRetentionPolicy, oldestFirst: [BlockSummary], nowMicros: Int64) -> Plan {
        var plan = Plan()
        var excessLines = max(0, totals.lines - policy.maxEntries)
        var excessBytes = max(0, totals.bytes - policy.maxBytes)
        let cutoff = ageCutoff(policy: policy, nowMicros: nowMicros)
        for block in oldestFirst {
            let tooOld = block.storedMicros < cutoff
            if tooOld || excessBytes > 0 || excessLines >= block.visibleLines {
                plan.deleteBlocks.append(block.id)
                plan.linesRemoved += block.visibleLines
                plan.bytesRemoved += block.bytes
                excessLines = max(0, excessLines - block.visibleLines)
                excessBytes = max(0, excessBytes - block.bytes)
                continue
            }
            if excessLines > 0 {
                plan.floor = (block.id, block.hiddenLines + excessLines)
                plan.linesRemoved += excessLines
            }
            break
        }
        return plan
    }
}
