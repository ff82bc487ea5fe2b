import Foundation

/// Which lines a query or a live tail wants. Every condition is optional.
public struct LogFilter: Sendable, Equatable {
    public var processID: String?
    /// Exactly this level (the seed's `level`).
    public var level: LogLevel?
    /// This level and above.
    public var minLevel: LogLevel?
    /// Microseconds since 1970, inclusive.
    public var sinceMicros: Int64?
    public var untilMicros: Int64?
    public var stream: LogStream?
    public var text: TextSearch?
    /// With `processID`, also the supervisor's events about this agent (its bare id), in
    /// sequence order among its own lines: what `par logs ID` shows.
    public var eventsOfAgent: String? {
        didSet { eventsNeedle = eventsOfAgent.map { "\"agent_id\":\"\($0)\"" } }
    }
    /// `"agent_id":"<id>"` as an event's extra members spell it. An agent id has no
    /// character JSON escapes, so the member's text is exact.
    private var eventsNeedle: String?

    public init(processID: String? = nil, level: LogLevel? = nil, minLevel: LogLevel? = nil, sinceMicros: Int64? = nil, untilMicros: Int64? = nil, stream: LogStream? = nil, text: TextSearch? = nil) {
        self.processID = processID
        self.level = level
        self.minLevel = minLevel
        self.sinceMicros = sinceMicros
        self.untilMicros = untilMicros
        self.stream = stream
        self.text = text
    }

    /// Levels a line may have, as a block level mask.
    public var levelMask: Int {
        LogLevel.allCases.filter { candidate in
            (level == nil || candidate == level) && (minLevel == nil || candidate >= minLevel!)
        }.reduce(0) { $0 | $1.bit }
    }

    /// Only the supervisor writes lines of process `supervisor`, so an agent cannot forge one.
    private func isEventOfAgent(_ entry: LogEntry) -> Bool {
        guard let eventsNeedle, entry.processID == LogFilter.supervisorProcessID else { return false }
        return entry.extraMembers.contains(eventsNeedle)
    }

    public static let supervisorProcessID = "supervisor"

    public var streamMask: Int { stream?.bit ?? LogStream.allCases.reduce(0) { $0 | $1.bit } }

    public func matches(_ entry: LogEntry) -> Bool {
        if let processID, entry.processID != processID, !isEventOfAgent(entry) { return false }
        if let level, entry.level != level { return false }
        if let minLevel, entry.level < minLevel { return false }
        if let stream, entry.stream != stream { return false }
        if sinceMicros != nil || untilMicros != nil {
            let micros = Timestamps.micros(entry.timestamp)
            if let sinceMicros, micros < sinceMicros { return false }
            if let untilMicros, micros > untilMicros { return false }
        }
        if let text, !text.matches(entry.searchableText) { return false }
        return true
    }
}

/// `q=`: every word must start a word of the line (message or extra), ignoring case.
/// `q=time` finds "Timeout waiting"; "imeout" finds nothing. The same rule as the
/// full-text index's prefix query, so indexed and not-yet-indexed blocks agree.
public struct TextSearch: Sendable, Equatable {
    public let terms: [String]
    /// The terms as lowercase UTF-8, when all are ASCII (then matching never allocates).
    private let asciiTerms: [[UInt8]]?

    /// Nil when `query` has no letters or digits.
    public init?(_ query: String) {
        let terms = Self.words(query)
        guard !terms.isEmpty else { return nil }
        self.terms = terms
        asciiTerms = terms.allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } } ? terms.map { Array($0.utf8) } : nil
    }

    static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
    }

    /// FTS5 MATCH text: each term a quoted prefix, all required.
    public var ftsQuery: String {
        terms.map { "\"\($0.replacingOccurrences(of: "\"", with: "\"\""))\"*" }.joined(separator: " AND ")
    }

    public func matches(_ text: String) -> Bool {
        if let asciiTerms {
            var copy = text
            return copy.withUTF8 { bytes in
                asciiTerms.allSatisfy { Self.containsWordPrefix(UnsafeRawBufferPointer(bytes), $0) }
            }
        }
        let lowered = text.lowercased()
        return terms.allSatisfy { term in
            var searchRange = lowered.startIndex..<lowered.endIndex
            while let found = lowered.range(of: term, range: searchRange) {
                if found.lowerBound == lowered.startIndex { return true }
                let before = lowered[lowered.index(before: found.lowerBound)]
                if !before.isLetter && !before.isNumber { return true }
                searchRange = lowered.index(after: found.lowerBound)..<lowered.endIndex
            }
            return false
        }
    }

    /// Matches a stored line from its packed bytes, before any String is made: a word
    /// cannot span the message and the extra text, so each term may match in either.
    /// Nil when the terms are not all ASCII (the caller then matches the decoded text).
    func prefilter() -> ((UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool)? {
        guard let asciiTerms else { return nil }
        return { message, extra in
            asciiTerms.allSatisfy { Self.containsWordPrefix(message, $0) || Self.containsWordPrefix(extra, $0) }
        }
    }

    /// Whether `term` (lowercase ASCII) begins a word of `bytes`, ignoring ASCII case. Bytes
    /// of multi-byte characters count as letters, as they do in the full-text tokenizer.
    static func containsWordPrefix(_ bytes: UnsafeRawBufferPointer, _ term: [UInt8]) -> Bool {
        let count = bytes.count, length = term.count
        guard length > 0, length <= count else { return length == 0 }
        let first = term[0]
        var index = 0
        var previousIsWord = false
        while index <= count - length {
            let byte = bytes[index]
            let isWord = isWordByte(byte)
            if !previousIsWord && isWord && lower(byte) == first {
                var offset = 1
                while offset < length && lower(bytes[index + offset]) == term[offset] { offset += 1 }
                if offset == length { return true }
            }
            previousIsWord = isWord
            index += 1
        }
        return false
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}

public enum LogOrder: String, Sendable {
    /// Newest first, as the seed answered.
    case desc
    case asc
}

/// One page of `GET /supervisor/logs`.
public struct LogQuery: Sendable, Equatable {
    public var filter: LogFilter
    public var order: LogOrder
    public var limit: Int
    /// Continue after this sequence id (a previous page's `next_cursor`).
    public var cursor: UInt64?

    public init(filter: LogFilter = LogFilter(), order: LogOrder = .desc, limit: Int = 100, cursor: UInt64? = nil) {
        self.filter = filter
        self.order = order
        self.limit = limit
        self.cursor = cursor
    }
}

public struct LogPage: Sendable {
    public var entries: [LogEntry]
    /// Present when more lines may follow: pass it back as `cursor`.
    public var nextCursor: UInt64?
}
