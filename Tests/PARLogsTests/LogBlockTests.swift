import Foundation
import PARLogs
import Testing

/// Decodes every line of a sealed block.
private func decodeAll(_ block: SealedLogBlock) throws -> [LogEntry] {
    try decode(block.data, processID: block.processID, firstSequence: block.firstSequence, baseMicros: block.baseMicros)
}

private func decode(_ data: [UInt8], processID: String = "p", firstSequence: UInt64 = 1, baseMicros: Int64 = 0) throws -> [LogEntry] {
    var entries: [LogEntry] = []
    try data.withUnsafeBytes { raw in
        try LogBlockDecoder.forEach(raw, processID: processID, firstSequence: firstSequence, baseMicros: baseMicros) { entry in
            entries.append(entry)
            return true
        }
    }
    return entries
}

/// An entry whose timestamp is exactly representable in microseconds, so a round trip is exact.
private func entry(
    _ sequence: UInt64, micros: Int64, level: LogLevel = .info, message: String = "m", stream: LogStream = .stdout,
    run: Int = 1, truncated: Bool = false, extra: String = "", process: String = "proc"
) -> LogEntry {
    LogEntry(sequence: sequence, processID: process, timestamp: Timestamps.date(micros: micros), level: level, message: message,
             stream: stream, run: run, truncated: truncated, extraMembers: extra)
}

private let t0: Int64 = 1_704_110_400_000_000

@Suite("LogBlock: builder and decoder")
struct LogBlockRoundTripTests {
    /// A varied set of lines: every level and stream, runs, flags, unicode, empty texts,
    /// extra members, times before and after the first line and gaps in the sequence.
    static let variedEntries: [LogEntry] = [
        entry(100, micros: t0, level: .info, message: "first"),
        entry(101, micros: t0 - 5_000_000, level: .debug, message: "earlier by 5 s", stream: .stderr, run: 2),
        entry(102, micros: t0 + 1, level: .warning, message: "", stream: .supervisor, run: 0, extra: #""agent_id":"a1""#),
        entry(103, micros: t0 - 1, level: .error, message: "ünïcödé ✓ 日本語 😀", run: 300, truncated: true),
        entry(1_000_103, micros: t0 + 86_400_000_000, level: .critical, message: "after a large gap", extra: #""k":[1,2],"s":"x""#),
        entry(1_000_104, micros: 0, message: "at the epoch", run: 1 << 40),
        entry(1_000_105, micros: -1_000_000_000, message: "before the epoch", stream: .stderr),
        entry(UInt64(1) << 50, micros: t0 + 123_456, message: String(repeating: "long ", count: 2_000), extra: #""big":"\#(String(repeating: "y", count: 300))""#),
        entry((UInt64(1) << 50) + 1, micros: t0, message: "line\nwith\tcontrols\u{1}", truncated: true, extra: ""),
    ]

    @Test func roundTripOfVariedEntries() throws {
        var builder = LogBlockBuilder(processID: "proc")
        for e in Self.variedEntries { builder.append(e, now: 42) }
        #expect(builder.lineCount == Self.variedEntries.count)
        #expect(!builder.isEmpty)
        #expect(builder.openedAt == 42)
        let block = builder.seal()
        #expect(try decodeAll(block) == Self.variedEntries)
    }

    @Test func sealedBlockIndexFields() {
        var builder = LogBlockBuilder(processID: "proc")
        for e in Self.variedEntries { builder.append(e, now: 0) }
        let bytesBeforeSeal = builder.bytes
        let block = builder.seal()
        #expect(block.processID == "proc")
        #expect(block.firstSequence == 100)
        #expect(block.lastSequence == (UInt64(1) << 50) + 1)
        #expect(block.baseMicros == t0)
        #expect(block.minMicros == -1_000_000_000)
        #expect(block.maxMicros == t0 + 86_400_000_000)
        #expect(block.lineCount == Self.variedEntries.count)
        #expect(block.data == bytesBeforeSeal)
        #expect(block.levelMask == 0b11111)
        #expect(block.streamMask == 0b111)
    }

    @Test(arguments: [
        ([LogLevel.info], 0b00010), ([.debug], 0b00001), ([.critical], 0b10000),
        ([.warning, .error], 0b01100), ([.debug, .debug, .critical], 0b10001),
    ])
    func levelMaskHasABitPerLevelPresent(levels: [LogLevel], mask: Int) {
        var builder = LogBlockBuilder(processID: "p")
        for (index, level) in levels.enumerated() { builder.append(entry(UInt64(index + 1), micros: t0, level: level), now: 0) }
        #expect(builder.levelMask == mask)
        #expect(builder.seal().levelMask == mask)
        #expect(mask == levels.reduce(0) { $0 | $1.bit })
    }

    @Test(arguments: [
        ([LogStream.stdout], 0b001), ([.stderr], 0b010), ([.supervisor], 0b100), ([.stdout, .stderr], 0b011),
        ([.stderr, .supervisor, .stderr], 0b110),
    ])
    func streamMaskHasABitPerStreamPresent(streams: [LogStream], mask: Int) {
        var builder = LogBlockBuilder(processID: "p")
        for (index, stream) in streams.enumerated() { builder.append(entry(UInt64(index + 1), micros: t0, stream: stream), now: 0) }
        let block = builder.seal()
        #expect(block.streamMask == mask)
        // The same bits a filter uses to narrow blocks.
        for stream in LogStream.allCases {
            #expect((LogFilter(stream: stream).streamMask & mask != 0) == streams.contains(stream))
        }
    }

    @Test func minAndMaxMicrosTrackLinesBeforeAndAfterTheFirst() {
        var builder = LogBlockBuilder(processID: "p")
        builder.append(entry(1, micros: t0), now: 0)
        #expect(builder.minMicros == t0)
        #expect(builder.maxMicros == t0)
        builder.append(entry(2, micros: t0 - 10), now: 0)
        builder.append(entry(3, micros: t0 + 20), now: 0)
        builder.append(entry(4, micros: t0 + 5), now: 0)
        let block = builder.seal()
        #expect(block.baseMicros == t0)
        #expect(block.minMicros == t0 - 10)
        #expect(block.maxMicros == t0 + 20)
    }

    @Test func negativeRunIsStoredAsZero() throws {
        var builder = LogBlockBuilder(processID: "p")
        builder.append(entry(1, micros: t0, run: -3), now: 0)
        #expect(try decodeAll(builder.seal()).map(\.run) == [0])
    }

    @Test func aSingleLineWithEmptyTexts() throws {
        var builder = LogBlockBuilder(processID: "")
        let only = entry(7, micros: t0, message: "", extra: "", process: "")
        builder.append(only, now: 0)
        let block = builder.seal()
        #expect(block.firstSequence == 7 && block.lastSequence == 7)
        // Sequence delta, zigzag time delta, flags, run and two empty strings: one byte each.
        #expect(block.data.count == 6)
        #expect(try decodeAll(block) == [only])
    }

    @Test func manyLinesRoundTrip() throws {
        var builder = LogBlockBuilder(processID: "bulk")
        var expected: [LogEntry] = []
        for index in 0..<5_000 {
            let e = entry(
                UInt64(10 + index * 3), micros: t0 + Int64(index) * 997 - (index % 7 == 0 ? 50_000_000 : 0),
                level: LogLevel(rank: index % 5)!, message: "line \(index) " + String(repeating: "x", count: index % 200),
                stream: index % 2 == 0 ? .stdout : .stderr, run: index % 4, truncated: index % 11 == 0,
                extra: index % 3 == 0 ? #""i":\#(index)"# : "", process: "bulk"
            )
            expected.append(e)
            builder.append(e, now: 0)
        }
        let block = builder.seal()
        #expect(block.lineCount == 5_000)
        #expect(try decodeAll(block) == expected)
    }

    @Test func theBuilderIsReusableAfterSeal() throws {
        var builder = LogBlockBuilder(processID: "p")
        let firstBatch = [entry(1, micros: t0, level: .error, stream: .stderr, process: "p"), entry(2, micros: t0 + 10, level: .critical, process: "p")]
        for (index, e) in firstBatch.enumerated() { builder.append(e, now: UInt64(100 + index)) }
        let first = builder.seal()

        #expect(builder.isEmpty)
        #expect(builder.lineCount == 0)
        #expect(builder.bytes.isEmpty)
        #expect(builder.levelMask == 0)
        #expect(builder.streamMask == 0)
        #expect(builder.minMicros == .max)
        #expect(builder.maxMicros == .min)

        let secondBatch = [entry(50, micros: t0 - 1_000, level: .debug, process: "p"), entry(51, micros: t0 - 2_000, level: .debug, process: "p")]
        for e in secondBatch { builder.append(e, now: 500) }
        #expect(builder.openedAt == 500)
        let second = builder.seal()

        #expect(second.firstSequence == 50)
        #expect(second.lastSequence == 51)
        #expect(second.baseMicros == t0 - 1_000)
        #expect(second.minMicros == t0 - 2_000)
        #expect(second.maxMicros == t0 - 1_000)
        #expect(second.levelMask == LogLevel.debug.bit)
        #expect(second.streamMask == 0b001)
        #expect(second.lineCount == 2)
        #expect(try decodeAll(second) == secondBatch)
        // The first block's bytes were not disturbed by reusing the builder.
        #expect(first.lineCount == 2)
        #expect(first.levelMask == LogLevel.error.bit | LogLevel.critical.bit)
        #expect(try decodeAll(first) == firstBatch)
    }

    @Test func theDecoderUsesTheGivenProcessSequenceAndBase() throws {
        var builder = LogBlockBuilder(processID: "p")
        builder.append(entry(10, micros: t0, process: "p"), now: 0)
        builder.append(entry(12, micros: t0 + 7, process: "p"), now: 0)
        let block = builder.seal()
        let decoded = try decode(block.data, processID: "other", firstSequence: 1_000, baseMicros: 0)
        #expect(decoded.map(\.processID) == ["other", "other"])
        #expect(decoded.map(\.sequence) == [1_000, 1_002])
        #expect(decoded.map { Timestamps.micros($0.timestamp) } == [0, 7])
    }

    @Test func anEmptyBlobHasNoLines() throws {
        #expect(try decode([]).isEmpty)
    }

    @Test func decodingStopsWhenTheBodyReturnsFalse() throws {
        var builder = LogBlockBuilder(processID: "p")
        for index in 1...10 { builder.append(entry(UInt64(index), micros: t0, process: "p"), now: 0) }
        let block = builder.seal()
        var seen: [UInt64] = []
        try block.data.withUnsafeBytes { raw in
            try LogBlockDecoder.forEach(raw, processID: "p", firstSequence: block.firstSequence, baseMicros: block.baseMicros) { entry in
                seen.append(entry.sequence)
                return seen.count < 3
            }
        }
        #expect(seen == [1, 2, 3])
    }

    @Test func anErrorThrownByTheBodyPropagates() {
        struct Stop: Error {}
        var builder = LogBlockBuilder(processID: "p")
        builder.append(entry(1, micros: t0, process: "p"), now: 0)
        let block = builder.seal()
        #expect(throws: Stop.self) {
            try block.data.withUnsafeBytes { raw in
                try LogBlockDecoder.forEach(raw, processID: "p", firstSequence: 1, baseMicros: 0) { _ in throw Stop() }
            }
        }
    }
}

@Suite("LogBlock: corrupt blobs")
struct LogBlockCorruptTests {
    private static func sampleBlock() -> SealedLogBlock {
        var builder = LogBlockBuilder(processID: "p")
        builder.append(entry(1, micros: t0, message: "hello", extra: #""a":1"#, process: "p"), now: 0)
        builder.append(entry(2, micros: t0 + 5, level: .error, message: "world ✓", stream: .stderr, extra: "", process: "p"), now: 0)
        return builder.seal()
    }

    @Test func droppingTheLastByteThrows() {
        let block = Self.sampleBlock()
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode(Array(block.data.dropLast())) }
    }

    @Test func everyTruncationEitherThrowsOrEndsExactlyOnALineBoundary() throws {
        let block = Self.sampleBlock()
        let full = try decodeAll(block)
        // Where the first line ends: the length of a block holding only that line.
        var single = LogBlockBuilder(processID: "p")
        single.append(full[0], now: 0)
        let boundary = single.seal().data.count
        for length in 1..<block.data.count {
            let cut = Array(block.data.prefix(length))
            if length == boundary {
                #expect(try decode(cut, firstSequence: 1, baseMicros: t0) == [full[0]])
            } else {
                #expect(throws: LogBlockDecoder.Corrupt.self, "cut at \(length)") { try decode(cut) }
            }
        }
    }

    @Test func aStringLongerThanWhatIsLeftThrows() {
        // delta 0, time 0, flags INFO, run 0, message length 50 but only 2 bytes follow.
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode([0, 0, 1, 0, 50, 0x41, 0x42]) }
    }

    @Test(arguments: [UInt8(5), 6, 7, 0x0D, 0x2F])
    func aLevelRankOutOfRangeThrows(flags: UInt8) {
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode([0, 0, flags, 0, 0, 0]) }
    }

    @Test func aValidHandWrittenLineDecodes() throws {
        // delta 2, time +3 µs (zigzag 6), flags ERROR|stderr|truncated, run 4, "hi", "".
        let decoded = try decode([2, 6, 3 | 1 << 3 | 0x20, 4, 2, 0x68, 0x69, 0], processID: "x", firstSequence: 10, baseMicros: 100)
        #expect(decoded == [LogEntry(sequence: 12, processID: "x", timestamp: Timestamps.date(micros: 103), level: .error,
                                     message: "hi", stream: .stderr, run: 4, truncated: true)])
    }

    @Test func aVarintThatNeverEndsThrows() {
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode([0x80, 0x80, 0x80]) }
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode(Array(repeating: 0xFF, count: 20)) }
    }

    @Test func garbageAfterAValidLineThrows() throws {
        let block = Self.sampleBlock()
        #expect(throws: LogBlockDecoder.Corrupt.self) { try decode(block.data + [0x80]) }
    }
}
