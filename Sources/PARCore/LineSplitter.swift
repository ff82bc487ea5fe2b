/// Turns a byte stream into lines. A line longer than `maxLineBytes` is cut into pieces
/// marked truncated; a final line without a newline is given out by `finish()`.
public struct LineSplitter: Sendable {
    public struct Line: Sendable, Equatable {
        public var text: String
        /// The line was longer than the maximum; this is one piece of it.
        public var truncated: Bool

        public init(text: String, truncated: Bool = false) {
            self.text = text
            self.truncated = truncated
        }
    }

    public let maxLineBytes: Int
    private var pending: [UInt8] = []
    /// The current line already had a piece cut off, so its remainder is marked too.
    private var continuing = false

    public init(maxLineBytes: Int = 64 * 1024) {
        self.maxLineBytes = max(1, maxLineBytes)
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer, into lines: inout [Line]) {
        var start = 0
        let count = bytes.count
        while start < count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start..<count])
            if let newline = rest.firstIndex(of: 0x0A) {
                let lineEnd = start + newline
                appendPending(UnsafeRawBufferPointer(rebasing: bytes[start..<lineEnd]), into: &lines)
                emit(into: &lines, truncated: continuing)
                continuing = false
                start = lineEnd + 1
            } else {
                appendPending(rest, into: &lines)
                start = count
            }
        }
    }

    public mutating func finish(into lines: inout [Line]) {
        if !pending.isEmpty { emit(into: &lines, truncated: continuing) }
        continuing = false
    }

    private mutating func appendPending(_ piece: UnsafeRawBufferPointer, into lines: inout [Line]) {
        var offset = 0
        while offset < piece.count {
            if pending.count >= maxLineBytes {
                // The CR of a CRLF ending does not count toward the maximum.
                if pending.count == maxLineBytes && piece[offset] == 0x0D {
                    pending.append(0x0D)
                    offset += 1
                    continue
                }
                emit(into: &lines, truncated: true)
                continuing = true
            }
            let take = min(max(0, maxLineBytes - pending.count), piece.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[offset..<offset + take]))
            offset += take
        }
    }

    private mutating func emit(into lines: inout [Line], truncated: Bool) {
        var end = pending.count
        if end > 0 && pending[end - 1] == 0x0D { end -= 1 } // CRLF
        lines.append(Line(text: String(decoding: pending[0..<end], as: UTF8.self), truncated: truncated))
        pending.removeAll(keepingCapacity: pending.count <= 4096)
    }
}
