import Foundation

/// Timestamps as programs print them: ISO 8601 with or without a zone (none means UTC),
/// with `T` or a space, any fraction; or epoch seconds or milliseconds. Written by hand
/// because `ISO8601DateFormatter` costs microseconds and allocations per call, and the
/// store parses one per line.
public enum Timestamps {
    /// Microseconds since 1970, or nil when `text` is not a timestamp.
    public static func parse(_ text: String) -> Int64? {
        var copy = text
        return copy.withUTF8 { parse($0) }
    }

    public static func parse(any value: Any) -> Int64? {
        if let number = value as? NSNumber {
            if number.isJSONBoolean { return nil }
            return epoch(number.doubleValue)
        }
        guard let text = value as? String else { return nil }
        return parse(text)
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        if let iso = parseISO(bytes) { return iso }
        // Epoch seconds or milliseconds, optionally with a fraction.
        guard !bytes.isEmpty, bytes.count <= 24, bytes.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }),
              let value = Double(String(decoding: bytes, as: UTF8.self)) else { return nil }
        return epoch(value)
    }

    /// Seconds, or milliseconds when the figure is too large to be seconds (after year 5138).
    static func epoch(_ raw: Double) -> Int64? {
        guard raw.isFinite, raw > 0 else { return nil }
        let seconds = raw > 1e11 ? raw / 1000 : raw
        guard seconds < 1e11 else { return nil }
        return Int64((seconds * 1_000_000).rounded())
    }

    static func parseISO(_ b: UnsafeBufferPointer<UInt8>) -> Int64? {
        // YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z | ±HH:MM | ±HHMM | ±HH]
        guard b.count >= 19, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " ") || b[10] == UInt8(ascii: "t"),
              b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let year = digits(b, 0, 4), let month = digits(b, 5, 2), let day = digits(b, 8, 2),
              let hour = digits(b, 11, 2), let minute = digits(b, 14, 2), let second = digits(b, 17, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if index < b.count, b[index] == UInt8(ascii: ".") || b[index] == UInt8(ascii: ",") {
            index += 1
            var scale: Int64 = 100_000
            let start = index
            while index < b.count, isDigit(b[index]) {
                micros += Int64(b[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offsetSeconds: Int64 = 0
        if index < b.count {
            switch b[index] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign: Int64 = b[index] == UInt8(ascii: "+") ? 1 : -1
                index += 1
                guard let hours = digits(b, index, 2), hours <= 23 else { return nil }
                index += 2
                var minutes = 0
                if index < b.count {
                    if b[index] == UInt8(ascii: ":") { index += 1 }
                    guard let m = digits(b, index, 2), m < 60 else { return nil }
                    minutes = m
                    index += 2
                }
                offsetSeconds = sign * Int64(hours * 3600 + minutes * 60)
            default:
                return nil
            }
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    public static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    public static func date(micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }

    private static func digits(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
        guard start + count <= b.count else { return nil }
        var value = 0
        for index in start..<start + count {
            guard isDigit(b[index]) else { return nil }
            value = value * 10 + Int(b[index] - 48)
        }
        return value
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // The classic days-from-civil computation (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = Int64((month + 9) % 12)
        let doy = (153 * mp + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
