import Foundation
import PARLogs
import Testing

private let baseMicros: Int64 = 1_704_110_400_000_000

private func line(
    process: String = "web", level: LogLevel = .info, message: String = "hello", stream: LogStream = .stdout,
    micros: Int64 = baseMicros, extra: String = "", sequence: UInt64 = 1
) -> LogEntry {
    LogEntry(sequence: sequence, processID: process, timestamp: Timestamps.date(micros: micros), level: level, message: message,
             stream: stream, run: 1, extraMembers: extra)
}

@Suite("TextSearch")
struct TextSearchTests {
    @Test(arguments: ["", " ", "!!!", "--- ... ---", "\"*\"", "  \t\n", "()[]{}", "=:/"])
    func noLettersOrDigitsIsNil(query: String) {
        #expect(TextSearch(query) == nil)
    }

    @Test(arguments: [
        ("Timeout", ["timeout"]),
        ("time out", ["time", "out"]),
        ("Time-Out", ["time", "out"]),
        ("user=U5", ["user", "u5"]),
        ("  a.b,c;d  ", ["a", "b", "c", "d"]),
        ("\"quoted\" words*", ["quoted", "words"]),
        ("snake_case", ["snake", "case"]),
        ("GRÖSSE überschritten", ["grösse", "überschritten"]),
        ("日本 テスト", ["日本", "テスト"]),
        ("404", ["404"]),
        ("x", ["x"]),
    ])
    func termsAreLowercasedAndSplitOnPunctuation(query: String, terms: [String]) throws {
        #expect(try #require(TextSearch(query)).terms == terms)
    }

    @Test(arguments: [
        // (query, text, matches)
        ("time", "Timeout waiting for db", true),
        ("TIME", "timeout waiting for db", true),
        ("timeout", "Timeout waiting for db", true),
        ("imeout", "Timeout waiting for db", false),
        ("wait", "Timeout waiting for db", true),
        ("aiting", "Timeout waiting for db", false),
        ("u5", "login user=u5 ok", true),
        ("u5", "login user=xu5 ok", false),
        ("5", "login user=u5 ok", false),
        ("500", "status=500", true),
        ("status", "[status]:500", true),
        ("db", "connect(db)", true),
        ("timeout db", "Timeout waiting for db", true),
        ("timeout redis", "Timeout waiting for db", false),
        ("db timeout", "Timeout waiting for db", true),
        ("time", "overtime then time", true),
        ("time", "overtime only", false),
        ("waiting for", "Timeout waiting for db", true),
        ("timeout waiting for db now", "Timeout waiting for db", false),
        ("über", "Größe Überschritten", true),
        ("berschritten", "Größe Überschritten", false),
        ("日本", "こんにちは 日本", true),
        ("a", "", false),
        ("err", "ERROR: boom", true),
        ("boom", "ERROR: boom", true),
        ("r1", #""request_id":"r1""#, true),
        ("request", #""request_id":"r1""#, true),
        ("id", #""request_id":"r1""#, true),
    ])
    func wordStartPrefixMatching(query: String, text: String, matches: Bool) throws {
        #expect(try #require(TextSearch(query)).matches(text) == matches, "\(query) in \(text)")
    }

    @Test func ftsQueryQuotesEachTermAsAPrefixAndRequiresAll() throws {
        #expect(try #require(TextSearch("Timeout")).ftsQuery == #""timeout"*"#)
        #expect(try #require(TextSearch("time OUT, u5")).ftsQuery == #""time"* AND "out"* AND "u5"*"#)
        #expect(try #require(TextSearch(#"say "hi" AND or"#)).ftsQuery == #""say"* AND "hi"* AND "and"* AND "or"*"#)
    }

    @Test func equalQueriesAreEqual() {
        #expect(TextSearch("Time out") == TextSearch("time-OUT"))
        #expect(TextSearch("time") != TextSearch("timeout"))
    }
}

@Suite("LogFilter")
struct LogFilterTests {
    @Test func anEmptyFilterMatchesEverything() {
        let filter = LogFilter()
        for level in LogLevel.allCases {
            for stream in LogStream.allCases {
                #expect(filter.matches(line(level: level, stream: stream)))
            }
        }
    }

    @Test func processID() {
        let filter = LogFilter(processID: "web")
        #expect(filter.matches(line(process: "web")))
        #expect(!filter.matches(line(process: "worker")))
        #expect(!filter.matches(line(process: "Web")))
        #expect(!filter.matches(line(process: "web2")))
    }

    @Test(arguments: LogLevel.allCases)
    func exactLevel(level: LogLevel) {
        let filter = LogFilter(level: level)
        for candidate in LogLevel.allCases {
            #expect(filter.matches(line(level: candidate)) == (candidate == level))
        }
    }

    @Test(arguments: LogLevel.allCases)
    func minimumLevel(minimum: LogLevel) {
        let filter = LogFilter(minLevel: minimum)
        for candidate in LogLevel.allCases {
            #expect(filter.matches(line(level: candidate)) == (candidate >= minimum))
        }
    }

    @Test func levelAndMinimumLevelTogether() {
        #expect(LogFilter(level: .error, minLevel: .warning).matches(line(level: .error)))
        #expect(!LogFilter(level: .info, minLevel: .warning).matches(line(level: .info)))
    }

    @Test(arguments: LogStream.allCases)
    func stream(stream: LogStream) {
        let filter = LogFilter(stream: stream)
        for candidate in LogStream.allCases {
            #expect(filter.matches(line(stream: candidate)) == (candidate == stream))
        }
    }

    @Test func sinceAndUntilAreInclusive() {
        let since = LogFilter(sinceMicros: baseMicros)
        #expect(since.matches(line(micros: baseMicros)))
        #expect(since.matches(line(micros: baseMicros + 1)))
        #expect(!since.matches(line(micros: baseMicros - 1)))

        let until = LogFilter(untilMicros: baseMicros)
        #expect(until.matches(line(micros: baseMicros)))
        #expect(until.matches(line(micros: baseMicros - 1)))
        #expect(!until.matches(line(micros: baseMicros + 1)))

        let window = LogFilter(sinceMicros: baseMicros, untilMicros: baseMicros + 1_000_000)
        #expect(window.matches(line(micros: baseMicros + 500_000)))
        #expect(window.matches(line(micros: baseMicros + 1_000_000)))
        #expect(!window.matches(line(micros: baseMicros + 1_000_001)))
        #expect(!window.matches(line(micros: baseMicros - 1)))

        #expect(!LogFilter(sinceMicros: baseMicros + 1, untilMicros: baseMicros).matches(line(micros: baseMicros)))
    }

    @Test func textLooksAtTheMessageAndTheExtraMembers() throws {
        let filter = LogFilter(text: TextSearch("u5"))
        #expect(filter.matches(line(message: "login by u5")))
        #expect(filter.matches(line(message: "login", extra: #""user":"u5""#)))
        #expect(!filter.matches(line(message: "login", extra: #""user":"xu5""#)))
        #expect(!filter.matches(line(message: "login by someone")))
        // Both terms required, one in the message and one in extra is enough.
        let both = LogFilter(text: TextSearch("login u5"))
        #expect(both.matches(line(message: "login", extra: #""user":"u5""#)))
        #expect(!both.matches(line(message: "logout", extra: #""user":"u5""#)))
    }

    @Test func textDoesNotLookAtTheProcessLevelOrStream() throws {
        let filter = LogFilter(text: TextSearch("web"))
        #expect(!filter.matches(line(process: "web", message: "hello")))
        #expect(!LogFilter(text: TextSearch("error")).matches(line(level: .error, message: "boom")))
        #expect(!LogFilter(text: TextSearch("stdout")).matches(line(message: "boom", stream: .stdout)))
    }

    @Test func everyConditionMustHold() throws {
        let filter = LogFilter(
            processID: "web", minLevel: .warning, sinceMicros: baseMicros, untilMicros: baseMicros + 10,
            stream: .stderr, text: TextSearch("disk")
        )
        let good = line(process: "web", level: .error, message: "disk full", stream: .stderr, micros: baseMicros + 5)
        #expect(filter.matches(good))
        var bad = good; bad.processID = "db"
        #expect(!filter.matches(bad))
        bad = good; bad.level = .info
        #expect(!filter.matches(bad))
        bad = good; bad.stream = .stdout
        #expect(!filter.matches(bad))
        bad = good; bad.timestamp = Timestamps.date(micros: baseMicros + 11)
        #expect(!filter.matches(bad))
        bad = good; bad.message = "memory full"
        #expect(!filter.matches(bad))
    }

    @Test(arguments: [
        (LogLevel?.none, LogLevel?.none, 0b11111),
        (.debug, nil, 0b00001),
        (.info, nil, 0b00010),
        (.warning, nil, 0b00100),
        (.error, nil, 0b01000),
        (.critical, nil, 0b10000),
        (nil, .debug, 0b11111),
        (nil, .info, 0b11110),
        (nil, .warning, 0b11100),
        (nil, .error, 0b11000),
        (nil, .critical, 0b10000),
        (.error, .warning, 0b01000),
        (.info, .warning, 0),
        (.critical, .critical, 0b10000),
    ] as [(LogLevel?, LogLevel?, Int)])
    func levelMask(level: LogLevel?, minLevel: LogLevel?, mask: Int) {
        #expect(LogFilter(level: level, minLevel: minLevel).levelMask == mask)
    }

    @Test func levelMaskAgreesWithMatches() {
        let levels: [LogLevel?] = [nil] + LogLevel.allCases
        for level in levels {
            for minLevel in levels {
                let filter = LogFilter(level: level, minLevel: minLevel)
                for candidate in LogLevel.allCases {
                    #expect((filter.levelMask & candidate.bit != 0) == filter.matches(line(level: candidate)))
                }
            }
        }
    }

    @Test func streamMask() {
        #expect(LogFilter().streamMask == 0b1111)
        #expect(LogFilter(stream: .stdout).streamMask == 0b001)
        #expect(LogFilter(stream: .stderr).streamMask == 0b010)
        #expect(LogFilter(stream: .supervisor).streamMask == 0b100)
    }

    @Test func levelBitsAndRanks() {
        #expect(LogLevel.allCases.map(\.rank) == [0, 1, 2, 3, 4])
        #expect(LogLevel.allCases.map(\.bit) == [1, 2, 4, 8, 16])
        #expect(LogLevel.allCases.map { LogLevel(rank: $0.rank) } == LogLevel.allCases)
        #expect(LogLevel(rank: 5) == nil)
        #expect(LogLevel(rank: -1) == nil)
    }

    @Test func queryDefaults() {
        let query = LogQuery()
        #expect(query.order == .desc)
        #expect(query.limit == 100)
        #expect(query.cursor == nil)
        #expect(query.filter == LogFilter())
    }
}
