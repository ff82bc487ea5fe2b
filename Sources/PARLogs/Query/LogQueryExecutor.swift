import Foundation
import GRDB

/// Answers a `LogQuery` from the blocks table: the index narrows the blocks (process,
/// sequence, level and stream masks, time range, full text), each candidate block is
/// decoded and its lines filtered, and blocks of different processes (whose sequence
/// ranges interleave) are merged so the page is in exact sequence order.
enum LogQueryExecutor {
    static func run(_ query: LogQuery, db: Database, ftsThrough: Int64, visible: (LogEntry) -> Bool) throws -> LogPage {
        let filter = query.filter
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let processID = filter.processID {
            conditions.append(filter.eventsOfAgent == nil ? "process_id = ?" : "process_id IN (?, ?)")
            arguments += [processID]
            if filter.eventsOfAgent != nil { arguments += [LogFilter.supervisorProcessID] }
        }
        let levelMask = filter.levelMask
        if levelMask != 0b11111 {
            conditions.append("(level_mask & \(levelMask)) != 0")
        }
        if filter.stream != nil {
            conditions.append("(stream_mask & \(filter.streamMask)) != 0")
        }
        if let since = filter.sinceMicros {
            conditions.append("max_us >= ?")
            arguments += [since]
        }
        if let until = filter.untilMicros {
            conditions.append("min_us <= ?")
            arguments += [until]
        }
        if let cursor = query.cursor {
            conditions.append(query.order == .desc ? "first_seq < ?" : "last_seq > ?")
            arguments += [Int64(clamping: cursor)]
        }
        if let text = filter.text {
            conditions.append("(id > ? OR id IN (SELECT rowid FROM log_text WHERE log_text MATCH ?))")
            arguments += [ftsThrough, text.ftsQuery]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        // One process's blocks never overlap, so last_seq order is also first_seq order.
        let oneProcess = filter.processID != nil && filter.eventsOfAgent == nil
        let orderColumn = query.order == .desc || oneProcess ? "last_seq" : "first_seq"
        let sql = "SELECT process_id, first_seq, last_seq, base_us, data FROM log_blocks \(whereClause) ORDER BY \(orderColumn) \(query.order == .desc ? "DESC" : "ASC")"

        // One line more than asked tells whether another page follows.
        let limit = max(0, query.limit) + (query.limit > 0 ? 1 : 0)
        var results: [LogEntry] = []
        results.reserveCapacity(min(limit, 10_000))
        var pending: [LogEntry] = []
        let descending = query.order == .desc
        func precedes(_ a: UInt64, _ b: UInt64) -> Bool { descending ? a > b : a < b }
        /// Moves pending lines that no later block can precede into the results.
        func emit(through bound: UInt64?) {
            pending.sort { precedes($0.sequence, $1.sequence) }
            var taken = 0
            for entry in pending {
                if let bound, !precedes(entry.sequence, bound) { break }
                guard results.count < limit else { break }
                results.append(entry)
                taken += 1
            }
            pending.removeFirst(taken)
            // Only the lines that can still make the page are worth keeping.
            let room = limit - results.count
            if pending.count > room { pending.removeLast(pending.count - room) }
        }

        let prefilter = filter.text?.prefilter()
        if limit > 0 {
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() {
                let firstSequence = UInt64(row[1] as Int64)
                let lastSequence = UInt64(row[2] as Int64)
                emit(through: descending ? lastSequence : firstSequence)
                if results.count >= limit { break }
                let processID: String = row[0]
                let baseMicros: Int64 = row[3]
                try row.withBlockBytes(atIndex: 4) { raw in
                    try LogBlockDecoder.forEach(raw, processID: processID, firstSequence: firstSequence, baseMicros: baseMicros, prefilter: prefilter) { entry in
                        if let cursor = query.cursor, !precedes(cursor, entry.sequence) { return true }
                        if filter.matches(entry) && visible(entry) { pending.append(entry) }
                        return true
                    }
                }
            }
            emit(through: nil)
        }
        let hasMore = query.limit > 0 && results.count > query.limit
        if hasMore { results.removeLast() }
        return LogPage(entries: results, nextCursor: hasMore ? results.last?.sequence : nil)
    }
}
