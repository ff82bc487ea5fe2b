import Foundation
import GRDB

/// The SQLite file behind the log store (WAL, one writer thread, concurrent readers).
///
/// `log_blocks` holds packed lines (see `LogBlockBuilder`) with an index by process and
/// sequence; `log_text` is a contentless FTS5 index with one document per block, filled
/// behind the writes when the writer is idle (`log_meta.fts_through` is the last block it
/// covers); `log_floors` hides lines that retention removed from a block still kept.
final class LogDatabase: Sendable {
    let pool: DatabasePool

    init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // WAL with NORMAL: a commit survives the daemon being killed; on power loss the
            // commits since the last checkpoint may be lost (the WAL is synced only then).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Blocks are read once per query and written once: a big page cache per
            // connection would only add to the daemon's memory.
            try db.execute(sql: "PRAGMA cache_size = -1024")
        }
        configuration.maximumReaderCount = 4
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS log_blocks (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: fts_through relies on it
                    process_id TEXT NOT NULL,
                    first_seq INTEGER NOT NULL,
                    last_seq INTEGER NOT NULL,
                    base_us INTEGER NOT NULL,
                    min_us INTEGER NOT NULL,
                    max_us INTEGER NOT NULL,
                    level_mask INTEGER NOT NULL,
                    stream_mask INTEGER NOT NULL,
                    line_count INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    stored_us INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                CREATE INDEX IF NOT EXISTS log_blocks_by_process ON log_blocks(process_id, last_seq);
                CREATE INDEX IF NOT EXISTS log_blocks_by_last ON log_blocks(last_seq);
                CREATE INDEX IF NOT EXISTS log_blocks_by_first ON log_blocks(first_seq);
                CREATE VIRTUAL TABLE IF NOT EXISTS log_text USING fts5(
                    body, content='', columnsize=0, detail=none, tokenize='unicode61 remove_diacritics 0'
                );
                CREATE TABLE IF NOT EXISTS log_floors (
                    process_id TEXT PRIMARY KEY,
                    block_id INTEGER NOT NULL,
                    hidden_lines INTEGER NOT NULL,
                    floor_seq INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                """)
        }
    }

    // MARK: Start-up state

    struct ProcessTotals: Sendable {
        var lines = 0
        var bytes = 0
        /// When its oldest block was written: whether retention by age has work to do.
        var oldestStoredMicros: Int64 = .max
    }

    struct Recovered: Sendable {
        var nextSequence: UInt64
        var ftsThrough: Int64
        /// The newest block's id (0 when empty): how far the full-text index has to go.
        var lastBlockID: Int64
        var totals: [String: ProcessTotals]
        var floors: [String: Floor]
    }

    struct Floor: Sendable {
        var blockID: Int64
        var hiddenLines: Int
        var sequence: UInt64
    }

    func recover() throws -> Recovered {
        try pool.read { db in
            let maxSeq = try Int64.fetchOne(db, sql: "SELECT MAX(last_seq) FROM log_blocks") ?? 0
            let stored = try Int64.fetchOne(db, sql: "SELECT value FROM log_meta WHERE key = 'next_seq'") ?? 1
            let fts = try Int64.fetchOne(db, sql: "SELECT value FROM log_meta WHERE key = 'fts_through'") ?? 0
            let lastBlockID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM log_blocks") ?? 0
            var totals: [String: ProcessTotals] = [:]
            let rows = try Row.fetchAll(db, sql: "SELECT process_id, SUM(line_count), SUM(bytes), MIN(stored_us) FROM log_blocks GROUP BY process_id")
            for row in rows {
                totals[row[0]] = ProcessTotals(lines: row[1], bytes: row[2], oldestStoredMicros: row[3])
            }
                var floors: [String: Floor] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT process_id, block_id, hidden_lines, floor_seq FROM log_floors") {
                let processID: String = row[0]
                let floor = Floor(blockID: row[1], hiddenLines: row[2], sequence: UInt64(row[3] as Int64))
                totals[processID, default: ProcessTotals()].lines -= floor.hiddenLines
                floors[processID] = floor
            }
            return Recovered(nextSequence: UInt64(max(stored, maxSeq + 1)), ftsThrough: fts, lastBlockID: lastBlockID, totals: totals, floors: floors)
        }
    }

    // MARK: Writing (the store's writer thread only)

    /// Returns the row id of the last block inserted.
    func insert(_ blocks: [SealedLogBlock], storedMicros: Int64, db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO log_blocks (process_id, first_seq, last_seq, base_us, min_us, max_us, level_mask, stream_mask, line_count, bytes, stored_us, data)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for block in blocks {
            try statement.execute(arguments: [
                block.processID, Int64(block.firstSequence), Int64(block.lastSequence), block.baseMicros,
                block.minMicros, block.maxMicros, block.levelMask, block.streamMask, block.lineCount,
                block.data.count, storedMicros, Data(block.data),
            ])
        }
        return db.lastInsertedRowID
    }

    func setMeta(_ key: String, _ value: Int64, db: Database) throws {
        try db.execute(sql: "INSERT INTO log_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", arguments: [key, value])
    }

    /// Deletes blocks (and their full-text rows, if indexed); returns (lines, bytes) removed.
    func deleteBlocks(where condition: String, arguments: StatementArguments, ftsThrough: Int64, db: Database) throws -> (lines: Int, bytes: Int) {
        var lines = 0
        var bytes = 0
        let rows = try Row.fetchCursor(db, sql: "SELECT id, process_id, first_seq, base_us, line_count, bytes, data FROM log_blocks WHERE \(condition)", arguments: arguments)
        var indexed: [(Int64, String)] = []
        while let row = try rows.next() {
            let id: Int64 = row[0]
            lines += row[4] as Int
            bytes += row[5] as Int
            if id <= ftsThrough {
                indexed.append((id, try Self.searchText(row: row, dataIndex: 6)))
            }
        }
        let forget = try db.cachedStatement(sql: "INSERT INTO log_text (log_text, rowid, body) VALUES ('delete', ?, ?)")
        for (id, text) in indexed { try forget.execute(arguments: [id, text]) }
        try db.execute(sql: "DELETE FROM log_blocks WHERE \(condition)", arguments: arguments)
        return (lines, bytes)
    }

    func deleteEverything(db: Database) throws -> Int {
        let lines = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(line_count), 0) FROM log_blocks") ?? 0
        let hidden = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(hidden_lines), 0) FROM log_floors") ?? 0
        try db.execute(sql: "DELETE FROM log_blocks; DELETE FROM log_floors; INSERT INTO log_text (log_text) VALUES ('delete-all');")
        return lines - hidden
    }

    /// Adds up to `limit` blocks after `after` to the full-text index; returns the last id indexed.
    func indexText(after: Int64, limit: Int, db: Database) throws -> Int64? {
        let rows = try Row.fetchCursor(db, sql: "SELECT id, process_id, first_seq, base_us, line_count, bytes, data FROM log_blocks WHERE id > ? ORDER BY id LIMIT ?", arguments: [after, limit])
        let insert = try db.cachedStatement(sql: "INSERT INTO log_text (rowid, body) VALUES (?, ?)")
        var last: Int64?
        while let row = try rows.next() {
            let id: Int64 = row[0]
            try insert.execute(arguments: [id, try Self.searchText(row: row, dataIndex: 6)])
            last = id
        }
        if let last { try setMeta("fts_through", last, db: db) }
        return last
    }

    /// What the full-text index holds for a block: each line's message and extra.
    static func searchText(row: Row, dataIndex: Int) throws -> String {
        var text = ""
        try row.withBlockBytes(atIndex: dataIndex) { raw in
            try LogBlockDecoder.forEach(raw, processID: "", firstSequence: 0, baseMicros: 0) { entry in
                text += entry.searchableText
                text += "\n"
                return true
            }
        }
        return text
    }

    /// Oldest blocks of one process, for the retention planner.
    func oldestBlocks(of processID: String, limit: Int, floor: Floor?, db: Database) throws -> [RetentionPlanner.BlockSummary] {
        try Row.fetchAll(db, sql: "SELECT id, line_count, bytes, stored_us FROM log_blocks WHERE process_id = ? ORDER BY last_seq LIMIT ?", arguments: [processID, limit]).map { row in
            let id: Int64 = row[0]
            return RetentionPlanner.BlockSummary(id: id, lineCount: row[1], hiddenLines: id == floor?.blockID ? floor!.hiddenLines : 0, bytes: row[2], storedMicros: row[3])
        }
    }

    /// The sequence id of line `index` (0-based) of a block.
    func sequence(ofLine index: Int, inBlock id: Int64, db: Database) throws -> UInt64? {
        guard let row = try Row.fetchOne(db, sql: "SELECT first_seq, data FROM log_blocks WHERE id = ?", arguments: [id]) else { return nil }
        var position = 0
        var found: UInt64?
        let first = UInt64(row[0] as Int64)
        try row.withBlockBytes(atIndex: 1) { raw in
            try LogBlockDecoder.forEach(raw, processID: "", firstSequence: first, baseMicros: 0) { entry in
                if position == index { found = entry.sequence; return false }
                position += 1
                return true
            }
        }
        return found
    }
}

extension Row {
    /// The packed lines of a block column, without copying them out of SQLite.
    func withBlockBytes(atIndex index: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try withUnsafeData(atIndex: index) { data in
            guard let data else { return }
            try data.withUnsafeBytes { try body($0) }
        }
    }
}
