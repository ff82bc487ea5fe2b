import Foundation
import PARLogs
import Testing

extension LogBuffer {
    func append(_ processID: String, _ texts: [String], stream: String = "stdout", run: Int = 1, readAt: Date = Date()) {
        appendLines(processID: processID, stream: stream, run: run, lines: texts.map { (text: $0, truncated: false) }, readAt: readAt)
    }
}

func messages(_ entries: [LogEntry]) -> [String] { entries.map(\.message) }

@Suite("LogBuffer")
struct LogBufferTests {
    @Test func queryReturnsAProcessesLinesNewestFirst() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["one", "two", "three"])
        #expect(messages(buffer.query(.init(processID: "par-a"))) == ["three", "two", "one"])
    }

    @Test func queryByProcessLeavesOutOtherProcesses() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1"])
        buffer.append("par-b", ["b1"])
        buffer.append("par-a", ["a2"])
        #expect(messages(buffer.query(.init(processID: "par-a"))) == ["a2", "a1"])
    }

    @Test func queryWithoutProcessMergesAllNewestFirst() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1"])
        buffer.append("par-b", ["b1"])
        buffer.append("par-a", ["a2"])
        buffer.append("par-c", ["c1"])
        #expect(messages(buffer.query(.init())) == ["c1", "a2", "b1", "a1"])
    }

    @Test func queryOfAnUnknownProcessIsEmpty() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1"])
        #expect(buffer.query(.init(processID: "par-zzz")).isEmpty)
    }

    @Test func levelSelectsExactlyThatLevel() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["DEBUG:x:d", "INFO:x:i", "WARNING:x:w", "ERROR:x:e", "CRITICAL:x:c"])
        #expect(messages(buffer.query(.init(processID: "par-a", level: .warning))) == ["w"])
    }

    @Test func minLevelSelectsThatLevelAndAbove() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["DEBUG:x:d", "INFO:x:i", "WARNING:x:w", "ERROR:x:e", "CRITICAL:x:c"])
        #expect(messages(buffer.query(.init(processID: "par-a", minLevel: .warning))) == ["c", "e", "w"])
    }

    @Test func minLevelAppliesAcrossProcesses() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["ERROR:x:a-error", "INFO:x:a-info"])
        buffer.append("par-b", ["DEBUG:x:b-debug", "CRITICAL:x:b-critical"])
        #expect(messages(buffer.query(.init(minLevel: .error))) == ["b-critical", "a-error"])
    }

    @Test func limitKeepsTheNewest() {
        let buffer = LogBuffer()
        buffer.append("par-a", (1...10).map { "line \($0)" })
        #expect(messages(buffer.query(.init(processID: "par-a", limit: 3))) == ["line 10", "line 9", "line 8"])
    }

    @Test func limitAppliesAfterMergingProcesses() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1", "a2"])
        buffer.append("par-b", ["b1", "b2"])
        #expect(messages(buffer.query(.init(limit: 3))) == ["b2", "b1", "a2"])
    }

    @Test func limitCountsOnlyMatchingLines() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["ERROR:x:e1", "INFO:x:i1", "INFO:x:i2", "ERROR:x:e2", "INFO:x:i3"])
        #expect(messages(buffer.query(.init(processID: "par-a", level: .error, limit: 2))) == ["e2", "e1"])
    }

    @Test func eachProcessKeepsOnlyItsNewestLinesUpToCapacity() {
        let buffer = LogBuffer(capacityPerProcess: 3)
        buffer.append("par-a", ["1", "2"])
        buffer.append("par-a", ["3", "4", "5"])
        #expect(messages(buffer.query(.init(processID: "par-a"))) == ["5", "4", "3"])
    }

    @Test func capacityIsPerProcess() {
        let buffer = LogBuffer(capacityPerProcess: 2)
        buffer.append("par-a", ["a1", "a2", "a3"])
        buffer.append("par-b", ["b1"])
        #expect(messages(buffer.query(.init(processID: "par-b"))) == ["b1"])
        #expect(buffer.query(.init(processID: "par-a")).count == 2)
    }

    @Test func sequencesIncreaseAcrossProcesses() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1"])
        buffer.append("par-b", ["b1"])
        let sequences = buffer.query(.init()).map(\.sequence)
        #expect(sequences.count == 2)
        #expect(sequences[0] > sequences[1])
    }

    @Test func eachEntryRecordsStreamRunAndParsedLevel() throws {
        let buffer = LogBuffer()
        buffer.append("par-a", ["ERROR:app:boom"], stream: "stderr", run: 4)
        let entry = try #require(buffer.query(.init(processID: "par-a")).first)
        #expect(entry.processID == "par-a")
        #expect(entry.level == .error)
        #expect(entry.message == "boom")
        #expect(entry.extra["stream"] == .string("stderr"))
        #expect(entry.extra["run"] == .number(4))
        #expect(entry.extra["logger"] == .string("app"))
        #expect(entry.extra["truncated"] == nil)
    }

    @Test func aTruncatedPieceIsMarked() throws {
        let buffer = LogBuffer()
        buffer.appendLines(processID: "par-a", stream: "stdout", run: 1, lines: [(text: "piece", truncated: true)])
        let entry = try #require(buffer.query(.init(processID: "par-a")).first)
        #expect(entry.extra["truncated"] == .bool(true))
    }

    @Test func aLineWithoutItsOwnTimeIsStampedWhenRead() throws {
        let buffer = LogBuffer()
        let readAt = Date(timeIntervalSince1970: 1_800_000_000)
        buffer.append("par-a", ["no time here"], readAt: readAt)
        #expect(try #require(buffer.query(.init(processID: "par-a")).first).timestamp == readAt)
    }

    @Test func aLineWithItsOwnTimeKeepsIt() throws {
        let buffer = LogBuffer()
        buffer.append("par-a", [#"{"ts": 1704110400, "msg": "m"}"#], readAt: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(try #require(buffer.query(.init(processID: "par-a")).first).timestamp == noonNewYear2024)
    }

    @Test func eventsAreStoredUnderSupervisor() throws {
        let buffer = LogBuffer()
        buffer.appendEvent(agentID: "a", level: .warning, message: "restarting", fields: ["attempt": .number(2)])
        let entry = try #require(buffer.query(.init(processID: "supervisor")).first)
        #expect(entry.message == "restarting")
        #expect(entry.level == .warning)
        #expect(entry.extra["agent_id"] == .string("a"))
        #expect(entry.extra["attempt"] == .number(2))
    }

    @Test func clearingOneProcessRemovesOnlyItsLines() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1", "a2"])
        buffer.append("par-b", ["b1"])
        #expect(buffer.clear(processID: "par-a") == 2)
        #expect(buffer.query(.init(processID: "par-a")).isEmpty)
        #expect(messages(buffer.query(.init(processID: "par-b"))) == ["b1"])
    }

    @Test func clearingAllRemovesEverything() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1", "a2"])
        buffer.append("par-b", ["b1"])
        #expect(buffer.clear(processID: nil) == 3)
        #expect(buffer.query(.init()).isEmpty)
    }

    @Test func clearingAnUnknownProcessRemovesNothing() {
        let buffer = LogBuffer()
        buffer.append("par-a", ["a1"])
        #expect(buffer.clear(processID: "par-zzz") == 0)
        #expect(buffer.query(.init()).count == 1)
    }
}
