import Foundation

/// Lines of one process packed into one SQLite row. One row per line tops out near
/// 550k rows/s in SQLite; a few thousand lines per row turns the store into sequential
/// blob writes, as journald and Loki do, and the index stays small.
///
/// Per line: sequence delta (varint), timestamp delta from the block's first line
/// (zigzag varint, µs), a flags byte (level rank, stream, truncated), run (varint),
/// message and extra members (varint length + UTF-8).
public struct LogBlockBuilder: Sendable {
    public let processID: String
    public private(set) var firstSequence: UInt64 = 0
    public private(set) var lastSequence: UInt64 = 0
    public private(set) var minMicros: Int64 = .max
    public private(set) var maxMicros: Int64 = .min
    public private(set) var levelMask = 0
    public private(set) var streamMask = 0
    public private(set) var lineCount = 0
    /// The packed lines so far.
    public private(set) var bytes: [UInt8] = []
    private var baseMicros: Int64 = 0
    /// When the first line went in, for sealing quiet blocks.
    public private(set) var openedAt: UInt64 = 0

    public init(processID: String) {
        self.processID = processID
        bytes.reserveCapacity(64 * 1024)
    }

    public var isEmpty: Bool { lineCount == 0 }

    /// `micros`: the entry's time when the caller has it already (saves a Date round trip per line).
    public mutating func append(_ entry: LogEntry, micros known: Int64? = nil, now: UInt64) {
        let micros = known ?? Timestamps.micros(entry.timestamp)
        if lineCount == 0 {
            firstSequence = entry.sequence
            baseMicros = micros
            openedAt = now
        }
        lastSequence = entry.sequence
        minMicros = min(minMicros, micros)
        maxMicros = max(maxMicros, micros)
        levelMask |= entry.level.bit
        streamMask |= entry.stream.bit
        lineCount += 1
        Varint.append(entry.sequence - firstSequence, to: &bytes)
        Varint.append(Varint.zigzag(micros - baseMicros), to: &bytes)
        bytes.append(UInt8(entry.level.rank) | entry.stream.code << 3 | (entry.truncated ? 0x20 : 0))
        Varint.append(UInt64(max(0, entry.run)), to: &bytes)
        Varint.appendString(entry.message, to: &bytes)
        Varint.appendString(entry.extraMembers, to: &bytes)
    }

    /// The finished block; the builder starts empty again.
    public mutating func seal() -> SealedLogBlock {
        defer {
            bytes.removeAll(keepingCapacity: true)
            lineCount = 0
            levelMask = 0
            streamMask = 0
            minMicros = .max
            maxMicros = .min
        }
        return SealedLogBlock(
            processID: processID, firstSequence: firstSequence, lastSequence: lastSequence, baseMicros: baseMicros,
            minMicros: minMicros, maxMicros: maxMicros, levelMask: levelMask, streamMask: streamMask,
            lineCount: lineCount, data: bytes
        )
    }
}

/// A block ready to be written: its index fields and its packed lines.
public struct SealedLogBlock: Sendable {
    public var processID: String
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var baseMicros: Int64
    public var minMicros: Int64
    public var maxMicros: Int64
    public var levelMask: Int
    public var streamMask: Int
    public var lineCount: Int
    public var data: [UInt8]
}

/// Reads the lines back out of a block row.
public enum LogBlockDecoder {
    public struct Corrupt: Error, CustomStringConvertible {
        public var description: String { "a stored log block is corrupt" }
    }

    /// Calls `body` for every line in order; `body` returns false to stop early.
    /// `prefilter` sees a line's message and extra bytes first; lines it refuses are
    /// skipped without building their Strings (most of a text search's cost otherwise).
    public static func forEach(
        _ data: UnsafeRawBufferPointer, processID: String, firstSequence: UInt64, baseMicros: Int64,
        prefilter: ((UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool)? = nil,
        _ body: (LogEntry) throws -> Bool
    ) throws {
        var reader = Varint.Reader(data)
        while !reader.isAtEnd {
            guard let seqDelta = reader.varint(), let micros = reader.varint(), let flags = reader.byte(),
                  let run = reader.varint(), let messageBytes = reader.bytes(), let extraBytes = reader.bytes(),
                  let level = LogLevel(rank: Int(flags & 0x07))
            else { throw Corrupt() }
            if let prefilter, !prefilter(messageBytes, extraBytes) { continue }
            let message = String(decoding: messageBytes, as: UTF8.self)
            let extra = String(decoding: extraBytes, as: UTF8.self)
            let entry = LogEntry(
                sequence: firstSequence + seqDelta, processID: processID,
                timestamp: Timestamps.date(micros: baseMicros + Varint.unzigzag(micros)), level: level, message: message,
                stream: LogStream(code: (flags >> 3) & 0x03), run: Int(run), truncated: flags & 0x20 != 0, extraMembers: extra
            )
            if try !body(entry) { return }
        }
    }
}

/// LEB128 varints: small numbers (deltas, lengths) take one or two bytes.
enum Varint {
    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    static func appendString(_ text: String, to bytes: inout [UInt8]) {
        var copy = text
        copy.withUTF8 { utf8 in
            append(UInt64(utf8.count), to: &bytes)
            bytes.append(contentsOf: utf8)
        }
    }

    static func zigzag(_ value: Int64) -> UInt64 { UInt64(bitPattern: (value << 1) ^ (value >> 63)) }
    static func unzigzag(_ value: UInt64) -> Int64 { Int64(bitPattern: value >> 1) ^ -Int64(bitPattern: value & 1) }

    struct Reader {
        let data: UnsafeRawBufferPointer
        var offset = 0

        init(_ data: UnsafeRawBufferPointer) { self.data = data }

        var isAtEnd: Bool { offset >= data.count }

        mutating func byte() -> UInt8? {
            guard offset < data.count else { return nil }
            defer { offset += 1 }
            return data[offset]
        }

        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while offset < data.count, shift < 64 {
                let byte = data[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            return nil
        }

        mutating func bytes() -> UnsafeRawBufferPointer? {
            guard let length = varint(), length <= UInt64(data.count - offset) else { return nil }
            let start = offset
            offset += Int(length)
            return UnsafeRawBufferPointer(rebasing: data[start..<offset])
        }
    }
}
