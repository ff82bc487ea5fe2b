import Foundation
import PARLogs
import Testing

/// Microseconds since 1970 for a UTC wall-clock time, computed by Foundation's calendar
/// (the independent reference the hand-written parser is checked against).
private func utcMicros(
    _ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0,
    micros: Int64 = 0, offsetSeconds: Int = 0
) -> Int64 {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    let date = calendar.date(from: components)!
    let seconds = Int64(date.timeIntervalSince1970.rounded())
    return (seconds - Int64(offsetSeconds)) * 1_000_000 + micros
}

/// 2024-01-01T12:00:00Z, as a known constant.
private let noon2024Micros: Int64 = 1_704_110_400_000_000

@Suite("Timestamps: ISO 8601")
struct TimestampsISOTests {
    @Test func referenceHelperAgreesWithTheKnownConstant() {
        #expect(utcMicros(2024, 1, 1, 12) == noon2024Micros)
    }

    @Test func upperCaseZ() {
        #expect(Timestamps.parse("2024-01-01T12:00:00Z") == noon2024Micros)
    }

    @Test func lowerCaseZAndLowerCaseT() {
        #expect(Timestamps.parse("2024-01-01T12:00:00z") == noon2024Micros)
        #expect(Timestamps.parse("2024-01-01t12:00:00z") == noon2024Micros)
    }

    @Test func noZoneIsUTC() {
        #expect(Timestamps.parse("2024-01-01T12:00:00") == noon2024Micros)
        #expect(Timestamps.parse("2024-07-15T03:04:05") == utcMicros(2024, 7, 15, 3, 4, 5))
    }

    @Test func spaceSeparator() {
        #expect(Timestamps.parse("2024-01-01 12:00:00") == noon2024Micros)
        #expect(Timestamps.parse("2024-01-01 12:00:00.5Z") == noon2024Micros + 500_000)
    }

    @Test(arguments: [
        ("2024-01-01T14:00:00+02:00", 2 * 3600),
        ("2024-01-01T14:00:00+0200", 2 * 3600),
        ("2024-01-01T14:00:00+02", 2 * 3600),
        ("2024-01-01T06:30:00-05:30", -(5 * 3600 + 30 * 60)),
        ("2024-01-01T06:30:00-0530", -(5 * 3600 + 30 * 60)),
        ("2024-01-01T07:00:00-05", -5 * 3600),
        ("2024-01-01T12:00:00+00:00", 0),
        ("2024-01-01T12:00:00-00:00", 0),
        ("2024-01-01T17:45:00+05:45", 5 * 3600 + 45 * 60),
    ])
    func offsetsAreAppliedToReachTheSameInstant(text: String, offsetSeconds: Int) throws {
        let micros = try #require(Timestamps.parse(text))
        #expect(micros == noon2024Micros, "\(text)")
        // The wall clock of the text, minus the offset, is the instant.
        let wall = try #require(Timestamps.parse(String(text.prefix(19))))
        #expect(wall - Int64(offsetSeconds) * 1_000_000 == micros)
    }

    @Test func offsetAcrossMidnightChangesTheDay() {
        // 00:30 at +02:00 is 22:30 UTC on the day before, across a year boundary.
        #expect(Timestamps.parse("2024-01-01T00:30:00+02:00") == utcMicros(2023, 12, 31, 22, 30))
        #expect(Timestamps.parse("2023-12-31T20:00:00-05:00") == utcMicros(2024, 1, 1, 1))
    }

    @Test(arguments: [
        (".1", Int64(100_000)),
        (".12", 120_000),
        (".123", 123_000),
        (".1234", 123_400),
        (".12345", 123_450),
        (".123456", 123_456),
        (".1234567", 123_456),
        (".12345678", 123_456),
        (".123456789", 123_456),
        (".000001", 1),
        (".999999", 999_999),
        (".9999999", 999_999),
        (".0", 0),
        (",5", 500_000),
        (",123456", 123_456),
    ])
    func fractionDigitsAreKeptToTheMicrosecond(fraction: String, micros: Int64) {
        #expect(Timestamps.parse("2024-01-01T12:00:00\(fraction)Z") == noon2024Micros + micros)
        #expect(Timestamps.parse("2024-01-01T12:00:00\(fraction)") == noon2024Micros + micros)
        #expect(Timestamps.parse("2024-01-01T14:00:00\(fraction)+02:00") == noon2024Micros + micros)
    }

    @Test func fractionAgreesWithFoundationsDateArithmetic() throws {
        let micros = try #require(Timestamps.parse("2024-03-15T08:09:10.654321Z"))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let base = try #require(calendar.date(from: DateComponents(year: 2024, month: 3, day: 15, hour: 8, minute: 9, second: 10)))
        #expect(micros == Timestamps.micros(base) + 654_321)
        #expect(abs(Timestamps.date(micros: micros).timeIntervalSince(base) - 0.654321) < 1e-6)
    }

    @Test func leapDay() throws {
        let leapDay = try #require(Timestamps.parse("2024-02-29T23:59:59Z"))
        #expect(leapDay == utcMicros(2024, 2, 29, 23, 59, 59))
        #expect(Timestamps.parse("2024-03-01T00:00:00Z") == leapDay + 1_000_000)
        // 2000 is a leap year (divisible by 400).
        #expect(Timestamps.parse("2000-02-29T00:00:00Z") == utcMicros(2000, 2, 29))
        #expect(Timestamps.parse("2000-03-01T00:00:00Z") == utcMicros(2000, 2, 29) + 86_400_000_000)
        // 2100 is not: Feb 28 is followed directly by Mar 1.
        #expect(Timestamps.parse("2100-03-01T00:00:00Z") == utcMicros(2100, 2, 28) + 86_400_000_000)
    }

    @Test func theEpochItselfIsZeroNotNil() {
        #expect(Timestamps.parse("1970-01-01T00:00:00Z") == 0)
        #expect(Timestamps.parse("1970-01-01T00:00:00") == 0)
        #expect(Timestamps.parse("1970-01-01T00:00:00.000001Z") == 1)
        #expect(Timestamps.parse("1970-01-01T01:00:00+01:00") == 0)
    }

    @Test func beforeTheEpochIsNegative() {
        #expect(Timestamps.parse("1969-12-31T23:59:59Z") == -1_000_000)
        #expect(Timestamps.parse("1970-01-01T00:00:00+01:00") == -3_600_000_000)
        #expect(Timestamps.parse("1900-01-01T00:00:00Z") == utcMicros(1900, 1, 1))
    }

    @Test(arguments: [
        (1970, 1, 1), (1999, 12, 31), (2000, 1, 1), (2016, 12, 31), (2023, 2, 28), (2024, 2, 28),
        (2024, 2, 29), (2024, 12, 31), (2038, 1, 19), (2099, 12, 31), (2400, 2, 29),
    ])
    func manyDatesAgreeWithFoundation(year: Int, month: Int, day: Int) {
        let text = String(format: "%04d-%02d-%02dT23:59:58Z", year, month, day)
        #expect(Timestamps.parse(text) == utcMicros(year, month, day, 23, 59, 58), "\(text)")
    }

    @Test func aLeapSecondIsAccepted() {
        // Second 60 is allowed (and lands on the next minute's first second).
        #expect(Timestamps.parse("2016-12-31T23:59:60Z") == utcMicros(2017, 1, 1))
    }
}

@Suite("Timestamps: epoch values")
struct TimestampsEpochTests {
    @Test func epochSecondsAsText() {
        #expect(Timestamps.parse("1704110400") == noon2024Micros)
        #expect(Timestamps.parse("1") == 1_000_000)
    }

    @Test func epochMillisecondsAsText() {
        #expect(Timestamps.parse("1704110400123") == noon2024Micros + 123_000)
    }

    @Test func fractionalEpochSecondsAsText() {
        #expect(Timestamps.parse("1704110400.25") == noon2024Micros + 250_000)
        #expect(Timestamps.parse("1704110400.5") == noon2024Micros + 500_000)
    }

    @Test func epochSecondsAsNSNumber() {
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400 as Int64)) == noon2024Micros)
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400 as Int)) == noon2024Micros)
    }

    @Test func epochMillisecondsAsNSNumber() {
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400_000 as Int64)) == noon2024Micros)
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400_250 as Int64)) == noon2024Micros + 250_000)
    }

    @Test func fractionalEpochSecondsAsNSNumber() {
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400.25)) == noon2024Micros + 250_000)
        #expect(Timestamps.parse(any: NSNumber(value: 1_704_110_400.5)) == noon2024Micros + 500_000)
    }

    @Test func numbersFromJSONSerialization() throws {
        let values = try #require(try JSONSerialization.jsonObject(with: Data("[1704110400, 1704110400000, 1704110400.25]".utf8)) as? [Any])
        #expect(values.map { Timestamps.parse(any: $0) } == [noon2024Micros, noon2024Micros, noon2024Micros + 250_000])
    }

    @Test func theSecondsToMillisecondsSwitchIsAt1e11() {
        // Up to 1e11 the figure is seconds (year 5138); above it, milliseconds.
        #expect(Timestamps.parse("99999999999") == 99_999_999_999_000_000)
        #expect(Timestamps.parse("100000000001") == 100_000_000_001_000)
    }

    @Test func aJSONBooleanIsNotATimestamp() throws {
        let values = try #require(try JSONSerialization.jsonObject(with: Data("[true, false]".utf8)) as? [Any])
        for value in values {
            #expect(Timestamps.parse(any: value) == nil)
        }
        #expect(Timestamps.parse(any: NSNumber(value: true)) == nil)
        #expect(Timestamps.parse(any: true) == nil)
    }

    @Test func stringsGoThroughTheTextParser() {
        #expect(Timestamps.parse(any: "2024-01-01T12:00:00Z") == noon2024Micros)
        #expect(Timestamps.parse(any: "1704110400") == noon2024Micros)
        #expect(Timestamps.parse(any: "nope") == nil)
    }

    @Test func otherValuesAreNil() {
        #expect(Timestamps.parse(any: NSNull()) == nil)
        #expect(Timestamps.parse(any: [1_704_110_400]) == nil)
        #expect(Timestamps.parse(any: ["ts": 1_704_110_400]) == nil)
    }

    @Test(arguments: [0.0, -1.0, -1_704_110_400.0, Double.nan, Double.infinity, 1e17])
    func zeroNegativeNonFiniteOrHugeNumbersAreNil(value: Double) {
        #expect(Timestamps.parse(any: NSNumber(value: value)) == nil)
    }

    @Test func microsAndDateRoundTrip() {
        for micros: Int64 in [0, 1, -1, noon2024Micros, noon2024Micros + 123_456, -86_400_000_000] {
            #expect(Timestamps.micros(Timestamps.date(micros: micros)) == micros)
        }
        #expect(Timestamps.micros(Date(timeIntervalSince1970: 1_704_110_400)) == noon2024Micros)
    }
}

@Suite("Timestamps: rejected text")
struct TimestampsRejectTests {
    @Test(arguments: [
        "", " ", "soon", "yesterday", "now",
        // Out-of-range fields.
        "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-01-32T00:00:00Z", "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z", "2024-01-01T12:60:00Z", "2024-01-01T12:00:61Z", "2024-13-45T99:00:00Z",
        // Wrong shape.
        "2024-01-01", "2024-01-01T12:00", "2024/01/01T12:00:00Z", "2024-01-01X12:00:00Z", "2024-1-01T12:00:00Z",
        "24-01-01T12:00:00Z", "2024-01-01T12-00-00Z", "2024-01-01T1a:00:00Z", "abcd-01-01T12:00:00Z",
        // Trailing junk and malformed fractions or zones.
        "2024-01-01T12:00:00Zjunk", "2024-01-01T12:00:00 ", "2024-01-01T12:00:00.", "2024-01-01T12:00:00.Z",
        "2024-01-01T12:00:00.5x", "2024-01-01T12:00:00+2", "2024-01-01T12:00:00+", "2024-01-01T12:00:00 UTC",
        "2024-01-01T12:00:00ZZ", "2024-01-01T12:00:00+02:00:00", "2024-01-01T12:00:00+02:0", " 2024-01-01T12:00:00Z",
        // Epoch-like text that is not a plain number.
        "0", "-5", "+5", "1e9", "1.2.3", "1704110400abc", "1704110400 ", "0x10", ".",
        "1234567890123456789012345",
    ])
    func isNil(text: String) {
        #expect(Timestamps.parse(text) == nil, "\(text.debugDescription)")
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T00:00:00Z", "2100-02-29T00:00:00Z"])
    func impossibleCalendarDatesAreNil(text: String) {
        #expect(Timestamps.parse(text) == nil, "\(text)")
    }

    @Test(arguments: ["2024-01-01T12:00:00+99:99", "2024-01-01T12:00:00+02:60", "2024-01-01T12:00:00+02:"])
    func malformedOffsetsAreNil(text: String) {
        #expect(Timestamps.parse(text) == nil, "\(text)")
    }
}
