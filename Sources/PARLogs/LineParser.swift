import Foundation

/// Parses one printed line into level, message, time and extra fields. Formats, in order:
/// a JSON object; the seed's `[timestamp] [LEVEL] message`; Python logging's default
/// `LEVEL:name:message`; anything else is the whole line at INFO.
public enum LineParser {
    public struct Parsed: Sendable, Equatable {
        public var timestamp: Date?
        public var level: LogLevel
        public var message: String
        public var extra: [String: JSONValue]
    }

    public static func parse(_ line: String) -> Parsed {
        if line.first == "{", let parsed = parseJSON(line) { return parsed }
        if line.first == "[", let parsed = parseBracketed(line) { return parsed }
        if let parsed = parsePythonLogging(line) { return parsed }
        return Parsed(timestamp: nil, level: .info, message: line, extra: [:])
    }

    static func parseJSON(_ line: String) -> Parsed? {
        guard let data = line.data(using: .utf8),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return nil }
        var extra: [String: JSONValue] = [:]
        var timestamp: Date?
        var level: LogLevel = .info
        var message: String?
        for (key, value) in object {
            switch key {
            case "timestamp", "ts", "time", "@timestamp":
                if timestamp == nil, let parsed = parseTime(value) { timestamp = parsed } else { extra[key] = JSONValue(any: value) }
            case "level", "severity", "lvl", "levelname":
                if let text = value as? String, let parsed = LogLevel(alias: text) { level = parsed } else { extra[key] = JSONValue(any: value) }
            case "message", "msg":
                if message == nil { message = (value as? String) ?? "\(value)" } else { extra[key] = JSONValue(any: value) }
            case "extra":
                if let nested = value as? [String: Any] {
                    for (k, v) in nested { extra[k] = JSONValue(any: v) }
                } else {
                    extra[key] = JSONValue(any: value)
                }
            default:
                extra[key] = JSONValue(any: value)
            }
        }
        return Parsed(timestamp: timestamp, level: level, message: message ?? line, extra: extra)
    }

    /// `[2024-01-01T12:00:00] [ERROR] message`
    static func parseBracketed(_ line: String) -> Parsed? {
        guard let firstClose = line.firstIndex(of: "]") else { return nil }
        let stamp = line[line.index(after: line.startIndex)..<firstClose]
        var rest = line[line.index(after: firstClose)...].drop(while: { $0 == " " })
        guard rest.first == "[", let secondClose = rest.firstIndex(of: "]") else { return nil }
        let levelText = rest[rest.index(after: rest.startIndex)..<secondClose]
        guard let level = LogLevel(alias: levelText) else { return nil }
        rest = rest[rest.index(after: secondClose)...].drop(while: { $0 == " " })
        return Parsed(timestamp: parseTime(String(stamp)), level: level, message: String(rest), extra: [:])
    }

    /// `WARNING:root:message`
    static func parsePythonLogging(_ line: String) -> Parsed? {
        guard let colon = line.firstIndex(of: ":"), line.distance(from: line.startIndex, to: colon) <= 8 else { return nil }
        let levelText = line[..<colon]
        guard levelText == levelText.uppercased(), let level = LogLevel(alias: levelText) else { return nil }
        let rest = line[line.index(after: colon)...]
        guard let second = rest.firstIndex(of: ":") else { return nil }
        let logger = rest[..<second]
        return Parsed(timestamp: nil, level: level, message: String(rest[rest.index(after: second)...]), extra: ["logger": .string(String(logger))])
    }

    /// ISO 8601 with or without zone (no zone means UTC), epoch seconds or milliseconds.
    public static func parseTime(_ value: Any) -> Date? {
        if let number = value as? NSNumber {
            let raw = number.doubleValue
            guard raw > 0 else { return nil }
            return Date(timeIntervalSince1970: raw > 1e11 ? raw / 1000 : raw)
        }
        guard let text = value as? String, !text.isEmpty else { return nil }
        if let raw = Double(text) { return parseTime(NSNumber(value: raw)) }
        return ISO8601.parse(text)
    }
}

/// ISO 8601 parsing and formatting that tolerates what programs actually print.
public enum ISO8601 {
    public static func parse(_ text: String) -> Date? {
        var normalized = text.replacingOccurrences(of: " ", with: "T")
        let hasZone = normalized.hasSuffix("Z") || normalized.dropFirst(10).contains("+") || normalized.dropFirst(10).contains("-")
        if !hasZone { normalized += "Z" }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: normalized) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: normalized)
    }

    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
