import Foundation
import PARCore

/// Normalised severity. Aliases (warn, err, fatal, …) map onto these five.
public enum LogLevel: String, Sendable, Codable, CaseIterable, Comparable {
    case debug = "DEBUG"
    case info = "INFO"
    case warning = "WARNING"
    case error = "ERROR"
    case critical = "CRITICAL"

    public init?(alias: some StringProtocol) {
        switch alias.lowercased() {
        case "debug", "trace", "dbg", "verbose": self = .debug
        case "info", "information", "notice", "inf": self = .info
        case "warning", "warn", "wrn": self = .warning
        case "error", "err", "eror": self = .error
        case "critical", "crit", "fatal", "panic", "emerg", "emergency", "alert": self = .critical
        default: return nil
        }
    }

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}

/// One stored log line, in the seed's shape plus a sequence id and the run number.
public struct LogEntry: Sendable, Equatable {
    public var sequence: UInt64
    public var processID: String
    public var timestamp: Date
    public var level: LogLevel
    public var message: String
    /// `stream`, `run`, `truncated`, and whatever other keys a JSON line carried.
    public var extra: [String: JSONValue]

    public init(sequence: UInt64, processID: String, timestamp: Date, level: LogLevel, message: String, extra: [String: JSONValue]) {
        self.sequence = sequence
        self.processID = processID
        self.timestamp = timestamp
        self.level = level
        self.message = message
        self.extra = extra
    }
}

/// A JSON value kept as it came, for `extra`.
public enum JSONValue: Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    public init(any value: Any) {
        switch value {
        case let s as String: self = .string(s)
        case let n as NSNumber:
            self = n.isJSONBoolean ? .bool(n.boolValue) : .number(n.doubleValue)
        case let a as [Any]: self = .array(a.map(JSONValue.init(any:)))
        case let o as [String: Any]: self = .object(o.mapValues(JSONValue.init(any:)))
        default: self = .null
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
