import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the pixell tests need from PyPI, fetched once per checkout into
/// `.build/test-python/` and reused by every later run: a wheelhouse for offline installs
/// (so a flaky index cannot fail an install under test) and the pixell-kit demo package,
/// built by pixell-kit itself. Parallel tests take a file lock, so one of them fetches.
public enum PythonFixtures {
    /// The demo's requirements, as `pixell init` writes them.
    public static let demoRequirements = ["fastapi>=0.112.0", "uvicorn>=0.30.0", "watchdog>=4.0.0"]
    public static let pixellKit = "pixell-kit==0.4.12"

    public struct FixtureError: Error, CustomStringConvertible {
        public var description: String
    }

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/test-python", isDirectory: true)
    }

    /// A folder of wheels that satisfies `demoRequirements` with `--no-index`.
    public static func wheelhouse() throws -> URL {
        let directory = root.appendingPathComponent("wheelhouse", isDirectory: true)
        try once(marker: directory.appendingPathComponent(".complete")) {
            try? FileManager.default.removeItem(at: directory)
            try run([TinyAgent.resolvedPython(), "-m", "pip", "download", "--disable-pip-version-check", "-q", "-d", directory.path] + demoRequirements)
        }
        return directory
    }

    /// `demo-0.1.0.apkg` as `pixell init demo` and `pixell build` make it.
    public static func pixellDemo() throws -> URL {
        let output = root.appendingPathComponent("demo-0.1.0.apkg")
        try once(marker: root.appendingPathComponent("demo.complete")) {
            let venv = root.appendingPathComponent("pixell-kit", isDirectory: true)
            try? FileManager.default.removeItem(at: venv)
            try run([TinyAgent.resolvedPython(), "-m", "venv", venv.path])
            try run([venv.appendingPathComponent("bin/python").path, "-m", "pip", "install", "--disable-pip-version-check", "-q", pixellKit])
            let work = root.appendingPathComponent("demo-build-\(getpid())", isDirectory: true)
            try? FileManager.default.removeItem(at: work)
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let pixell = venv.appendingPathComponent("bin/pixell").path
            try run([pixell, "init", "demo"], in: work)
            let project = work.appendingPathComponent("demo")
            // pixell build refuses a project without .env; init writes only the example.
            try FileManager.default.copyItem(at: project.appendingPathComponent(".env.example"), to: project.appendingPathComponent(".env"))
            try run([pixell, "build"], in: project)
            try? FileManager.default.removeItem(at: output)
            try FileManager.default.copyItem(at: project.appendingPathComponent("demo-0.1.0.apkg"), to: output)
        }
        return output
    }

    /// Runs `make` unless `marker` exists, under a lock shared by parallel tests.
    private static func once(marker: URL, _ make: () throws -> Void) throws {
        if FileManager.default.fileExists(atPath: marker.path) { return }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let lock = open(root.appendingPathComponent(".lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw FixtureError(description: "cannot open the fixtures' lock in \(root.path)") }
        defer { close(lock) }
        flock(lock, LOCK_EX)
        if FileManager.default.fileExists(atPath: marker.path) { return }
        try make()
        FileManager.default.createFile(atPath: marker.path, contents: Data())
    }

    private static func run(_ argv: [String], in directory: URL? = nil) throws {
        let absolute = argv[0].hasPrefix("/")
        let (status, output) = try runProgram(
            URL(fileURLWithPath: absolute ? argv[0] : "/usr/bin/env"), absolute ? Array(argv.dropFirst()) : argv, in: directory
        )
        guard status == 0 else {
            throw FixtureError(description: "\(argv.joined(separator: " ")) failed (\(status)); it needs PyPI once per checkout:\n\(output.suffix(2000))")
        }
    }
}

/// Runs a program to the end: its exit status and everything it printed (both streams).
public func runProgram(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, in directory: URL? = nil
) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}
