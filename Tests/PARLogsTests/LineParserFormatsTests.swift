import Foundation
import PARLogs
import Testing

/// Every alias the parser knows, with the level it means.
private let allAliases: [(String, LogLevel)] = [
    ("debug", .debug), ("trace", .debug), ("dbg", .debug), ("verbose", .debug),
    ("info", .info), ("information", .info), ("notice", .info), ("inf", .info),
    ("warning", .warning), ("warn", .warning), ("wrn", .warning),
    ("error", .error), ("err", .error), ("eror", .error),
    ("critical", .critical), ("crit", .critical), ("fatal", .critical), ("panic", .critical),
    ("emerg", .critical), ("emergency", .critical), ("alert", .critical),
]

/// The same aliases in lower, upper and capitalised spelling.
private let allAliasSpellings: [(String, LogLevel)] = allAliases.flatMap { alias, level in
    [(alias, level), (alias.uppercased(), level), (alias.prefix(1).uppercased() + alias.dropFirst(), level)]
}

/// 2024-01-01T12:00:00Z in microseconds.
private let noonMicros: Int64 = 1_704_110_400_000_000

@Suite("LineParser: seed format [ts] [LEVEL] message")
struct LineParserSeedFormatTests {
    @Test(arguments: allAliasSpellings)
    func everyAliasIsALevel(alias: String, level: LogLevel) {
        let parsed = LineParser.parse("[2024-01-01T12:00:00Z] [\(alias)] the message")
        #expect(parsed.level == level, "\(alias)")
        #expect(parsed.message == "the message")
        #expect(parsed.timestampMicros == noonMicros)
        #expect(parsed.extraMembers.isEmpty)
    }

    @Test func fractionAndOffsetInTheTimestamp() {
        let parsed = LineParser.parse("[2024-01-01 14:00:00.250+02:00] [WARNING] slow")
        #expect(parsed.timestampMicros == noonMicros + 250_000)
        #expect(parsed.level == .warning)
        #expect(parsed.message == "slow")
    }

    @Test func anUnparseableTimestampStillGivesLevelAndMessage() {
        let parsed = LineParser.parse("[main] [ERROR] worker crashed")
        #expect(parsed.timestampMicros == nil)
        #expect(parsed.timestamp == nil)
        #expect(parsed.level == .error)
        #expect(parsed.message == "worker crashed")
    }

    @Test func epochInsideTheBrackets() {
        #expect(LineParser.parse("[1704110400] [INFO] x").timestampMicros == noonMicros)
    }

    @Test func spacingAroundTheLevelIsFlexible() {
        #expect(LineParser.parse("[2024-01-01T12:00:00][ERROR]tight").message == "tight")
        let spaced = LineParser.parse("[2024-01-01T12:00:00]    [ERROR]     spaced out  ")
        #expect(spaced.level == .error)
        #expect(spaced.message == "spaced out  ")
    }

    @Test func anEmptyMessage() {
        let parsed = LineParser.parse("[2024-01-01T12:00:00] [ERROR]")
        #expect(parsed.level == .error)
        #expect(parsed.message == "")
        let trailing = LineParser.parse("[2024-01-01T12:00:00] [ERROR]   ")
        #expect(trailing.message == "")
    }

    @Test func theMessageKeepsBracketsColonsAndUnicode() {
        let parsed = LineParser.parse("[2024-01-01T12:00:00] [INFO] [sub] key: välue ✓ 日本")
        #expect(parsed.message == "[sub] key: välue ✓ 日本")
    }

    @Test(arguments: [
        "[1, 2, 3]",
        "[2024-01-01T12:00:00] no level here",
        "[2024-01-01T12:00:00] [BANANA] x",
        "[2024-01-01T12:00:00] [] x",
        "[2024-01-01T12:00:00] [ERROR x",
        "[2024-01-01T12:00:00 [ERROR] unterminated first bracket",
        "[unterminated",
        "[",
        "[]",
        "[2024-01-01T12:00:00] [ABCDEFGHIJKLMN] too long to be a level",
        "[2024-01-01T12:00:00] [warn ing] x",
        "[x] ERROR message",
    ])
    func aBracketLineThatIsNotTheSeedFormatStaysPlain(line: String) {
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.timestampMicros == nil)
        #expect(parsed.extraMembers.isEmpty)
    }
}

@Suite("LineParser: Python logging LEVEL:name:message")
struct LineParserPythonFormatTests {
    @Test(arguments: [
        ("DEBUG", LogLevel.debug), ("INFO", .info), ("WARNING", .warning), ("ERROR", .error), ("CRITICAL", .critical),
        ("WARN", .warning), ("FATAL", .critical), ("TRACE", .debug), ("NOTICE", .info), ("EMERGENCY", .critical),
        ("ALERT", .critical), ("ERR", .error), ("CRIT", .critical), ("VERBOSE", .debug), ("PANIC", .critical),
    ])
    func upperCaseLevels(name: String, level: LogLevel) {
        let parsed = LineParser.parse("\(name):app.worker:job 7 done")
        #expect(parsed.level == level, "\(name)")
        #expect(parsed.message == "job 7 done")
        #expect(parsed.extra == ["logger": .string("app.worker")])
        #expect(parsed.extraMembers == #""logger":"app.worker""#)
        #expect(parsed.timestampMicros == nil)
    }

    @Test func theMessageMayContainColons() {
        let parsed = LineParser.parse("ERROR:db:connect: refused: 127.0.0.1:5432")
        #expect(parsed.level == .error)
        #expect(parsed.extra["logger"] == .string("db"))
        #expect(parsed.message == "connect: refused: 127.0.0.1:5432")
    }

    @Test func anEmptyLoggerOrMessage() {
        let emptyLogger = LineParser.parse("INFO::hello")
        #expect(emptyLogger.message == "hello")
        #expect(emptyLogger.extra["logger"] == .string(""))
        let emptyMessage = LineParser.parse("INFO:root:")
        #expect(emptyMessage.message == "")
        #expect(emptyMessage.extra["logger"] == .string("root"))
    }

    @Test func aLoggerNameWithQuotesIsEscaped() {
        let parsed = LineParser.parse(#"INFO:we"ird\name:m"#)
        #expect(parsed.extra["logger"] == .string(#"we"ird\name"#))
        #expect(parsed.extraMembers == #""logger":"we\"ird\\name""#)
    }

    @Test(arguments: [
        "error:root:lower case", "Error:root:capitalised", "warning:root:x", "ERROR without colons",
        "ERROR:only one colon", "HTTP:GET:/index", "GET /health 200", "INFORMATIONAL:root:too long",
        "WARNING root: no colon after level", "A:b:c", "OK:done:fine", "INFO",
    ])
    func otherLinesStartingWithALetterStayPlain(line: String) {
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.extraMembers.isEmpty)
    }
}

@Suite("LineParser: JSON objects")
struct LineParserJSONFormatTests {
    @Test(arguments: ["timestamp", "ts", "time", "@timestamp"])
    func everyTimestampKey(key: String) {
        let parsed = LineParser.parse(#"{"\#(key)": "2024-01-01T12:00:00Z", "msg": "m"}"#)
        #expect(parsed.timestampMicros == noonMicros)
        #expect(parsed.extra[key] == nil)
        #expect(parsed.extraMembers.isEmpty)
    }

    @Test(arguments: ["level", "severity", "lvl", "levelname"])
    func everyLevelKey(key: String) {
        let parsed = LineParser.parse(#"{"\#(key)": "warn", "msg": "m"}"#)
        #expect(parsed.level == .warning)
        #expect(parsed.extra[key] == nil)
    }

    @Test(arguments: allAliasSpellings)
    func everyAliasInJSON(alias: String, level: LogLevel) {
        #expect(LineParser.parse(#"{"level": "\#(alias)", "msg": "m"}"#).level == level, "\(alias)")
    }

    @Test(arguments: ["message", "msg"])
    func everyMessageKey(key: String) {
        let parsed = LineParser.parse(#"{"\#(key)": "hello ✓", "level": "error"}"#)
        #expect(parsed.message == "hello ✓")
        #expect(parsed.extra[key] == nil)
        #expect(parsed.level == .error)
    }

    @Test func epochNumbersAsTimestamps() {
        #expect(LineParser.parse(#"{"ts": 1704110400, "msg": "m"}"#).timestampMicros == noonMicros)
        #expect(LineParser.parse(#"{"ts": 1704110400123, "msg": "m"}"#).timestampMicros == noonMicros + 123_000)
        #expect(LineParser.parse(#"{"time": 1704110400.5, "msg": "m"}"#).timestampMicros == noonMicros + 500_000)
        #expect(LineParser.parse(#"{"ts": "1704110400", "msg": "m"}"#).timestampMicros == noonMicros)
    }

    @Test func aBooleanTimestampIsNoTimestampAndKept() {
        let parsed = LineParser.parse(#"{"ts": true, "msg": "m"}"#)
        #expect(parsed.timestampMicros == nil)
        #expect(parsed.extra["ts"] == .bool(true))
    }

    @Test func otherKeysAreKeptSortedWithTheirTypes() {
        let parsed = LineParser.parse(#"{"msg": "m", "zeta": "z", "alpha": 1, "ok": false, "ratio": 0.5, "none": null, "list": [1, "a"], "obj": {"k": "v"}}"#)
        #expect(parsed.extraMembers == #""alpha":1,"list":[1,"a"],"none":null,"obj":{"k":"v"},"ok":false,"ratio":0.5,"zeta":"z""#)
        #expect(parsed.extra == [
            "zeta": .string("z"), "alpha": .number(1), "ok": .bool(false), "ratio": .number(0.5), "none": .null,
            "list": .array([.number(1), .string("a")]), "obj": .object(["k": .string("v")]),
        ])
    }

    @Test func aNestedExtraObjectIsFlattened() {
        let parsed = LineParser.parse(#"{"msg": "m", "top": 1, "extra": {"request_id": "r1", "ms": 12}}"#)
        #expect(parsed.extra == ["top": .number(1), "request_id": .string("r1"), "ms": .number(12)])
        #expect(parsed.extra["extra"] == nil)
        #expect(parsed.extraMembers == #""ms":12,"request_id":"r1","top":1"#)
    }

    @Test func anExtraThatIsNotAnObjectIsKeptAsIs() {
        #expect(LineParser.parse(#"{"msg": "m", "extra": "text"}"#).extra == ["extra": .string("text")])
        #expect(LineParser.parse(#"{"msg": "m", "extra": [1]}"#).extra == ["extra": .array([.number(1)])])
    }

    @Test(arguments: ["stream", "run", "truncated"])
    func reservedKeysAreRenamed(key: String) {
        let parsed = LineParser.parse(#"{"msg": "m", "\#(key)": "mine"}"#)
        #expect(parsed.extra == ["line_\(key)": .string("mine")])
        #expect(parsed.extraMembers == #""line_\#(key)":"mine""#)
    }

    @Test func reservedKeysInsideANestedExtraAreRenamedToo() {
        let parsed = LineParser.parse(#"{"msg": "m", "extra": {"stream": "s", "run": 3, "truncated": true, "ok": 1}}"#)
        #expect(parsed.extra == ["line_stream": .string("s"), "line_run": .number(3), "line_truncated": .bool(true), "ok": .number(1)])
    }

    @Test func aRenamedKeyDoesNotClashWithTheStoresOwnExtra() {
        let parsed = LineParser.parse(#"{"msg": "m", "stream": "theirs", "run": 9}"#)
        let entry = LogEntry(sequence: 1, processID: "p", timestamp: Date(timeIntervalSince1970: 0), level: parsed.level,
                             message: parsed.message, stream: .stderr, run: 2, extraMembers: parsed.extraMembers)
        #expect(entry.extra == [
            "stream": .string("stderr"), "run": .number(2), "line_stream": .string("theirs"), "line_run": .number(9),
        ])
    }

    @Test func nonStringLevelAndMessageAreKeptInExtra() {
        let line = #"{"level": 3, "message": 42}"#
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.extra == ["level": .number(3), "message": .number(42)])
    }

    @Test func anUnknownLevelStringIsInfoAndKept() {
        let parsed = LineParser.parse(#"{"severity": "LOUD", "msg": "m"}"#)
        #expect(parsed.level == .info)
        #expect(parsed.extra == ["severity": .string("LOUD")])
    }

    @Test func twoMessageKeysKeepOneAsTheMessageAndTheOtherInExtra() {
        let parsed = LineParser.parse(#"{"message": "a", "msg": "b"}"#)
        #expect(["a", "b"].contains(parsed.message))
        let other = parsed.message == "a" ? "msg" : "message"
        #expect(parsed.extra == [other: .string(parsed.message == "a" ? "b" : "a")])
    }

    @Test func twoTimestampKeysKeepOneAndTheOtherInExtra() {
        let parsed = LineParser.parse(#"{"ts": 1704110400, "time": "2024-01-01T12:00:00Z", "msg": "m"}"#)
        #expect(parsed.timestampMicros == noonMicros)
        #expect(parsed.extra.count == 1)
        #expect(parsed.extra["ts"] != nil || parsed.extra["time"] != nil)
    }

    @Test func anEmptyObject() {
        let parsed = LineParser.parse("{}")
        #expect(parsed.message == "{}")
        #expect(parsed.level == .info)
        #expect(parsed.extraMembers.isEmpty)
        #expect(parsed.timestampMicros == nil)
    }

    @Test func stringEscapesInExtraSurviveTheRoundTrip() {
        let parsed = LineParser.parse(#"{"msg": "line\nbreak \"quoted\"", "path": "C:\\dir", "tab": "a\tb", "ctl": "\u0001", "uni": "é✓😀"}"#)
        #expect(parsed.message == "line\nbreak \"quoted\"")
        #expect(parsed.extra == ["path": .string(#"C:\dir"#), "tab": .string("a\tb"), "ctl": .string("\u{1}"), "uni": .string("é✓😀")])
    }

    @Test(arguments: [
        "{not json at all", "{", #"{"msg": "unterminated"#, #"{"msg": "m"} trailing"#, "{'msg': 'single quotes'}",
        "{}}",
        // Not listed: `{"msg": "m",}` - Foundation's JSONSerialization on Linux accepts a trailing comma.
    ])
    func invalidJSONStartingWithABraceStaysPlain(line: String) {
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.extraMembers.isEmpty)
        #expect(parsed.timestampMicros == nil)
    }

    @Test func leadingWhitespaceBeforeTheBraceIsPlainText() {
        let line = #"  {"msg": "m", "level": "error"}"#
        let parsed = LineParser.parse(line)
        #expect(parsed.message == line)
        #expect(parsed.level == .info)
    }
}

@Suite("LineParser: plain text and Parsed.extra")
struct LineParserPlainTests {
    @Test(arguments: [
        "hello world", "", " leading space", "12:30:45 tick", "lower:case:colons", "ünïcödé ✓ 日本語", "-- separator --",
        "\ttabbed", "ERROR", "(parenthesised) [ERROR] x",
    ])
    func plainTextIsInfoWithTheWholeLine(line: String) {
        let parsed = LineParser.parse(line)
        #expect(parsed.level == .info)
        #expect(parsed.message == line)
        #expect(parsed.timestampMicros == nil)
        #expect(parsed.extraMembers.isEmpty)
        #expect(parsed.extra.isEmpty)
    }

    @Test func extraDecodesExtraMembers() {
        let parsed = LineParser.Parsed(message: "m", extraMembers: #""a":1,"b":"x","c":[true,null],"d":{"e":2.5}"#)
        #expect(parsed.extra == [
            "a": .number(1), "b": .string("x"), "c": .array([.bool(true), .null]), "d": .object(["e": .number(2.5)]),
        ])
    }

    @Test func extraOfNothingOrOfBrokenMembersIsEmpty() {
        #expect(LineParser.Parsed(message: "m").extra.isEmpty)
        #expect(LineParser.Parsed(message: "m", extraMembers: "not json").extra.isEmpty)
    }

    @Test func parsedDefaultsAndTimestamp() {
        let parsed = LineParser.Parsed(timestampMicros: noonMicros + 500_000, message: "m")
        #expect(parsed.level == .info)
        #expect(parsed.timestamp == Date(timeIntervalSince1970: 1_704_110_400.5))
    }
}

@Suite("LogEntry.extraJSON and JSONText")
struct LogEntryExtraTests {
    private func entry(stream: LogStream = .stdout, run: Int = 0, truncated: Bool = false, extra: String = "") -> LogEntry {
        LogEntry(sequence: 1, processID: "p", timestamp: Date(timeIntervalSince1970: 0), level: .info, message: "m",
                 stream: stream, run: run, truncated: truncated, extraMembers: extra)
    }

    @Test func streamAlwaysRunWhenPositiveTruncatedWhenSet() {
        #expect(entry().extraJSON == #"{"stream":"stdout"}"#)
        #expect(entry(stream: .stderr, run: 3).extraJSON == #"{"stream":"stderr","run":3}"#)
        #expect(entry(stream: .supervisor, run: 1, truncated: true, extra: #""k":"v""#).extraJSON
            == #"{"stream":"supervisor","run":1,"truncated":true,"k":"v"}"#)
        #expect(entry(truncated: true).extra == ["stream": .string("stdout"), "truncated": .bool(true)])
    }

    @Test func quotedEscapesPerRFC8259() {
        #expect(JSONText.quoted("plain") == #""plain""#)
        #expect(JSONText.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONText.quoted("\n\r\t") == #""\n\r\t""#)
        #expect(JSONText.quoted("\u{1}\u{1f}") == #""\u0001\u001f""#)
        #expect(JSONText.quoted("é✓😀") == "\"é✓😀\"")
    }

    @Test func jsonValueText() {
        #expect(JSONValue.number(12).jsonText == "12")
        #expect(JSONValue.number(-3).jsonText == "-3")
        #expect(JSONValue.number(0.5).jsonText == "0.5")
        #expect(JSONValue.number(.nan).jsonText == "null")
        #expect(JSONValue.object(["b": .null, "a": .bool(true)]).jsonText == #"{"a":true,"b":null}"#)
        #expect(JSONValue.array([.string("x"), .number(1)]).jsonText == #"["x",1]"#)
    }
}
