import Foundation
import Synchronization

/// The last lines of every process, in memory. A stand-in store with the query
/// surface the API needs; the durable store replaces it.
public final class LogBuffer: Sendable {
    private struct State {
        var perProcess: [String: [LogEntry]] = [:]
        var nextSequence: UInt64 = 1
    }

    public let capacityPerProcess: Int
    private let state = Mutex(State())

    public init(capacityPerProcess: Int = 1000) {
        self.capacityPerProcess = capacityPerProcess
    }

    /// Parses and appends printed lines of one process.
    public func appendLines(processID: String, stream: String, run: Int, lines: [(text: String, truncated: Bool)], readAt: Date = Date()) {
        let parsed = lines.map { line -> (LineParser.Parsed, Bool) in (LineParser.parse(line.text), line.truncated) }
        state.withLock { state in
            var entries = state.perProcess[processID] ?? []
            for (item, truncated) in parsed {
                var extra = item.extra
                extra["stream"] = .string(stream)
                extra["run"] = .number(Double(run))
                if truncated { extra["truncated"] = .bool(true) }
                entries.append(LogEntry(sequence: state.nextSequence, processID: processID, timestamp: item.timestamp ?? readAt, level: item.level, message: item.message, extra: extra))
                state.nextSequence += 1
            }
            if entries.count > capacityPerProcess { entries.removeFirst(entries.count - capacityPerProcess) }
            state.perProcess[processID] = entries
        }
    }

    /// Records a supervisor event (spawned, exited, restarting, gave up, stopped).
    public func appendEvent(agentID: String, level: LogLevel, message: String, fields: [String: JSONValue] = [:]) {
        state.withLock { state in
            var extra = fields
            extra["agent_id"] = .string(agentID)
            extra["stream"] = .string("supervisor")
            var entries = state.perProcess["supervisor"] ?? []
            entries.append(LogEntry(sequence: state.nextSequence, processID: "supervisor", timestamp: Date(), level: level, message: message, extra: extra))
            state.nextSequence += 1
            if entries.count > capacityPerProcess { entries.removeFirst(entries.count - capacityPerProcess) }
            state.perProcess["supervisor"] = entries
        }
    }

    public struct Query: Sendable {
        public var processID: String?
        public var level: LogLevel?
        public var minLevel: LogLevel?
        public var limit: Int
        public init(processID: String? = nil, level: LogLevel? = nil, minLevel: LogLevel? = nil, limit: Int = 100) {
            self.processID = processID
            self.level = level
            self.minLevel = minLevel
            self.limit = limit
        }
    }

    /// Newest first, as the seed answered.
    public func query(_ query: Query) -> [LogEntry] {
        state.withLock { state in
            let sources = query.processID.map { [state.perProcess[$0] ?? []] } ?? Array(state.perProcess.values)
            var matched: [LogEntry] = []
            for entries in sources {
                for entry in entries.reversed() {
                    if let level = query.level, entry.level != level { continue }
                    if let minimum = query.minLevel, entry.level < minimum { continue }
                    matched.append(entry)
                    if query.processID != nil && matched.count >= query.limit { break }
                }
            }
            matched.sort { $0.sequence > $1.sequence }
            return Array(matched.prefix(query.limit))
        }
    }

    /// Removes the lines of one process, or all; returns how many were removed.
    @discardableResult
    public func clear(processID: String?) -> Int {
        state.withLock { state in
            if let processID {
                return state.perProcess.removeValue(forKey: processID)?.count ?? 0
            }
            let count = state.perProcess.values.reduce(0) { $0 + $1.count }
            state.perProcess.removeAll()
            return count
        }
    }
}
