import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import PARClient
import PARTestKit
import Testing

// End-to-end tests of the durable logs: what a user sees through `/supervisor/logs`,
// its SSE and WebSocket tails, when agents print odd output, crash, or print a lot.

/// One stored line as the API gives it.
private typealias LogLine = [String: Any]

private func message(_ line: LogLine) -> String? { line["message"] as? String }
private func sequence(_ line: LogLine) -> Int? { (line["sequence"] as? NSNumber).map { Int(truncating: $0) } }
private func extra(_ line: LogLine) -> [String: Any] { line["extra"] as? [String: Any] ?? [:] }

private struct LogPage {
    var lines: [LogLine]
    var count: Int?
    var nextCursor: String?
    var answer: HTTPAnswer
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out: \(what)" }
}

extension DaemonHarness {
    /// One page of `GET /supervisor/logs?<query>`.
    fileprivate func logPage(_ query: String) throws -> LogPage {
        let answer = try client().get("/supervisor/logs?\(query)")
        #expect(answer.status == 200, "GET /supervisor/logs?\(query): \(answer.status) \(answer.text.prefix(500))")
        let json = answer.json
        return LogPage(
            lines: json["logs"] as? [LogLine] ?? [],
            count: json["count"] as? Int,
            nextCursor: json["next_cursor"] as? String,
            answer: answer
        )
    }

    /// Every line matching `query`, walking `next_cursor` until it is null.
    fileprivate func allLogs(_ query: String, limit: Int = 10_000) throws -> [LogLine] {
        var lines: [LogLine] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try logPage(query + "&limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
            #expect(page.count == page.lines.count)
            lines += page.lines
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil && pages < 10_000
        return lines
    }

    /// Waits until `process_id` has at least `count` stored lines; returns them (oldest first).
    @discardableResult
    fileprivate func waitForLines(_ processID: String, count: Int, timeout: Double = 30) throws -> [LogLine] {
        var lines: [LogLine] = []
        let reached = try ProcessInspection.eventually(timeout: timeout) {
            lines = try allLogs("process_id=\(processID)&order=asc")
            return lines.count >= count
        }
        #expect(reached, "\(processID) stored \(lines.count) lines, expected \(count); last: \(lines.last.flatMap(message) ?? "none")")
        return lines
    }

    fileprivate func stats() throws -> [String: Any] {
        let answer = try client().get("/supervisor/logs/stats")
        #expect(answer.status == 200, "\(answer.text)")
        return answer.json
    }
}

/// Runs `operation`, failing with `TimedOut` if it takes longer than `seconds`.
func withTimeout<T: Sendable>(_ seconds: Double, _ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(what: what)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A value shared with an escaping closure.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
}

/// Down for good: the agent holds no OS process and no restart is coming (a failure
/// that stays down under `restart_policy: never` is `crashed` without `next_restart_at`).
private func isFinished(_ status: [String: Any]) -> Bool {
    switch state(status) {
    case "stopped", "failed": true
    case "crashed": status["pid"] is NSNull && status["next_restart_at"] is NSNull
    default: false
    }
}

// MARK: - What agents print

@Suite("Logs: what agents print is stored as printed")
struct LogCaptureTests {
    @Test func aCrashRightAfterPrintingKeepsTheLastLine() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: """
        i=1
        while [ $i -le 2000 ]; do echo "line $i"; i=$((i+1)); done
        kill -9 $$
        """))
        let answer = try daemon.spawn("crasher", package: package, ["restart_policy": "never"])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-crasher", timeout: 30) { isFinished($0) }
        #expect((status["last_exit"] as? [String: Any])?["signal"] as? Int == 9, "\(status)")

        let lines = try daemon.allLogs("process_id=par-crasher&order=asc", limit: 300)
        #expect(lines.count == 2000)
        #expect(lines.compactMap(message) == (1...2000).map { "line \($0)" })
        #expect(lines.last.flatMap(message) == "line 2000")
        let sequences = lines.compactMap(sequence)
        #expect(sequences == sequences.sorted() && Set(sequences).count == 2000)
    }

    @Test func aTenMegabyteLineWithoutNewlineIsStoredAsTruncatedPieces() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: #"""
        head -c 10485760 /dev/zero | tr '\0' 'a'
        exit 0
        """#))
        #expect(try daemon.spawn("huge", package: package, ["restart_policy": "never"]).status == 200)
        try daemon.waitFor("par-huge", timeout: 30) { isFinished($0) }

        let lines = try daemon.waitForLines("par-huge", count: 160)
        #expect(lines.count == 160, "10 MiB at 64 KiB a piece is 160 pieces")
        #expect(lines.allSatisfy { extra($0)["truncated"] as? Bool == true }, "every piece is marked truncated")
        #expect(lines.allSatisfy { extra($0)["stream"] as? String == "stdout" })
        let sizes = lines.map { message($0)?.utf8.count ?? -1 }
        #expect(sizes.reduce(0, +) == 10 * 1024 * 1024)
        #expect(sizes.allSatisfy { $0 == 65_536 }, "pieces of \(Set(sizes))")
        #expect(lines.allSatisfy { message($0)?.utf8.allSatisfy { $0 == UInt8(ascii: "a") } == true })
        let sequences = lines.compactMap(sequence)
        #expect(sequences == sequences.sorted() && Set(sequences).count == sequences.count, "in order, no repeats")
    }

    @Test func invalidUTF8IsStoredWithReplacementCharactersAndTheAgentKeepsLogging() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: #"""
        printf 'bad \377\376 bytes\n'
        sleep 0.2
        echo "still logging"
        exec sleep 1000
        """#))
        #expect(try daemon.spawn("utf", package: package).status == 200)
        let lines = try daemon.waitForLines("par-utf", count: 2)
        #expect(lines.compactMap(message) == ["bad \u{FFFD}\u{FFFD} bytes", "still logging"])
        // The raw body is valid UTF-8 JSON carrying U+FFFD (EF BF BD).
        let raw = try daemon.client().get("/supervisor/logs?process_id=par-utf").body
        #expect(String(validating: raw, as: UTF8.self) != nil)
        #expect(raw.count >= 3 && (0...(raw.count - 3)).contains { raw[$0] == 0xEF && raw[$0 + 1] == 0xBF && raw[$0 + 2] == 0xBD })
        #expect(state(try daemon.process("par-utf")) == "running")
    }

    @Test func jsonBracketedPythonAndPlainLinesAreParsed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: #"""
        echo '{"ts":"2024-05-01T12:34:56.789Z","level":"error","msg":"json says hi","user":"u1","ms":12,"extra":{"request":"r-7"}}'
        echo '[2024-05-01 10:00:00] [WARN] bracketed warning'
        echo 'ERROR:app:boom'
        echo 'plain words on stderr' >&2
        exec sleep 1000
        """#))
        #expect(try daemon.spawn("formats", package: package).status == 200)
        let before = Date()
        let lines = try daemon.waitForLines("par-formats", count: 4)
        #expect(lines.count == 4)
        func line(_ text: String) -> LogLine? { lines.first { message($0) == text } }

        let json = try #require(line("json says hi"), "\(lines)")
        #expect(json["level"] as? String == "ERROR")
        #expect(json["timestamp"] as? String == "2024-05-01T12:34:56.789Z")
        #expect(json["process_id"] as? String == "par-formats")
        let jsonExtra = extra(json)
        #expect(jsonExtra["stream"] as? String == "stdout")
        #expect(jsonExtra["run"] as? Int == 1)
        #expect(jsonExtra["user"] as? String == "u1")
        #expect(jsonExtra["ms"] as? Int == 12)
        #expect(jsonExtra["request"] as? String == "r-7", "keys of a nested extra object are lifted")
        #expect(jsonExtra["ts"] == nil && jsonExtra["msg"] == nil && jsonExtra["level"] == nil)

        let bracketed = try #require(line("bracketed warning"), "\(lines)")
        #expect(bracketed["level"] as? String == "WARNING")
        #expect(bracketed["timestamp"] as? String == "2024-05-01T10:00:00.000Z", "a time without zone is UTC")
        #expect(extra(bracketed)["stream"] as? String == "stdout")
        #expect(extra(bracketed)["run"] as? Int == 1)

        let python = try #require(line("boom"), "\(lines)")
        #expect(python["level"] as? String == "ERROR")
        #expect(extra(python)["logger"] as? String == "app")
        #expect(extra(python)["run"] as? Int == 1)

        let plain = try #require(line("plain words on stderr"), "\(lines)")
        #expect(plain["level"] as? String == "INFO")
        #expect(extra(plain)["stream"] as? String == "stderr")
        #expect(extra(plain)["run"] as? Int == 1)
        // A line without its own time gets the time it was read.
        let stamp = try #require(plain["timestamp"] as? String)
        let read = try #require(ISO8601DateFormatter.withFractions.date(from: stamp), "\(stamp)")
        #expect(abs(read.timeIntervalSince(before)) < 60)
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

// MARK: - Durability

@Suite("Logs: durable across supervisor restarts")
struct LogDurabilityTests {
    private static let printer = """
    i=1
    while [ $i -le 50 ]; do echo "before $i"; i=$((i+1)); done
    exec sleep 1000
    """

    private static let after = """
    i=1
    while [ $i -le 5 ]; do echo "after $i"; i=$((i+1)); done
    exec sleep 1000
    """

    private func pairs(_ lines: [LogLine]) -> [String] {
        lines.map { "\(sequence($0) ?? -1) \(message($0) ?? "") \($0["timestamp"] as? String ?? "")" }
    }

    /// The second daemon finds `before` and gives new lines larger sequence ids.
    private func checkSecondDaemon(_ second: DaemonHarness, before: [LogLine]) throws {
        // The agent is brought back by the second daemon and prints its lines again, after these.
        let found = try second.allLogs("process_id=par-durable&order=asc")
        #expect(pairs(Array(found.prefix(before.count))) == pairs(before), "same lines with the same sequence ids")
        let newest = try #require(second.logPage("limit=1").lines.first.flatMap(sequence))
        #expect(newest >= before.compactMap(sequence).max() ?? 0)

        #expect(try second.spawn("after", package: try second.install(.commandPackage(script: Self.after))).status == 200)
        let newLines = try second.waitForLines("par-after", count: 5)
        #expect(newLines.compactMap(message) == (1...5).map { "after \($0)" })
        #expect(newLines.compactMap(sequence).allSatisfy { $0 > newest }, "new sequence ids after \(newest): \(newLines.compactMap(sequence))")
    }

    @Test func logsSurviveAGracefulRestart() throws {
        let first = try DaemonHarness()
        first.keepFiles = true
        defer { first.keepFiles = false; first.stop() }
        #expect(try first.spawn("durable", package: try first.install(.commandPackage(script: Self.printer))).status == 200)
        let before = try first.waitForLines("par-durable", count: 50)
        #expect(before.count == 50)
        #expect(first.terminate() == 0)

        let second = try DaemonHarness(root: first.root)
        second.keepFiles = true
        defer { second.terminate() }
        try checkSecondDaemon(second, before: before)
    }

    @Test func whatAgentsPrintWhileTheDaemonShutsDownIsKept() throws {
        // On SIGTERM the agent prints 200,000 lines (22 MB, more than the store buffers,
        // so its pipe is paused and full when it exits), then exits.
        let script = """
        cat > "$HOME/bye.py" <<'PY'
        import signal, sys, time
        def bye(*_):
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            out = sys.stdout
            for i in range(200000):
                out.write("bye %06d %s\\n" % (i, "x" * 100))
            out.flush()
            sys.exit(0)
        signal.signal(signal.SIGTERM, bye)
        print("ready", flush=True)
        while True:
            time.sleep(0.1)
        PY
        exec python3 "$HOME/bye.py"
        """
        let first = try DaemonHarness()
        first.keepFiles = true
        defer { first.keepFiles = false; first.stop() }
        #expect(try first.spawn("bye", package: try first.install(.commandPackage(script: script))).status == 200)
        _ = try first.waitForLines("par-bye", count: 1)
        #expect(first.terminate(timeoutSeconds: 60) == 0)

        let second = try DaemonHarness(root: first.root)
        second.keepFiles = true
        defer { second.terminate() }
        let lines = try second.allLogs("process_id=par-bye&order=asc&q=bye")
        #expect(lines.count == 200_000, "every line printed before the agent exited is stored")
        #expect(lines.last.map { ($0["message"] as? String)?.hasPrefix("bye 199999") == true } == true)
    }

    @Test func linesReadableBeforeASigkillOfTheSupervisorAreStillThere() throws {
        let first = try DaemonHarness()
        defer { first.keepFiles = false; first.stop() }
        #expect(try first.spawn("durable", package: try first.install(.commandPackage(script: Self.printer))).status == 200)
        let before = try first.waitForLines("par-durable", count: 50)
        #expect(before.count == 50)
        first.crash()

        let second = try DaemonHarness(root: first.root)
        second.keepFiles = true
        defer { second.terminate() }
        try checkSecondDaemon(second, before: before)
    }
}

// MARK: - Retention, paging, filters, clearing

@Suite("Logs: retention, paging, filters and clearing")
struct LogQueryTests {
    @Test func retentionByCountKeepsTheNewestLinesOfThatProcess() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "seq 1 5000\nexec sleep 1000"))
        let answer = try daemon.spawn("kept", package: package, ["log_retention": ["max_entries": 1000]])
        #expect(answer.status == 200, "\(answer.text)")

        var lines: [LogLine] = []
        let trimmed = try ProcessInspection.eventually(timeout: 20) {
            lines = try daemon.allLogs("process_id=par-kept&order=asc", limit: 700)
            return lines.count == 1000 && message(lines[0]) == "4001"
        }
        #expect(trimmed, "stored \(lines.count) lines, \(lines.first.flatMap(message) ?? "-")...\(lines.last.flatMap(message) ?? "-")")
        #expect(lines.compactMap(message) == (4001...5000).map(String.init))
        let newestFirst = try daemon.allLogs("process_id=par-kept", limit: 300)
        #expect(newestFirst.count == 1000)
        #expect(newestFirst.first.flatMap(message) == "5000")
        #expect(newestFirst.last.flatMap(message) == "4001")
    }

    @Test func badLogRetentionIsRefusedNamingTheField() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage())
        let cases: [([String: Any], String)] = [
            (["max_entries": 0], "log_retention.max_entries"),
            (["max_entries": "many"], "log_retention.max_entries"),
            (["max_entries": 10, "keep_forever": true], "log_retention.keep_forever"),
            (["max_age_seconds": 0], "log_retention.max_age_seconds"),
            (["max_bytes": 10], "log_retention.max_bytes"),
        ]
        for (retention, field) in cases {
            let answer = try daemon.spawn("bad-retention", package: package, ["log_retention": retention])
            #expect(answer.status == 400, "\(retention): \(answer.status) \(answer.text)")
            #expect(answer.json["field"] as? String == field, "\(retention): \(answer.text)")
        }
        #expect(try daemon.client().get("/supervisor/processes/par-bad-retention").status == 404, "nothing was spawned")
    }

    @Test func pagingThroughAHundredThousandLinesByCursor() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "seq 1 100000"))
        #expect(try daemon.spawn("many", package: package, ["restart_policy": "never"]).status == 200)
        try daemon.waitFor("par-many", timeout: 60) { isFinished($0) }
        let expected = (1...100_000).map(String.init)

        func walk(order: String, limit: Int) throws -> (messages: [String], sequences: [Int], lastPage: LogPage?) {
            var messages: [String] = []
            var sequences: [Int] = []
            var cursor: String?
            var last: LogPage?
            for _ in 0..<100 {
                let page = try daemon.logPage("process_id=par-many&order=\(order)&limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.count == page.lines.count)
                #expect(page.lines.count <= limit)
                messages += page.lines.compactMap(message)
                sequences += page.lines.compactMap(sequence)
                last = page
                cursor = page.nextCursor
                if cursor == nil { break }
                #expect(page.lines.count == limit, "a page with a next_cursor is full")
            }
            return (messages, sequences, last)
        }

        let ascending = try walk(order: "asc", limit: 10_000)
        #expect(ascending.messages.count == 100_000)
        #expect(ascending.messages == expected, "each line once, oldest first")
        #expect(ascending.sequences == ascending.sequences.sorted() && Set(ascending.sequences).count == 100_000)
        #expect(ascending.lastPage?.nextCursor == nil)
        #expect(ascending.lastPage?.lines.count == 10_000, "a full last page says nothing follows: no empty page after it")

        let descending = try walk(order: "desc", limit: 7_000)
        #expect(descending.messages.count == 100_000)
        #expect(descending.messages == expected.reversed(), "each line once, newest first")
        #expect(descending.sequences == ascending.sequences.reversed())
        #expect(descending.lastPage?.nextCursor == nil)
        #expect(descending.lastPage?.lines.count == 100_000 % 7_000, "the last page holds the rest")
    }

    @Test func filtersNarrowWhatIsReturned() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: #"""
        echo '{"ts":"2020-01-01T00:00:01Z","level":"debug","msg":"tick one"}'
        echo '{"ts":"2020-01-01T00:00:02Z","level":"info","msg":"Timeout waiting for db"}'
        echo '{"ts":"2020-01-01T00:00:03Z","level":"warning","msg":"retry soon"}'
        echo '{"ts":"2020-01-01T00:00:04Z","level":"error","msg":"connection reset"}' >&2
        echo '{"ts":"2020-01-01T00:00:05Z","level":"critical","msg":"giving up"}' >&2
        exec sleep 1000
        """#))
        let other = try daemon.install(.commandPackage(script: "echo 'other line Timeout'\nexec sleep 1000"))
        #expect(try daemon.spawn("filtered", package: package).status == 200)
        #expect(try daemon.spawn("other", package: other).status == 200)
        try daemon.waitForLines("par-filtered", count: 5)
        try daemon.waitForLines("par-other", count: 1)

        func messages(_ query: String) throws -> [String] {
            try daemon.logPage(query).lines.compactMap(message)
        }
        let p = "process_id=par-filtered"
        #expect(try messages("\(p)&order=asc") == ["tick one", "Timeout waiting for db", "retry soon", "connection reset", "giving up"])
        #expect(try messages(p) == ["giving up", "connection reset", "retry soon", "Timeout waiting for db", "tick one"], "newest first by default")
        #expect(try messages("\(p)&order=desc&limit=2") == ["giving up", "connection reset"])
        #expect(try messages("process_id=par-other") == ["other line Timeout"])
        #expect(try daemon.logPage("process_id=par-other").lines.allSatisfy { $0["process_id"] as? String == "par-other" })
        #expect(try messages("process_id=par-nobody").isEmpty)

        #expect(try messages("\(p)&level=ERROR") == ["connection reset"])
        #expect(try messages("\(p)&level=warn") == ["retry soon"], "level aliases")
        #expect(try messages("\(p)&min_level=WARNING&order=asc") == ["retry soon", "connection reset", "giving up"])
        #expect(try messages("\(p)&min_level=error&level=critical") == ["giving up"])
        #expect(try messages("\(p)&stream=stderr&order=asc") == ["connection reset", "giving up"])
        #expect(try messages("\(p)&stream=stdout&order=asc") == ["tick one", "Timeout waiting for db", "retry soon"])
        #expect(try messages("\(p)&since=2020-01-01T00:00:02Z&until=2020-01-01T00:00:04Z&order=asc") == ["Timeout waiting for db", "retry soon", "connection reset"], "since and until are inclusive")
        #expect(try messages("\(p)&since=2020-01-01T00:00:04.500Z") == ["giving up"])
        #expect(try messages("\(p)&until=2020-01-01T00:00:01Z") == ["tick one"])

        #expect(try messages("\(p)&q=time") == ["Timeout waiting for db"], "word prefix")
        #expect(try messages("\(p)&q=TIMEOUT%20db") == ["Timeout waiting for db"], "every word, any case")
        #expect(try messages("\(p)&q=imeout").isEmpty, "not inside a word")
        #expect(try messages("\(p)&q=timeout%20nothing").isEmpty)
        #expect(try Set(messages("q=timeout")) == ["Timeout waiting for db", "other line Timeout"], "across processes")

        // The supervisor's own events: process `supervisor`, stream supervisor, agent in extra.
        let events = try daemon.logPage("process_id=supervisor&stream=supervisor&limit=1000").lines
        #expect(events.contains { extra($0)["agent_id"] as? String == "filtered" && message($0)?.contains("spawned par-filtered") == true }, "\(events.compactMap(message))")
        #expect(events.allSatisfy { extra($0)["stream"] as? String == "supervisor" })
    }

    @Test func badQueryParametersAreRefusedNamingThem() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let cases: [(String, String)] = [
            ("level=loud", "level"),
            ("min_level=loud", "min_level"),
            ("limit=0", "limit"),
            ("limit=10001", "limit"),
            ("limit=abc", "limit"),
            ("cursor=x", "cursor"),
            ("order=up", "order"),
            ("since=yesterday", "since"),
            ("until=yesterday", "until"),
            ("since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z", "until"),
            ("stream=both", "stream"),
            ("q=%21%21", "q"),
            ("proces_id=par-x", "proces_id"),
            ("tail=5", "tail"),
            ("process_id=", "process_id"),
        ]
        for (query, field) in cases {
            let answer = try daemon.client().get("/supervisor/logs?\(query)")
            #expect(answer.status == 400, "\(query): \(answer.status) \(answer.text)")
            #expect(answer.json["field"] as? String == field, "\(query): \(answer.text)")
            #expect(answer.json["error"] is String && answer.json["detail"] is String, "\(query): \(answer.text)")
        }
        for path in ["/supervisor/logs/stream?level=loud", "/supervisor/logs/stream?limit=5", "/supervisor/logs/ws?tail=-1"] {
            let answer = try daemon.client().get(path)
            #expect(answer.status == 400, "\(path): \(answer.status) \(answer.text)")
        }
        let delete = try daemon.client().delete("/supervisor/logs?proces_id=par-x")
        #expect(delete.status == 400)
        #expect(delete.json["field"] as? String == "proces_id")

        let anonymous = PARAPIClient(port: daemon.port, token: nil)
        for path in ["/supervisor/logs", "/supervisor/logs/stats", "/supervisor/logs?process_id=supervisor"] {
            #expect(try anonymous.get(path).status == 401, "\(path)")
        }
        #expect(try anonymous.delete("/supervisor/logs").status == 401)
        #expect(try PARAPIClient(port: daemon.port, token: "wrong").get("/supervisor/logs").status == 401)
    }

    @Test func deletingOneProcessesLogsRemovesOnlyThose() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.spawn("gone", package: try daemon.install(.commandPackage(script: "seq 1 300\nexec sleep 1000"))).status == 200)
        #expect(try daemon.spawn("kept", package: try daemon.install(.commandPackage(script: "seq 1 200\nexec sleep 1000"))).status == 200)
        try daemon.waitForLines("par-gone", count: 300)
        try daemon.waitForLines("par-kept", count: 200)
        let linesBefore = try #require(daemon.stats()["lines"] as? Int)

        let answer = try daemon.client().delete("/supervisor/logs?process_id=par-gone")
        #expect(answer.status == 200, "\(answer.text)")
        #expect(answer.json["status"] as? String == "success")
        #expect(answer.json["removed"] as? Int == 300, "\(answer.text)")
        #expect(answer.json["message"] is String)

        #expect(try daemon.allLogs("process_id=par-gone").isEmpty)
        #expect(try daemon.allLogs("process_id=par-kept&order=asc").compactMap(message) == (1...200).map(String.init))
        #expect(try daemon.logPage("process_id=supervisor").lines.isEmpty == false, "the supervisor's events stay")
        let linesAfter = try #require(daemon.stats()["lines"] as? Int)
        #expect(linesAfter == linesBefore - 300, "stats lines \(linesBefore) -> \(linesAfter)")
    }
}

// MARK: - Live tails

@Suite("Logs: live tails over SSE and WebSocket")
struct LogLiveTests {
    /// Prints `first 1...10`, waits for `$GO_FILE`, then prints `live 1...20`.
    private static let twoBatches = """
    i=1
    while [ $i -le 10 ]; do echo "first $i"; i=$((i+1)); done
    while [ ! -e "$GO_FILE" ]; do sleep 0.05; done
    i=1
    while [ $i -le 20 ]; do echo "live $i"; i=$((i+1)); sleep 0.02; done
    exec sleep 120
    """

    @Test func serverSentEventsTailThenFollowWithoutRepeatsOrHoles() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let go = daemon.root.appendingPathComponent("go-sse")
        #expect(try daemon.spawn("sse", package: try daemon.install(.commandPackage(script: Self.twoBatches)), ["env_vars": ["GO_FILE": go.path]]).status == 200)
        try daemon.waitForLines("par-sse", count: 10)

        let stream = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-sse&tail=5", token: daemon.token)
        #expect(stream.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        let tail = try stream.events(count: 5, timeout: 20)
        #expect(tail.map { $0.json["message"] as? String ?? "" } == (6...10).map { "first \($0)" }, "the last 5, oldest first")
        #expect(try stream.next(timeout: 0.5) == nil, "nothing more until the agent prints")

        #expect(FileManager.default.createFile(atPath: go.path, contents: nil))
        let live = try stream.events(count: 20, timeout: 30)
        #expect(live.map { $0.json["message"] as? String ?? "" } == (1...20).map { "live \($0)" })
        let events = tail + live
        #expect(events.allSatisfy { $0.event == nil && $0.json["process_id"] as? String == "par-sse" })
        #expect(events.allSatisfy { $0.id != nil && $0.id == ($0.json["sequence"] as? NSNumber)?.stringValue }, "id: is the sequence")

        let stored = try daemon.allLogs("process_id=par-sse&order=asc")
        #expect(stored.count == 30)
        #expect(events.compactMap { ($0.json["sequence"] as? NSNumber)?.intValue } == stored.suffix(25).compactMap(sequence), "the stored lines from the tail on, each once")
    }

    @Test func aReconnectingStreamResumesAfterTheLastEventItSaw() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let go = daemon.root.appendingPathComponent("go-resume")
        #expect(try daemon.spawn("resume", package: try daemon.install(.commandPackage(script: Self.twoBatches)), ["env_vars": ["GO_FILE": go.path]]).status == 200)
        try daemon.waitForLines("par-resume", count: 10)
        let path = "/supervisor/logs/stream?process_id=par-resume"
        var lastID: String?
        do {
            let first = try EventStreamClient(port: daemon.port, path: path + "&tail=3", token: daemon.token)
            lastID = try first.events(count: 3, timeout: 20).last?.id
        }
        let seen = try #require(lastID)
        // Disconnected while the agent prints 20 more lines.
        #expect(FileManager.default.createFile(atPath: go.path, contents: nil))
        try daemon.waitForLines("par-resume", count: 30)

        // What a browser's EventSource sends when it reconnects.
        let resumed = try EventStreamClient(port: daemon.port, path: path, token: daemon.token, headers: ["Last-Event-ID": seen])
        let missed = try resumed.events(count: 20, timeout: 20)
        #expect(missed.map { $0.json["message"] as? String ?? "" } == (1...20).map { "live \($0)" }, "every line after the last one seen, once")
        #expect(try resumed.next(timeout: 0.5) == nil)

        // after= does the same without the header, from any sequence.
        let stored = try daemon.allLogs("process_id=par-resume&order=asc")
        let fromMiddle = try EventStreamClient(port: daemon.port, path: path + "&after=\(sequence(stored[24]) ?? 0)", token: daemon.token)
        #expect(try fromMiddle.events(count: 5, timeout: 20).map { $0.json["message"] as? String ?? "" } == (16...20).map { "live \($0)" })
    }

    @Test func badResumePointsAreRefusedNamingThem() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        for (path, headers, field) in [
            ("/supervisor/logs/stream", ["Last-Event-ID": "abc"], "Last-Event-ID"),
            ("/supervisor/logs/stream?after=-1", [:], "after"),
            ("/supervisor/logs/stream?after=5&tail=5", [:], "tail"),
        ] as [(String, [String: String], String)] {
            do {
                _ = try EventStreamClient(port: daemon.port, path: path, token: daemon.token, headers: headers)
                Issue.record("\(path) \(headers) opened a stream")
            } catch EventStreamClient.Failure.status(let code, let body) {
                #expect(code == 400)
                #expect(body.contains("\"field\":\"\(field)\""), "\(body)")
            }
        }
    }

    @Test func serverSentEventsNeedTheToken() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        for token in [nil, "wrong"] as [String?] {
            do {
                _ = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?tail=5", token: token)
                Issue.record("a stream opened with token \(token ?? "none")")
            } catch EventStreamClient.Failure.status(let code, _) {
                #expect(code == 401)
            }
        }
        do {
            _ = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?order=asc", token: daemon.token)
            Issue.record("a stream opened with a parameter it does not take")
        } catch EventStreamClient.Failure.status(let code, let body) {
            #expect(code == 400)
            #expect(body.contains("order"))
        }
    }

    @Test func webSocketTailThenFollowWithoutRepeatsOrHoles() async throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let go = daemon.root.appendingPathComponent("go-ws")
        #expect(try daemon.spawn("ws", package: try daemon.install(.commandPackage(script: Self.twoBatches)), ["env_vars": ["GO_FILE": go.path]]).status == 200)
        try daemon.waitForLines("par-ws", count: 10)

        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = [.authorization: "Bearer \(daemon.token)"]
        let received = Locked<[String]>([])
        let url = "ws://127.0.0.1:\(daemon.port)/supervisor/logs/ws?process_id=par-ws&tail=3"
        _ = try await withTimeout(60, "WebSocket tail") { [configuration] in
            try await WebSocketClient.connect(url: url, configuration: configuration, logger: Logger(label: "test")) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                var texts: [String] = []
                while texts.count < 23, let next = try await messages.next() {
                    guard case .text(let text) = next else { continue }
                    texts.append(text)
                    received.withLock { $0 = texts }
                    if texts.count == 3 { _ = FileManager.default.createFile(atPath: go.path, contents: nil) }
                }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
        let objects = received.withLock { $0 }.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
        #expect(objects.count == 23)
        #expect(objects.allSatisfy { $0["type"] as? String == "log" && $0["process_id"] as? String == "par-ws" })
        #expect(objects.map { $0["message"] as? String ?? "" } == (8...10).map { "first \($0)" } + (1...20).map { "live \($0)" })
        #expect(objects.allSatisfy { extra($0)["stream"] as? String == "stdout" })

        let stored = try daemon.allLogs("process_id=par-ws&order=asc")
        #expect(stored.count == 30)
        #expect(objects.compactMap(sequence) == stored.suffix(23).compactMap(sequence), "the stored lines from the tail on, each once")
    }

    @Test func webSocketWithoutTheTokenIsRefused() async throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let handled = Locked(false)
        await #expect(throws: (any Error).self) {
            try await withTimeout(30, "refused WebSocket") {
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(daemon.port)/supervisor/logs/ws?tail=1", logger: Logger(label: "test")) { _, _, _ in
                    handled.withLock { $0 = true }
                }
            }
        }
        #expect(handled.withLock { $0 } == false, "the upgrade was refused")
        var wrong = WebSocketClientConfiguration()
        wrong.additionalHeaders = [.authorization: "Bearer wrong"]
        await #expect(throws: (any Error).self) {
            try await withTimeout(30, "refused WebSocket") { [wrong] in
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(daemon.port)/supervisor/logs/ws", configuration: wrong, logger: Logger(label: "test")) { _, _, _ in
                    handled.withLock { $0 = true }
                }
            }
        }
        #expect(handled.withLock { $0 } == false)
        #expect(try PARAPIClient(port: daemon.port, token: nil).get("/supervisor/logs/ws").status == 401)
    }

    /// The server waits for open requests on shutdown; a live tail must end itself.
    @Test
    func aSigtermEndsTheDaemonWhileAnSSETailIsConnected() throws {
        let daemon = try DaemonHarness()
        let marker = UUID().uuidString
        defer {
            // If the daemon had to be killed its agent was left behind: end it by pid.
            for pid in ProcessInspection.processes(withEnvironment: "MARKER", value: marker) { kill(pid, SIGKILL) }
            daemon.stop()
        }
        #expect(try daemon.spawn("tailed", package: try daemon.install(sleeperPackage()), ["env_vars": ["MARKER": marker]]).status == 200)
        let stream = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-tailed&tail=1", token: daemon.token)
        #expect(try stream.next(timeout: 10)?.json["process_id"] as? String == "par-tailed", "the tail is open")

        let started = Date()
        let status = daemon.terminate(timeoutSeconds: 10)
        #expect(status == 0, "SIGTERM with a tail open: \(status.map { "exit \($0)" } ?? "still running after 10 s, killed") after \(Date().timeIntervalSince(started)) s")
        #expect(ProcessInspection.processes(withEnvironment: "MARKER", value: marker).isEmpty, "the agent was stopped")
        withExtendedLifetime(stream) {}
    }

    @Test func aClientThatNeverReadsDoesNotStallAnAgentAndLearnsWhatItMissed() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        // Subscribed before the agent exists, and not read until the agent is done.
        let stream = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-flood", token: daemon.token)
        #expect(try daemon.spawn("flood", package: try daemon.install(.commandPackage(script: "seq 1 1000000")), ["restart_policy": "never"]).status == 200)
        let status = try daemon.waitFor("par-flood", timeout: 60) { isFinished($0) }
        #expect(state(status) == "stopped", "\(status)")
        #expect((status["last_exit"] as? [String: Any])?["code"] as? Int == 0, "\(status)")

        // Every line is stored. The last pipeful may still be on its way when the exit is
        // reported (a paused reader's pipe is read once the store has room): poll briefly.
        var newest: String?
        let complete = try ProcessInspection.eventually(timeout: 20) {
            newest = try daemon.logPage("process_id=par-flood&limit=1").lines.first.flatMap(message)
            return newest == "1000000"
        }
        #expect(complete, "newest stored line is \(newest ?? "none")")
        #expect(try daemon.logPage("process_id=par-flood&limit=1&order=asc").lines.first.flatMap(message) == "1")
        var supervisorLines = 0
        var storedLines = 0
        let counted = try ProcessInspection.eventually(timeout: 10) {
            supervisorLines = try daemon.allLogs("process_id=supervisor").count
            storedLines = try daemon.stats()["lines"] as? Int ?? -1
            return storedLines - supervisorLines == 1_000_000
        }
        #expect(counted, "stats: \(storedLines) lines, \(supervisorLines) of the supervisor")

        // The stream: the lines it could hold, in order, then a gap naming what it missed.
        var delivered: [Int] = []
        var gap: EventStreamClient.Event?
        let deadline = Date().addingTimeInterval(60)
        while gap == nil, Date() < deadline, let event = try stream.next(timeout: 15) {
            if event.event == "gap" { gap = event; break }
            if let id = event.id.flatMap(Int.init) { delivered.append(id) }
        }
        let missed = try #require(gap, "no gap after \(delivered.count) lines").json
        let count = try #require(missed["missed"] as? Int)
        let first = try #require(missed["first_sequence"] as? Int)
        let last = try #require(missed["last_sequence"] as? Int)
        let cursor = try #require(missed["cursor"] as? String)
        #expect(count > 0)
        #expect(first <= last)
        #expect(cursor == String(first - 1))
        #expect(delivered == delivered.sorted() && (delivered.last ?? 0) < first, "lines before the gap come in order")

        // What was missed is fetchable by its cursor.
        let firstMissed = try #require(daemon.logPage("process_id=par-flood&order=asc&limit=10&cursor=\(cursor)").lines.first)
        #expect(sequence(firstMissed) == first)
        let lastMissed = try #require(daemon.logPage("process_id=par-flood&order=asc&limit=1&cursor=\(last - 1)").lines.first)
        #expect(sequence(lastMissed) == last)
        let firstNumber = try #require(message(firstMissed).flatMap(Int.init))
        let lastNumber = try #require(message(lastMissed).flatMap(Int.init))
        #expect(lastNumber - firstNumber + 1 == count, "missed \(count) lines: \(firstNumber)...\(lastNumber)")
        #expect(firstNumber == delivered.count + 1, "the gap starts right after the last line delivered")
    }
}

