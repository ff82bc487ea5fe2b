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

/// Where a line came from: an agent's stdout or stderr, the supervisor's own events, or
/// the output of installing the agent's dependencies.
public enum LogStream: String, Sendable, CaseIterable {
    case stdout
    case stderr
    case supervisor
    case install

    var code: UInt8 {
        switch self {
        case .stdout: 0
        case .stderr: 1
        case .supervisor: 2
        case .install: 3
        }
    }

    init(code: UInt8) {
        switch code {
        case 0: self = .stdout
        case 1: self = .stderr
        case 3: self = .install
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
        JSONText.decode(members: String(extraJSON.dropFirst().dropLast()))
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
        var json = JSONWriter(capacity: 64)
        json.value(self)
        return json.text
    }
}

extension JSONWriter {
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .string(let s): string(s)
        case .number(let n): double(n)
        case .bool(let b): bool(b)
        case .null: null()
        case .array(let items):
            beginArray()
            for item in items { self.value(item) }
            endArray()
        case .object(let members):
            beginObject()
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                key(name)
                self.value(member)
            }
            endObject()
        }
    }
}

/// JSON text for extra fields kept as object members without braces (see
/// `LogEntry.extraMembers`), written with the daemon's one `JSONWriter`.
public enum JSONText {
    /// `s` as a JSON string literal.
    public static func quoted(_ s: String) -> String {
        var json = JSONWriter(capacity: s.utf8.count + 2)
        json.string(s)
        return json.text
    }

    /// Object members without braces, keys sorted.
    public static func members(_ members: [String: JSONValue]) -> String {
        guard !members.isEmpty else { return "" }
        let object = JSONValue.object(members).jsonText
        return String(object.dropFirst().dropLast())
    }

    /// The members decoded; empty if `members` is empty or not valid.
    public static func decode(members: String) -> [String: JSONValue] {
        guard !members.isEmpty,
              let object = try? JSONSerialization.jsonObject(with: Data("{\(members)}".utf8)) as? [String: Any] else { return [:] }
        return object.mapValues(JSONValue.init(any:))
    }
}
