import Foundation

/// Parses one printed line into level, message, time and extra fields. Formats, in order:
/// a JSON object; the seed's `[timestamp] [LEVEL] message`; Python logging's default
/// `LEVEL:name:message`; anything else is the whole line at INFO.
///
/// Runs once per stored line (a million a second at the bar), so the text formats are
/// matched on UTF-8 bytes and timestamps by `Timestamps`, not by Foundation formatters.
public enum LineParser {
    public struct Parsed: Sendable, Equatable {
        /// Microseconds since 1970; nil when the line carried no time.
        public var timestampMicros: Int64?
        public var level: LogLevel
        public var message: String
        /// JSON object members without braces (see `LogEntry.extraMembers`).
        public var extraMembers: String

        public init(timestampMicros: Int64? = nil, level: LogLevel = .info, message: String, extraMembers: String = "") {
            self.timestampMicros = timestampMicros
            self.level = level
            self.message = message
            self.extraMembers = extraMembers
        }

        public var timestamp: Date? { timestampMicros.map { Date(timeIntervalSince1970: Double($0) / 1_000_000) } }

        /// `extraMembers` decoded, for callers that want to look inside.
        public var extra: [String: JSONValue] { JSONText.decode(members: extraMembers) }
    }

    /// Keys of `extra` the store sets itself; a JSON line's own keys of these names are
    /// kept under `line_<name>`.
    static let reservedExtraKeys: Set<String> = ["stream", "run", "truncated"]

    public static func parse(_ line: String) -> Parsed {
        var text = line
        let parsed: Parsed? = text.withUTF8 { bytes in
            guard let first = bytes.first else { return nil }
            switch first {
            case UInt8(ascii: "{"): return parseJSON(bytes, line: line)
            case UInt8(ascii: "["): return parseBracketed(bytes)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return parsePythonLogging(bytes)
            default: return nil
            }
        }
        return parsed ?? Parsed(message: line)
    }

    static func parseJSON(_ bytes: UnsafeBufferPointer<UInt8>, line: String) -> Parsed? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] else { return nil }
        var extra: [String: JSONValue] = [:]
        var timestamp: Int64?
        var level: LogLevel?
        var message: String?
        func keep(_ key: String, _ value: Any) {
            extra[reservedExtraKeys.contains(key) ? "line_\(key)" : key] = JSONValue(any: value)
        }
        for (key, value) in object {
            switch key {
            case "timestamp", "ts", "time", "@timestamp":
                if timestamp == nil, let parsed = Timestamps.parse(any: value) { timestamp = parsed } else { keep(key, value) }
            case "level", "severity", "lvl", "levelname":
                if level == nil, let text = value as? String, let parsed = LogLevel(alias: text) { level = parsed } else { keep(key, value) }
            case "message", "msg":
                if message == nil, let text = value as? String { message = text } else { keep(key, value) }
            case "extra":
                if let nested = value as? [String: Any] {
                    for (k, v) in nested { keep(k, v) }
                } else {
                    keep(key, value)
                }
            default:
                keep(key, value)
            }
        }
        return Parsed(timestampMicros: timestamp, level: level ?? .info, message: message ?? line, extraMembers: JSONText.members(extra))
    }

    /// `[2024-01-01T12:00:00] [ERROR] message`
    static func parseBracketed(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed? {
        guard let firstClose = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
        var cursor = skipSpaces(bytes, from: firstClose + 1)
        guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "[") else { return nil }
        let levelStart = cursor + 1
        guard let levelEnd = bytes[levelStart...].firstIndex(of: UInt8(ascii: "]")), levelEnd - levelStart <= 12,
              let level = level(bytes, levelStart..<levelEnd) else { return nil }
        cursor = skipSpaces(bytes, from: levelEnd + 1)
        let stamp = Timestamps.parse(UnsafeBufferPointer(rebasing: bytes[1..<firstClose]))
        return Parsed(timestampMicros: stamp, level: level, message: string(bytes, cursor..<bytes.count))
    }

    /// `WARNING:root:message`
    static func parsePythonLogging(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed? {
        var colon = 0
        while colon < bytes.count, colon <= 9, bytes[colon] >= UInt8(ascii: "A"), bytes[colon] <= UInt8(ascii: "Z") { colon += 1 }
        guard colon < bytes.count, bytes[colon] == UInt8(ascii: ":"), let level = level(bytes, 0..<colon) else { return nil }
        guard let second = bytes[(colon + 1)...].firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let logger = string(bytes, (colon + 1)..<second)
        return Parsed(level: level, message: string(bytes, (second + 1)..<bytes.count), extraMembers: "\"logger\":" + JSONText.quoted(logger))
    }

    private static func skipSpaces(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }

    private static func string(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Matches a level alias case-insensitively without building a String for the common ones.
    private static func level(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> LogLevel? {
        switch range.count {
        case 4 where matches(bytes, range, "INFO"): return .info
        case 5 where matches(bytes, range, "DEBUG"): return .debug
        case 5 where matches(bytes, range, "ERROR"): return .error
        case 7 where matches(bytes, range, "WARNING"): return .warning
        case 8 where matches(bytes, range, "CRITICAL"): return .critical
        case 1...12: return LogLevel(alias: string(bytes, range))
        default: return nil
        }
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ upper: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: upper.utf8Start, count: upper.utf8CodeUnitCount)
        for (offset, index) in range.enumerated() where bytes[index] & 0xDF != expected[offset] { return false }
        return true
    }
}
