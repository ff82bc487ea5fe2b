import Foundation
import PARCore

/// Normalised severity. Aliases (warn, err, fatal, …) map onto these five.
public enum LogLevel: String, Sendable, CaseIterable, Comparable {
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

    /// 0...4, lowest severity first; stored in blocks and used as a bit index.
    public var rank: Int {
        switch self {
        case .debug: 0
        case .info: 1
        case .warning: 2
        case .error: 3
        case .critical: 4
        }
    }

    public init?(rank: Int) {
        switch rank {
        case 0: self = .debug
        case 1: self = .info
        case 2: self = .warning
        case 3: self = .error
        case 4: self = .critical
        default: return nil
        }
    }

    /// This level's bit in a block's level mask.
    public var bit: Int { 1 << rank }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rank < rhs.rank }
}

/// Where a line came from: an agent's stdout or stderr, or the supervisor's own events.
public enum LogStream: String, Sendable, CaseIterable {
    case stdout
    case stderr
    case supervisor

    var code: UInt8 {
        switch self {
        case .stdout: 0
        case .stderr: 1
        case .supervisor: 2
        }
    }

    init(code: UInt8) {
        switch code {
        case 0: self = .stdout
        case 1: self = .stderr
        default: self = .supervisor
        }
    }

    var bit: Int { 1 << Int(code) }
}

/// One stored log line, in the seed's shape plus a sequence id, the stream and the run.
public struct LogEntry: Sendable, Equatable {
    /// Increases by one for every line the daemon stores, across all processes.
    public var sequence: UInt64
    public var processID: String
    public var timestamp: Date
    public var level: LogLevel
    public var message: String
    public var stream: LogStream
    /// Which start of the agent printed it (1 for the first, +1 per restart); 0 for none.
    public var run: Int
    /// The line was longer than the maximum and this is one piece of it.
    public var truncated: Bool
    /// The other keys of a JSON line (or an event's fields) as JSON object members
    /// without the braces, e.g. `"user":"u1","ms":12`; empty when there are none. Kept as
    /// text so storing and serving a line never builds a dictionary.
    public var extraMembers: String

    public init(
        sequence: UInt64, processID: String, timestamp: Date, level: LogLevel, message: String,
        stream: LogStream, run: Int, truncated: Bool = false, extraMembers: String = ""
    ) {
        self.sequence = sequence
        self.processID = processID
        self.timestamp = timestamp
        self.level = level
        self.message = message
        self.stream = stream
        self.run = run
        self.truncated = truncated
        self.extraMembers = extraMembers
    }

    /// `extra` as the API shows it: stream, run, truncated and the other keys.
    public var extraJSON: String {
        var text = "{\"stream\":\"\(stream.rawValue)\""
        if run > 0 { text += ",\"run\":\(run)" }
        if truncated { text += ",\"truncated\":true" }
        if !extraMembers.isEmpty { text += "," + extraMembers }
        return text + "}"
    }

    /// `extra` decoded, for callers that want to look inside.
    public var extra: [String: JSONValue] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(extraJSON.utf8)) as? [String: Any] else { return [:] }
        return object.mapValues(JSONValue.init(any:))
    }

    /// The text full-text search looks at: the message and the extra members.
    var searchableText: String { extraMembers.isEmpty ? message : message + " " + extraMembers }
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

    /// Compact JSON text of this value, keys sorted.
    public var jsonText: String {
        switch self {
        case .string(let s): return JSONText.quoted(s)
        case .number(let n):
            if n.isFinite && n == n.rounded() && abs(n) < 1e15 { return String(Int64(n)) }
            return n.isFinite ? "\(n)" : "null"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + JSONText.members(members) + "}"
        }
    }
}

/// JSON text helpers shared by the store (event fields) and the HTTP layer.
public enum JSONText {
    /// `s` as a JSON string literal, escaped per RFC 8259.
    public static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Object members without braces, keys sorted.
    public static func members(_ members: [String: JSONValue]) -> String {
        members.sorted { $0.key < $1.key }.map { quoted($0.key) + ":" + $0.value.jsonText }.joined(separator: ",")
    }
}
