import Foundation
import PARClient
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// Runs the real `par serve` binary on an ephemeral port with its own temp dirs, for
/// end-to-end tests and the bench. `stop()` (or deinit) ends it and removes the dirs.
public final class DaemonHarness: @unchecked Sendable {
    public let root: URL
    public let dataDirectory: URL
    public let packageDirectory: URL
    public let token = UUID().uuidString.lowercased()
    public private(set) var port = 0
    public let portRange: ClosedRange<Int>
    public let process: Process
    private let output = OutputCollector()
    /// The daemon's stdout and stderr. Its reading handler must be gone before the pipe is
    /// freed: a descriptor closed under a live dispatch source crashes dispatch's event loop
    /// (seen once in CI, in the test process, as a harness went away).
    private let outputPipe = Pipe()
    private let outputEnded = DispatchSemaphore(value: 0)
    private var outputDetached = false

    public enum HarnessError: Error, CustomStringConvertible {
        case binaryNotFound([String])
        case didNotStart(String)
        public var description: String {
            switch self {
            case .binaryNotFound(let places): "par binary not found (looked in \(places.joined(separator: ", "))); run `swift build` first"
            case .didNotStart(let output): "par serve did not start: \(output)"
            }
        }
    }

    /// - Parameters:
    ///   - agentPorts: how many agent ports to reserve (a range no other harness uses).
    ///   - root: a folder of an earlier harness to start on again (its data dir and packages).
    ///   - portRange: an earlier harness's agent ports, so restored agents can keep theirs.
    public init(agentPorts: Int = 50, extraArguments: [String] = [], environment: [String: String] = [:], root existingRoot: URL? = nil, portRange existingRange: ClosedRange<Int>? = nil) throws {
        root = existingRoot ?? FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        dataDirectory = root.appendingPathComponent("data")
        packageDirectory = root.appendingPathComponent("packages")
        try FileManager.default.createDirectory(at: packageDirectory, withIntermediateDirectories: true)
        portRange = existingRange ?? Self.reservePortRange(count: agentPorts)

        process = Process()
        process.executableURL = try Self.locateBinary()
        process.arguments = [
            "serve", "--port", "0", "--data-dir", dataDirectory.path,
            "--port-range", "\(portRange.lowerBound)-\(portRange.upperBound)",
            "--package-dir", packageDirectory.path,
            // The dashboard on a free port too (the default, the API port minus one, could be
            // in another test's agent ports when a test restarts a daemon on its old port).
            "--ui-port", "0",
            // A test run that is killed takes its daemons (and their agents) with it.
            "--exit-with-parent",
        ] + extraArguments
        var env = ProcessInfo.processInfo.environment
        env["PAR_TOKEN"] = token
        env.merge(environment) { _, new in new }
        process.environment = env
        process.currentDirectoryURL = root
        let pipe = outputPipe
        process.standardOutput = pipe
        process.standardError = pipe
        let collector = output
        let ended = outputEnded
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                ended.signal()
            } else {
                collector.append(data)
            }
        }
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let port = output.listeningPort() {
                self.port = port
                return
            }
            if !process.isRunning { break }
            usleep(10_000)
        }
        // Files the caller brought stay for it to inspect.
        keepFiles = existingRoot != nil
        stop()
        // The reading handler goes before the pipe does (freeing a pipe under a live
        // handler crashes the dispatch loop); what it had not read yet is read here.
        outputDetached = true
        pipe.fileHandleForReading.readabilityHandler = nil
        // The handler may already have met the end and let the descriptor go: the throwing
        // read (not `readDataToEndOfFile`, which traps on a closed descriptor).
        if let rest = try? pipe.fileHandleForReading.readToEnd() { output.append(rest) }
        throw HarnessError.didNotStart(output.text)
    }

    deinit { stop() }

    public var log: String { output.text }

    /// The dashboard's own port (it starts beside the API and prints its line a moment
    /// later); nil when the daemon runs without one.
    public func dashboardPort(timeoutSeconds: Double = 10) -> Int? {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        repeat {
            if let port = output.dashboardPort() { return port }
            usleep(10_000)
        } while Date() < deadline && process.isRunning
        return output.dashboardPort()
    }

    public func client(token: String? = nil, timeoutSeconds: Int = 60) -> PARAPIClient {
        PARAPIClient(port: port, token: token ?? self.token, timeoutSeconds: timeoutSeconds)
    }

    /// Writes a package into the allowed package directory and returns its path.
    public func install(_ builder: APKGBuilder, name: String = UUID().uuidString) throws -> String {
        let url = packageDirectory.appendingPathComponent("\(name).apkg")
        try builder.write(to: url)
        return url.path
    }

    /// SIGTERM, then SIGKILL after `timeoutSeconds`; returns the exit status.
    @discardableResult
    public func terminate(timeoutSeconds: Double = 30) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    /// Ends the daemon (if running) and removes every temp dir, unless `keepFiles` was set.
    public func stop() {
        if process.isRunning { terminate() }
        detachOutput()
        if !keepFiles { try? FileManager.default.removeItem(at: root) }
    }

    /// Once the daemon has exited, waits for the reading handler to meet the end of its
    /// output (it then removes itself), or removes it after 5 s (a process it left behind
    /// still holds the pipe), so the pipe is never freed under it.
    private func detachOutput() {
        guard !outputDetached, !process.isRunning else { return }
        outputDetached = true
        if outputEnded.wait(timeout: .now() + 5) == .timedOut {
            outputPipe.fileHandleForReading.readabilityHandler = nil
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would, leaving its agents and files behind.
    public func crash() {
        keepFiles = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        detachOutput()
    }

    /// Set by `crash()`, so a second harness can start on the same root; cleared by that harness.
    public var keepFiles = false

    public static func locateBinary() throws -> URL {
        var places: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["PAR_BINARY"] { places.append(explicit) }
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = own.deletingLastPathComponent()
        for _ in 0..<5 {
            places.append(directory.appendingPathComponent("par").path)
            directory = directory.deletingLastPathComponent()
        }
        places.append(FileManager.default.currentDirectoryPath + "/.build/debug/par")
        for place in places where FileManager.default.isExecutableFile(atPath: place) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: place, isDirectory: &isDirectory), !isDirectory.boolValue {
                return URL(fileURLWithPath: place)
            }
        }
        throw HarnessError.binaryNotFound(places)
    }

    /// Hands each harness in this machine a distinct range: one name per block of ports in
    /// the abstract socket namespace, bound for the life of the process. The kernel frees
    /// the name when the process ends, however it ends, and nothing is left in /tmp.
    public static func reservePortRange(count: Int) -> ClosedRange<Int> {
        let blockSize = max(count, 50) / 50 * 50 + (max(count, 50) % 50 == 0 ? 0 : 50)
        // Below the kernel's ephemeral range (32768 and up here), so client sockets of
        // other tests never hold a port a harness hands to its agents.
        let blocks = (32_000 - 12_000) / blockSize
        var start = Int.random(in: 0..<blocks)
        for _ in 0..<blocks {
            let low = 12_000 + start * blockSize
            if let fd = MachineClaim.hold("par-test-ports-\(low)-\(blockSize)") {
                // The lock keeps harnesses apart; a port that something else holds (a daemon
                // started by hand, another program) would still fail a test that counts
                // free ports, so such a block is passed over.
                if (low...(low + count - 1)).allSatisfy({ PortProbe.isFree($0) }) {
                    PortLocks.shared.keep(fd)
                    return low...(low + count - 1)
                }
                close(fd)
            }
            start = (start + 1) % blocks
        }
        return 12_000...(12_000 + count - 1)
    }
}

/// Port-range lock fds live as long as the test process.
final class PortLocks: @unchecked Sendable {
    static let shared = PortLocks()
    private let lock = NSLock()
    private var fds: [Int32] = []
    func keep(_ fd: Int32) { lock.lock(); fds.append(fd); lock.unlock() }
}

final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) { lock.lock(); data.append(chunk); lock.unlock() }

    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }

    func dashboardPort() -> Int? {
        let text = self.text
        guard let range = text.range(of: "par dashboard on http://127.0.0.1:") else { return nil }
        return Int(text[range.upperBound...].prefix(while: \.isNumber))
    }

    func listeningPort() -> Int? {
        let text = self.text
        guard let range = text.range(of: "par listening on http://127.0.0.1:") else { return nil }
        return Int(text[range.upperBound...].prefix(while: \.isNumber))
    }
}
