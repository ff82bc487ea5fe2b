import Foundation

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
public enum JSONValue: Sendable, Equatable, Codable {
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
            #if canImport(Darwin)
            let isBool = CFGetTypeID(n) == CFBooleanGetTypeID()
            #else
            let isBool = n.objCType.pointee == 0x63
            #endif
            self = isBool ? .bool(n.boolValue) : .number(n.doubleValue)
        case let a as [Any]: self = .array(a.map(JSONValue.init(any:)))
        case let o as [String: Any]: self = .object(o.mapValues(JSONValue.init(any:)))
        default: self = .null
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .number(let n):
            if n.rounded() == n, abs(n) < 9e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .bool(let b): try container.encode(b)
        case .null: try container.encodeNil()
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let b = try? container.decode(Bool.self) { self = .bool(b) }
        else if let n = try? container.decode(Double.self) { self = .number(n) }
        else if let s = try? container.decode(String.self) { self = .string(s) }
        else if let a = try? container.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
