import Foundation
import GRDB

/// What must survive the daemon: each agent's spec, whether it should run, who owns it,
/// and the counters status shows. One small SQLite file (`<data>/state/state.sqlite`),
/// written and committed before the API answers, so a 200 means the agent comes back
/// after any crash of the daemon.
public final class DesiredStateStore: Sendable {
    /// Bumped when the schema changes; a file from a newer daemon is refused, never reset.
    public static let schemaVersion = 1

    public let path: String
    private let queue: DatabaseQueue

    public init(path: String) throws(StateStoreError) {
        self.path = path
        let existed = FileManager.default.fileExists(atPath: path)
        do {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
            var configuration = Configuration()
            configuration.prepareDatabase { db in
                // WAL with NORMAL: a commit survives the daemon being killed at any point.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            throw Self.classify(error, path: path, corruptIfUnreadable: existed)
        }
        let path = self.path
        do {
            try queue.writeWithoutTransaction { db in
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version > Self.schemaVersion {
                    throw StateStoreError.newerVersion(path: path, found: version, supported: Self.schemaVersion)
                }
                if existed {
                    let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                    guard check == ["ok"] else {
                        throw StateStoreError.corrupt(path: path, detail: check.prefix(3).joined(separator: "; "))
                    }
                }
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.inTransaction {
                    try db.execute(sql: """
                        CREATE TABLE IF NOT EXISTS agents (
                            agent_id TEXT PRIMARY KEY,
                            spec TEXT NOT NULL,
                            owner TEXT,
                            desired TEXT NOT NULL CHECK (desired IN ('running', 'stopped')),
                            outcome TEXT,
                            port INTEGER,
                            run INTEGER NOT NULL DEFAULT 0,
                            restart_count INTEGER NOT NULL DEFAULT 0,
                            consecutive_restarts INTEGER NOT NULL DEFAULT 0,
                            last_exit TEXT,
                            error TEXT,
                            updated_at REAL NOT NULL
                        );
                        PRAGMA user_version = \(Self.schemaVersion);
                        """)
                    return .commit
                }
            }
        } catch let error as StateStoreError {
            throw error
        } catch {
            throw Self.classify(error, path: path, corruptIfUnreadable: existed)
        }
    }

    /// Every stored agent, by id.
    public func loadAll() throws(StateStoreError) -> [StoredAgent] {
        do {
            return try queue.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY agent_id").map(StoredAgent.init(row:))
            }
        } catch {
            throw Self.classify(error, path: path, corruptIfUnreadable: true)
        }
    }

    /// Inserts or replaces one agent; committed when this returns.
    public func save(_ agent: StoredAgent) throws(StateStoreError) {
        do {
            try queue.write { db in
                try db.execute(
                    sql: """
                        INSERT OR REPLACE INTO agents
                        (agent_id, spec, owner, desired, outcome, port, run, restart_count, consecutive_restarts, last_exit, error, updated_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        agent.agentID, agent.spec, agent.owner, agent.desired.rawValue, agent.outcome?.rawValue, agent.port,
                        agent.run, agent.restartCount, agent.consecutiveRestarts, agent.lastExit, agent.error,
                        Date().timeIntervalSince1970,
                    ]
                )
            }
        } catch {
            throw Self.classify(error, path: path, corruptIfUnreadable: false)
        }
    }

    public func delete(agentID: String) throws(StateStoreError) {
        do {
            try queue.write { db in try db.execute(sql: "DELETE FROM agents WHERE agent_id = ?", arguments: [agentID]) }
        } catch {
            throw Self.classify(error, path: path, corruptIfUnreadable: false)
        }
    }

    // For tests: a "full disk" without a mount, and a file from a newer daemon.
    func limitPages(_ pages: Int) throws {
        try queue.writeWithoutTransaction { db in _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages)") }
    }

    func pageCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0 }
    }

    func setUserVersion(_ version: Int) throws {
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = \(version)") }
    }

    private static func classify(_ error: any Error, path: String, corruptIfUnreadable: Bool) -> StateStoreError {
        if let error = error as? StateStoreError { return error }
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL: return .diskFull(path: path)
            case .SQLITE_NOTADB, .SQLITE_CORRUPT: return .corrupt(path: path, detail: error.message ?? "\(error)")
            default: break
            }
            if corruptIfUnreadable && error.resultCode == .SQLITE_IOERR {
                return .corrupt(path: path, detail: error.message ?? "\(error)")
            }
            return .io(path: path, detail: error.message ?? "\(error)")
        }
        return .io(path: path, detail: "\(error)")
    }
}

/// One agent as stored.
public struct StoredAgent: Sendable, Equatable {
    public enum Desired: String, Sendable { case running, stopped }
    /// How the restart policy ended the agent; nil while it is (or should be) up.
    public enum Outcome: String, Sendable { case failed, crashed, stopped }

    public var agentID: String
    /// `AgentSpec.documentJSON()`: the spawn body that gives the spec back.
    public var spec: String
    /// The config file that declares it; nil when it came through the API.
    public var owner: String?
    public var desired: Desired
    public var outcome: Outcome?
    public var port: Int?
    public var run: Int
    public var restartCount: Int
    public var consecutiveRestarts: Int
    /// JSON `{"code","signal","at","reason","run"}` of the last exit.
    public var lastExit: String?
    public var error: String?

    public init(
        agentID: String, spec: String, owner: String?, desired: Desired, outcome: Outcome? = nil, port: Int? = nil,
        run: Int = 0, restartCount: Int = 0, consecutiveRestarts: Int = 0, lastExit: String? = nil, error: String? = nil
    ) {
        self.agentID = agentID
        self.spec = spec
        self.owner = owner
        self.desired = desired
        self.outcome = outcome
        self.port = port
        self.run = run
        self.restartCount = restartCount
        self.consecutiveRestarts = consecutiveRestarts
        self.lastExit = lastExit
        self.error = error
    }

    /// Every column is checked: a hand-edited or damaged row is an error naming it, never a crash.
    init(row: Row) throws {
        func value<T: DatabaseValueConvertible>(_ column: String, _ type: T.Type) throws -> T {
            guard let value = T.fromDatabaseValue(row[column] as DatabaseValue) else {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "agents.\(column) holds \(row[column] as DatabaseValue)")
            }
            return value
        }
        func optional<T: DatabaseValueConvertible>(_ column: String, _ type: T.Type) throws -> T? {
            let raw = row[column] as DatabaseValue
            return raw.isNull ? nil : try value(column, type)
        }
        guard let desired = Desired(rawValue: try value("desired", String.self)) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "agents.desired holds \(row["desired"] as DatabaseValue)")
        }
        var outcome: Outcome?
        if let text = try optional("outcome", String.self) {
            guard let known = Outcome(rawValue: text) else {
                throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "agents.outcome holds \(text.debugDescription)")
            }
            outcome = known
        }
        self.init(
            agentID: try value("agent_id", String.self), spec: try value("spec", String.self), owner: try optional("owner", String.self),
            desired: desired, outcome: outcome, port: try optional("port", Int.self), run: try value("run", Int.self),
            restartCount: try value("restart_count", Int.self), consecutiveRestarts: try value("consecutive_restarts", Int.self),
            lastExit: try optional("last_exit", String.self), error: try optional("error", String.self)
        )
    }
}

/// Why desired state could not be read or written. The daemon refuses to start on the
/// first three rather than silently starting empty.
public enum StateStoreError: Error, Sendable, CustomStringConvertible {
    case corrupt(path: String, detail: String)
    case newerVersion(path: String, found: Int, supported: Int)
    case diskFull(path: String)
    case io(path: String, detail: String)

    public var description: String {
        switch self {
        case .corrupt(let path, let detail):
            "the state database \(path) is damaged (\(detail)); move it aside to start with no agents, or restore it from a backup"
        case .newerVersion(let path, let found, let supported):
            "the state database \(path) has schema version \(found), newer than this daemon understands (\(supported)); run the newer par binary, or move the file aside"
        case .diskFull(let path):
            "no space left to write the state database \(path); free disk space and try again"
        case .io(let path, let detail):
            "cannot use the state database \(path): \(detail)"
        }
    }
}
