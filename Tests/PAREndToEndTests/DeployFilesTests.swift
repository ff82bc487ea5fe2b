import Foundation
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The files in deploy/ as shipped: the systemd unit passes `systemd-analyze verify`, and
/// the example config passes `par serve --check-config` with the real binary.
@Suite("Deploy files")
struct DeployFilesTests {
    @Test func systemdUnitVerifies() throws {
        let analyzer = "/usr/bin/systemd-analyze"
        guard FileManager.default.isExecutableFile(atPath: analyzer) else {
            print("skipped systemdUnitVerifies: \(analyzer) does not exist")
            return
        }
        let root = try #require(Self.repositoryRoot(), "no folder above \(#filePath) holds Package.swift")
        let unit = try String(contentsOf: root.appendingPathComponent("deploy/par.service"), encoding: .utf8)
        let lines = unit.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for setting in ["Delegate=yes", "KillMode=mixed", "Restart=on-failure"] {
            #expect(lines.contains(setting), "deploy/par.service lacks \(setting)")
        }
        #expect(lines.contains(where: { $0.hasPrefix("ExecReload=") }), "deploy/par.service lacks ExecReload")

        // verify checks that ExecStart's program exists: point it at the built binary.
        let binary = try DaemonHarness.locateBinary()
        let installed = "ExecStart=/usr/local/bin/par "
        #expect(lines.contains(where: { $0.hasPrefix(installed) }), "ExecStart does not run /usr/local/bin/par")
        let copy = lines.map { $0.hasPrefix(installed) ? "ExecStart=\(binary.path) " + $0.dropFirst(installed.count) : $0 }
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let unitCopy = folder.appendingPathComponent("par.service")
        try copy.joined(separator: "\n").write(to: unitCopy, atomically: true, encoding: .utf8)

        let result = try Self.run(analyzer, ["verify", unitCopy.path])
        #expect(result.status == 0, "systemd-analyze verify: \(result.output)")
        // An unknown key or a value it cannot parse is only a warning (exit 0) naming the file.
        let complaints = result.output.split(separator: "\n").filter {
            $0.contains(unitCopy.lastPathComponent) && ($0.contains("Unknown") || $0.contains("Failed"))
        }
        #expect(complaints.isEmpty, "systemd-analyze verify: \(result.output)")
    }

    @Test func exampleConfigPassesCheckConfig() throws {
        let root = try #require(Self.repositoryRoot(), "no folder above \(#filePath) holds Package.swift")
        let example = try String(contentsOf: root.appendingPathComponent("deploy/par.yaml"), encoding: .utf8)
        let folder = try Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }

        // The example's absolute folders (data_dir, package_dirs, package paths) move into
        // the temp folder; everything else stays as written.
        var text = example
        for absolute in ["/var/lib/par", "/srv/agents"] {
            text = text.replacingOccurrences(of: absolute, with: folder.path + absolute)
            try FileManager.default.createDirectory(atPath: folder.path + absolute, withIntermediateDirectories: true)
        }
        let config = folder.appendingPathComponent("par.yaml")
        try text.write(to: config, atomically: true, encoding: .utf8)

        // A package wherever the copy expects one, so the check finds real archives.
        let packages = Self.packagePaths(in: text, configFolder: folder)
        #expect(packages.count >= 2, "the example names \(packages.count) package paths")
        for path in packages {
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let name = url.deletingPathExtension().lastPathComponent
            try APKGBuilder.commandPackage(name: name, script: "exec sleep 1000").write(to: url)
        }

        // ${NAME} needs a value from the environment; ${NAME:-default} falls back to its default.
        let variables = Self.referencedVariables(in: text)
        var environment = ProcessInfo.processInfo.environment
        for name in variables.defaulted.subtracting(variables.required) { environment.removeValue(forKey: name) }
        for name in variables.required { environment[name] = "test-value-\(name.lowercased())" }
        #expect(!variables.required.isEmpty, "the example shows no ${VAR} secret")

        let result = try Self.run(try DaemonHarness.locateBinary().path, ["serve", "--check-config", "--config", config.path], environment: environment, directory: folder)
        #expect(result.status == 0, "par serve --check-config: \(result.output)")
    }

    // MARK: - Helpers

    /// The nearest folder above this file that holds Package.swift.
    static func repositoryRoot(file: String = #filePath) -> URL? {
        var folder = URL(fileURLWithPath: file).deletingLastPathComponent()
        while folder.path != "/" {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) { return folder }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }

    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("par-deploy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The `package_path:` values of a config file (comments and quotes stripped), made
    /// absolute against the file's folder.
    static func packagePaths(in text: String, configFolder: URL) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("package_path:") else { return nil }
            var value = Substring(trimmed.dropFirst("package_path:".count))
            if let comment = value.range(of: " #") { value = value[..<comment.lowerBound] }
            let path = value.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            guard !path.isEmpty else { return nil }
            return path.hasPrefix("/") ? path : configFolder.appendingPathComponent(path).path
        }
    }

    /// Names referenced as `${NAME}` (required) and as `${NAME:-default}`; `$$` is a literal `$`.
    static func referencedVariables(in text: String) -> (required: Set<String>, defaulted: Set<String>) {
        var required = Set<String>(), defaulted = Set<String>()
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            guard characters[index] == "$", index + 1 < characters.count else { index += 1; continue }
            if characters[index + 1] == "$" { index += 2; continue }
            guard characters[index + 1] == "{" else { index += 1; continue }
            var end = index + 2
            var name = ""
            while end < characters.count, characters[end].isASCII, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" {
                name.append(characters[end])
                end += 1
            }
            if !name.isEmpty, end < characters.count {
                if characters[end] == "}" {
                    required.insert(name)
                } else if characters[end] == ":", end + 1 < characters.count, characters[end + 1] == "-" {
                    defaulted.insert(name)
                }
            }
            index = end
        }
        return (required, defaulted)
    }

    /// Runs a program to its end (killed after `timeout` seconds): its exit status and
    /// everything it printed on stdout and stderr. Output goes through a file, so a
    /// program that never exits cannot block the test on a pipe.
    static func run(_ program: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil, timeout: Double = 60) throws -> (status: Int32, output: String) {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outputURL = folder.appendingPathComponent("output")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        defer { try? output.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        var timedOut = false
        if process.isRunning {
            timedOut = true
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        var text = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        if timedOut { text += "\n(killed after \(timeout) s)" }
        return (process.terminationStatus, text)
    }
}
