/// The pip requirements of a Python package: `dependencies:` in agent.yaml together with
/// `requirements.txt`, checked and put in one canonical order so equal sets hash equally.
///
/// Only named requirements are accepted (`name[extras] specifiers ; markers`). Options
/// (`-e .`, `-r`, `--index-url`), paths and URLs are refused: they would let a package
/// choose where code comes from, or have pip run the package's own `setup.py` as root.
/// Where packages come from is the operator's choice (`--pip-index-url`, `--wheelhouse`).
public struct Requirements: Sendable, Equatable {
    /// Canonical lines: trimmed, inner blanks collapsed, sorted, without duplicates.
    public let lines: [String]

    /// Normalised project names (PEP 503: lower case, runs of `-_.` as one `-`).
    public var names: Set<String> { Set(lines.map { Self.projectName(of: $0) }) }

    public var isEmpty: Bool { lines.isEmpty }

    /// - Parameters:
    ///   - dependencies: the manifest's list.
    ///   - requirementsFile: the text of `requirements.txt`, if the package has one.
    public init(dependencies: [String], requirementsFile: String?) throws(PackageError) {
        var collected: [String] = []
        for (index, item) in dependencies.enumerated() {
            if let line = try Self.check(item, where: "dependencies[\(index)]") { collected.append(line) }
        }
        if let requirementsFile {
            for (number, raw) in requirementsFile.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if let line = try Self.check(String(raw), where: "requirements.txt line \(number + 1)") { collected.append(line) }
            }
        }
        lines = Array(Set(collected)).sorted()
    }

    /// The text handed to `pip install -r`.
    public var fileText: String { lines.map { $0 + "\n" }.joined() }

    /// One requirement in canonical form; nil for a blank or comment line.
    static func check(_ raw: String, where place: String) throws(PackageError) -> String? {
        var text = Substring(raw)
        // A comment starts at `#` at the line's start or after a blank (pip's rule).
        if let hash = text.indices.first(where: { text[$0] == "#" && ($0 == text.startIndex || text[text.index(before: $0)].isWhitespace) }) {
            text = text[..<hash]
        }
        let line = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        guard !line.isEmpty else { return nil }
        func refuse(_ why: String) -> PackageError {
            .invalidManifest(reason: "\(place): \(line.debugDescription) \(why); write a named requirement such as \"fastapi>=0.112\" (the daemon's operator chooses the index with --pip-index-url or --wheelhouse)")
        }
        if line.hasPrefix("-") { throw refuse("is a pip option, which a package may not set") }
        if line.contains("://") || line.contains(" @ ") || line.hasPrefix("@") { throw refuse("is a URL or direct reference") }
        guard line.utf8.count <= 512 else { throw refuse("is longer than 512 bytes") }
        let name = Self.projectName(of: line)
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic || ("0"..."9").contains(Character(first)) else {
            throw refuse("does not start with a project name")
        }
        // What may follow the name: extras, version specifiers and environment markers.
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.[],<>=!~*; ()'\"+")
        if let bad = line.first(where: { !allowed.contains($0) }) {
            throw refuse("contains \(String(bad).debugDescription), which no named requirement has (a path or a file is not allowed)")
        }
        return line
    }

    /// The PEP 503 normalised project name a requirement line starts with.
    public static func projectName(of line: String) -> String {
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        let raw = line.prefix(while: { nameCharacters.contains($0) }).lowercased()
        var result = ""
        var lastWasSeparator = false
        for character in raw {
            if character == "-" || character == "_" || character == "." {
                if !lastWasSeparator { result.append("-") }
                lastWasSeparator = true
            } else {
                result.append(character)
                lastWasSeparator = false
            }
        }
        return result
    }
}
