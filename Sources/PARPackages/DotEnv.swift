import Foundation

/// Reads a package's `.env` file (pixell-kit packs one): `KEY=value` lines, `export `
/// prefixes, `#` comments, single or double quotes. No expansion and no command
/// substitution: the file is data, never run.
public enum DotEnv {
    public static func parse(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for raw in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var line = raw.drop(while: \.isWhitespace)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("export ") { line = line.dropFirst("export ".count).drop(while: \.isWhitespace) }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingSpaces
            guard !key.isEmpty, key.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }), !(key.first?.isNumber ?? true) else { continue }
            var value = line[line.index(after: equals)...].trimmingSpaces
            if let quote = value.first, quote == "\"" || quote == "'", let close = value.dropFirst().firstIndex(of: quote) {
                value = value[value.index(after: value.startIndex)..<close]
                if quote == "\"" {
                    value = Substring(value.replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\\"", with: "\""))
                }
            } else if let hash = value.range(of: " #") {
                value = value[..<hash.lowerBound].trimmingSpaces
            }
            result[String(key)] = String(value)
        }
        return result
    }
}

private extension Substring {
    var trimmingSpaces: Substring {
        let start = firstIndex(where: { !$0.isWhitespace }) ?? endIndex
        let end = lastIndex(where: { !$0.isWhitespace }).map(index(after:)) ?? start
        return self[start..<Swift.max(start, end)]
    }
}
