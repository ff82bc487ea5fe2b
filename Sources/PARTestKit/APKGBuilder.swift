import Foundation
import ZIPFoundation

/// Builds APKG archives for tests and the bench: real zip files, written with ZIPFoundation.
public struct APKGBuilder {
    public enum Item {
        case file(path: String, contents: String, permissions: UInt16 = 0o644)
        case directory(path: String)
        case symlink(path: String, target: String)
    }

    public var items: [Item] = []

    public init(items: [Item] = []) {
        self.items = items
    }

    public mutating func add(_ item: Item) {
        items.append(item)
    }

    /// A copy with one more item (other bytes, same behaviour: a "rebuilt" package).
    public func adding(_ item: Item) -> APKGBuilder {
        var copy = self
        copy.add(item)
        return copy
    }

    /// A copy in which the file at `path` holds `contents` (replaced, or added).
    public func setting(_ path: String, _ contents: String) -> APKGBuilder {
        var copy = self
        copy.items.removeAll { item in
            if case .file(let existing, _, _) = item { return existing == path }
            return false
        }
        copy.add(.file(path: path, contents: contents))
        return copy
    }

    /// Writes the archive to `url`, replacing any file there.
    public func write(to url: URL) throws {
        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        for item in items {
            switch item {
            case .file(let path, let contents, let permissions):
                let data = Data(contents.utf8)
                try archive.addEntry(with: path, type: .file, uncompressedSize: Int64(data.count), permissions: permissions, compressionMethod: .deflate) { position, size in
                    data.subdata(in: Int(position)..<Int(position) + size)
                }
            case .directory(let path):
                try archive.addEntry(with: path.hasSuffix("/") ? path : path + "/", type: .directory, uncompressedSize: Int64(0), permissions: 0o755) { _, _ in Data() }
            case .symlink(let path, let target):
                let data = Data(target.utf8)
                try archive.addEntry(with: path, type: .symlink, uncompressedSize: Int64(data.count), permissions: 0o777) { position, size in
                    data.subdata(in: Int(position)..<Int(position) + size)
                }
            }
        }
    }

    /// A package whose `command:` runs a shell script from the package. `health` is the
    /// manifest's `health:` block (by default none: such scripts serve no port).
    public static func commandPackage(name: String = "cmd-agent", script: String, health: String? = "{type: none}") -> APKGBuilder {
        APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: \(name)
            version: 1.0.0
            runtime: python3.11
            command: ["./run.sh"]
            """ + (health.map { "\nhealth: \($0)" } ?? "")),
            .file(path: "run.sh", contents: "#!/bin/sh\n" + script + "\n", permissions: 0o755),
        ])
    }

    /// A Python `entrypoint` package served by the bundled worker.
    public static func pythonPackage(name: String = "py-agent", source: String, entrypoint: String = "src.main:handler", environment: [String: String] = [:]) -> APKGBuilder {
        var manifest = """
        name: \(name)
        version: 2.0.0
        runtime: python3.11
        entrypoint: \(entrypoint)
        """
        if !environment.isEmpty {
            manifest += "\nenvironment:\n" + environment.sorted(by: { $0.key < $1.key }).map { "  \($0.key): \"\($0.value)\"" }.joined(separator: "\n")
        }
        return APKGBuilder(items: [
            .file(path: "agent.yaml", contents: manifest),
            .file(path: ".pixell/package.json", contents: "{\"name\": \"\(name)\", \"format_version\": \"1.0\"}"),
            .file(path: "src/__init__.py", contents: ""),
            .file(path: "src/main.py", contents: source),
            .file(path: "requirements.txt", contents: ""),
        ])
    }
}
