import Foundation
import PARLogs
import Testing

/// 2024-01-01T12:00:00Z
let noonNewYear2024 = Date(timeIntervalSince1970: 1_704_110_400)

@Suite("LineParser: JSON lines")
struct LineParserJSONTests {
    @Test func readsTimestampLevelAndMessage() {
        let parsed = LineParser.parse(#"{"timestamp": "2024-01-01T12:00:00Z", "level": "error", "message": "disk full"}"#)
        #expect(parsed.timestamp == noonNewYear2024)
        #expect(parsed.level == .error)
        #expect(parsed.message == "disk full")
        #expect(parsed.extra.isEmpty)
    }

    @Test(arguments: ["timestamp", "ts", "time"])
    func acceptsEachTimestampKey(key: String) {
        let parsed = LineParser.parse(#"{"\#(key)": "2024-01-01T12:00:00Z", "message": "m"}"#)
        #expect(parsed.timestamp == noonNewYear2024)
        #expect(parsed.extra[key] == nil)
    }

    @Test(arguments: ["level", "severity", "lvl"])
    func acceptsEachLevelKey(key: String) {
        let parsed = LineParser.parse(#"{"\#(key)": "WARNING", "message": "m"}"#)
        #expect(parsed.level == .warning)
        #expect(parsed.extra[key] == nil)
    }

    @Test(arguments: ["message", "msg"])
    func acceptsEachMessageKey(key: String) {
        #expect(LineParser.parse(#"{"\#(key)": "hello"}"#).message == "hello")
    }

    @Test func otherKeysGoToExtraWithTheirJSONTypes() {
        let parsed = LineParser.parse(#"{"msg": "m", "user": "u1", "count": 3, "ok": true, "tags": ["a"], "ctx": {"k": null}}"#)
        #expect(parsed.extra == [
            "user": .string("u1"),
            "count": .number(3),
            "ok": .bool(true),
            "tags": .array([.string("a")]),
            "ctx": .object(["k": .null]),
        ])
    }

    @Test func aNestedExtraObjectIsFlattenedIntoExtra() {
        let parsed = LineParser.parse(#"{"msg": "m", "extra": {"request_id": "r1", "ms": 12}}"#)
        #expect(parsed.extra == ["request_id": .string("r1"), "ms": .number(12)])
    }

    @Test func epochSecondsAreATimestamp() {
        #expect(LineParser.parse(#"{"ts": 1704110400, "msg": "m"}"#).timestamp == noonNewYear2024)
    }

    @Test func epochMillisecondsAreATimestamp() {
        #expect(LineParser.parse(#"{"ts": 1704110400000, "msg": "m"}"#).timestamp == noonNewYear2024)
    }

    @Test func fractionalEpochSecondsKeepTheFraction() throws {
        let timestamp = try #require(LineParser.parse(#"{"ts": 1704110400.25, "msg": "m"}"#).timestamp)
        #expect(abs(timestamp.timeIntervalSince1970 - 1_704_110_400.25) < 0.001)
    }

    @Test func anUnknownLevelIsInfoAndKeptInExtra() {
        let parsed = LineParser.parse(#"{"level": "loud", "msg": "m"}"#)
        #expect(parsed.level == .info)
        #expect(parsed.extra["level"] == .string("loud"))
    }

    @Test func anUnparseableTimestampIsNoTimestampAndKeptInExtra() {
        let parsed = LineParser.parse(#"{"time": "yesterday", "msg": "m"}"#)
        #expect(parsed.timestamp == nil)
        #expect(parsed.extra["time"] == .string("yesterday"))
    }

    @Test func withoutAMessageKeyTheWholeLineIsTheMessage() {
        let line = #"{"event": "started"}"#
        #expect(LineParser.parse(line).message == line)
    }

    @Test func aLineThatOnlyLooksLikeJSONIsPlainText() {
        let line = "{not json at all"
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
    }

    @Test func aJSONArrayIsPlainText() {
        let parsed = LineParser.parse("[1, 2, 3]")
        #expect(parsed.message == "[1, 2, 3]")
        #expect(parsed.level == .info)
    }
}

@Suite("LineParser: text lines")
struct LineParserTextTests {
    @Test func bracketedTimestampAndLevel() {
        let parsed = LineParser.parse("[2024-01-01T12:00:00] [ERROR] database unreachable")
        #expect(parsed.timestamp == noonNewYear2024)
        #expect(parsed.level == .error)
        #expect(parsed.message == "database unreachable")
    }

    @Test func bracketedWithAnUnknownLevelIsPlainText() {
        let line = "[2024-01-01T12:00:00] [BANANA] x"
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
    }

    @Test func pythonLoggingDefaultFormat() {
        let parsed = LineParser.parse("WARNING:root:low memory: 10 MB left")
        #expect(parsed.level == .warning)
        #expect(parsed.message == "low memory: 10 MB left")
        #expect(parsed.extra["logger"] == .string("root"))
        #expect(parsed.timestamp == nil)
    }

    @Test(arguments: [("DEBUG", LogLevel.debug), ("INFO", .info), ("ERROR", .error), ("CRITICAL", .critical)])
    func pythonLoggingLevels(name: String, level: LogLevel) {
        #expect(LineParser.parse("\(name):app.worker:message").level == level)
    }

    @Test func aLowercaseWordBeforeAColonIsNotALevel() {
        let line = "error:something happened:here"
        #expect(LineParser.parse(line).message == line)
    }

    @Test(arguments: ["hello world", "GET /health 200", "http://example.com/a:b", "12:30:45 tick", ""])
    func plainTextIsTheWholeLineAtInfo(line: String) {
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.timestamp == nil)
        #expect(parsed.extra.isEmpty)
    }
}

@Suite("Timestamps.parse")
struct ParseTimeTests {
    @Test func isoWithZ() {
        #expect(parseTime("2024-01-01T12:00:00Z") == noonNewYear2024)
    }

    @Test func isoWithoutZoneIsUTC() {
        #expect(parseTime("2024-01-01T12:00:00") == noonNewYear2024)
    }

    @Test func isoWithAPositiveOffset() {
        #expect(parseTime("2024-01-01T14:00:00+02:00") == noonNewYear2024)
    }

    @Test func isoWithANegativeOffset() {
        #expect(parseTime("2024-01-01T07:00:00-05:00") == noonNewYear2024)
    }

    @Test func isoWithFractionalSeconds() throws {
        let date = try #require(parseTime("2024-01-01T12:00:00.500Z"))
        #expect(abs(date.timeIntervalSince(noonNewYear2024) - 0.5) < 0.001)
    }

    @Test func isoWithFractionalSecondsAndNoZone() throws {
        let date = try #require(parseTime("2024-01-01T12:00:00.250"))
        #expect(abs(date.timeIntervalSince(noonNewYear2024) - 0.25) < 0.001)
    }

    @Test func aSpaceInsteadOfTIsAccepted() {
        #expect(parseTime("2024-01-01 12:00:00") == noonNewYear2024)
    }

    @Test func epochSecondsAsText() {
        #expect(parseTime("1704110400") == noonNewYear2024)
    }

    @Test func epochMillisecondsAsANumber() {
        #expect(parseTime(NSNumber(value: 1_704_110_400_000 as Int64)) == noonNewYear2024)
    }

    @Test(arguments: ["", "soon", "2024-13-45T99:00:00Z", "0", "-5"])
    func nonsenseIsNil(text: String) {
        #expect(parseTime(text) == nil)
    }
}

@Suite("LogLevel")
struct LogLevelTests {
    @Test func levelsAreOrderedBySeverity() {
        #expect(LogLevel.debug < .info)
        #expect(LogLevel.info < .warning)
        #expect(LogLevel.warning < .error)
        #expect(LogLevel.error < .critical)
        #expect(LogLevel.allCases.shuffled().sorted() == [.debug, .info, .warning, .error, .critical])
    }

    @Test(arguments: [
        ("warn", LogLevel.warning), ("err", .error), ("fatal", .critical), ("crit", .critical), ("trace", .debug),
        ("WARN", .warning), ("Error", .error), ("information", .info), ("panic", .critical), ("debug", .debug),
    ])
    func aliasesMapOntoTheFiveLevels(alias: String, level: LogLevel) {
        #expect(LogLevel(alias: alias) == level)
    }

    @Test(arguments: ["", "loud", "warnings", "e"])
    func anUnknownAliasIsNil(alias: String) {
        #expect(LogLevel(alias: alias) == nil)
    }

    @Test(arguments: [("warn", LogLevel.warning), ("err", .error), ("fatal", .critical), ("crit", .critical), ("trace", .debug)])
    func aliasesAreUnderstoodInJSONLines(alias: String, level: LogLevel) {
        #expect(LineParser.parse(#"{"level": "\#(alias)", "msg": "m"}"#).level == level)
    }

    @Test func rawValuesAreUppercaseNames() {
        #expect(LogLevel.allCases.map(\.rawValue) == ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    }
}

/// What the store does with a timestamp field: microseconds, shown as a Date.
func parseTime(_ value: Any) -> Date? {
    Timestamps.parse(any: value).map { Date(timeIntervalSince1970: Double($0) / 1_000_000) }
}
