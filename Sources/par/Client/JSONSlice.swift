/// The bytes of one member's value in a top-level JSON object, found without parsing the
/// rest: `par ps -o json` prints the daemon's `processes` as it sent them, since
/// Foundation's JSONSerialization takes most of the command's time to re-encode them
/// (115 ms of it for 100 agents, against a 50 ms budget for the whole command).
enum JSONSlice {
    static func member(_ name: String, of bytes: [UInt8]) -> ArraySlice<UInt8>? {
        let key = Array("\"\(name)\"".utf8)
        var index = 0
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let start = index
                index = endOfString(bytes, from: index)
                // A key of the top-level object, followed by its colon.
                if depth == 1, bytes[start..<min(index, bytes.count)].elementsEqual(key) {
                    var valueStart = index
                    while valueStart < bytes.count, bytes[valueStart] == UInt8(ascii: " ") || bytes[valueStart] == UInt8(ascii: ":") { valueStart += 1 }
                    return bytes[valueStart..<endOfValue(bytes, from: valueStart)]
                }
                continue
            }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
            index += 1
        }
        return nil
    }

    /// The index just past the string starting at `start` (a quote), escapes skipped.
    private static func endOfString(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
            if bytes[index] == UInt8(ascii: "\"") { return index + 1 }
            index += 1
        }
        return bytes.count
    }

    /// The index just past the value starting at `start`.
    private static func endOfValue(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index = endOfString(bytes, from: index)
                if depth == 0 { return index }
                continue
            }
            if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
            if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
                if depth == 0 { return index }
                depth -= 1
                if depth == 0 { return index + 1 }
            }
            if depth == 0, byte == UInt8(ascii: ",") { return index }
            index += 1
        }
        return bytes.count
    }
}
