import Foundation
import PARCore
import PARPackages
import PARProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the daemon builds Python packages' dependencies: `par serve` flags.
public struct EnvironmentSettings: Sendable, Equatable {
    /// `--python`: the one interpreter to use; nil finds them on PATH.
    public var interpreter: String?
    /// `--pip-index-url`; nil keeps the machine's pip configuration.
    public var pipIndexURL: String?
    /// `--wheelhouse DIR`: install offline from this folder of wheels.
    public var wheelhouse: String?
    /// One install (venv and pip together) is killed after this long.
    public var installTimeoutSeconds: Double
    /// Unused environments beyond this total size are removed, least recently used first.
    public var cacheMaxBytes: Int64
    /// Agents run as other users (`--agent-users`): only interpreters those can run count.
    public var agentsRunAsOtherUsers = false

    public init(
        interpreter: String? = nil, pipIndexURL: String? = nil, wheelhouse: String? = nil,
        installTimeoutSeconds: Double = 300, cacheMaxBytes: Int64 = 4 << 30
    ) {
        self.interpreter = interpreter
        self.pipIndexURL = pipIndexURL
        self.wheelhouse = wheelhouse
        self.installTimeoutSeconds = installTimeoutSeconds
        self.cacheMaxBytes = cacheMaxBytes
    }
}

/// Why a package's environment could not be had.
enum EnvironmentError: Error, Sendable, CustomStringConvertible {
    case noInterpreter(String)
    case installFailed(step: String, detail: String)
    case setup(String)

    var description: String {
        switch self {
        case .noInterpreter(let reason): reason
        case .installFailed(let step, let detail): "installing dependencies failed (\(step)): \(detail)"
        case .setup(let reason): "cannot prepare the dependencies' environment: \(reason)"
        }
    }
}

/// A built virtual environment, ready to run agents.
struct PythonEnvironment: Sendable, Equatable {
    var key: String
    var directory: URL
    var python: String { directory.appendingPathComponent("bin/python").path }
}

/// What building one environment needs.
struct EnvironmentJob: Sendable {
    var key: String
    var requirements: Requirements
    var interpreter: PythonInterpreter
    /// The environment's python, which runs the agent once it exists.
    var python: String
}

/// The virtual environments of Python packages, one per requirement set and interpreter
/// (`EnvironmentCachePolicy.key`), under `<data>/envs`, kept across daemon restarts.
/// Concurrent requests for one environment wait for one build. An environment is built in
/// place and is ready once its `par-env.json` exists (written last), so a build cut short
/// by a crash is seen as unfinished and built again.
actor PythonEnvironments {
    nonisolated let root: URL
    nonisolated let pipCache: URL
    nonisolated let settings: EnvironmentSettings
    nonisolated let helpers: HelperProcesses
    /// With `--agent-users` (a root daemon), each install runs as a uid of the agents'
    /// range, held for the install alone: a package's build code never runs as root.
    nonisolated let installers: IdentityLedger?
    private let hostEnvironment: [String: String]
    /// The machine's interpreters, looked for once (concurrent first spawns share the look).
    private var discovery: Task<[PythonInterpreter], Never>?
    private var builds: [String: Task<Result<PythonEnvironment, EnvironmentError>, Never>] = [:]
    /// Who sees each running build's output (every agent waiting for it); called from the
    /// reactor's thread, in the order pip printed.
    private nonisolated let listeners = Mutex<[String: [@Sendable ([String]) -> Void]]>([:])

    static let markerName = "par-env.json"

    init(
        root: URL, pipCache: URL, settings: EnvironmentSettings, helpers: HelperProcesses, installers: IdentityLedger? = nil,
        hostEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.installers = installers
        self.root = root
        self.pipCache = pipCache
        self.settings = settings
        self.helpers = helpers
        self.hostEnvironment = hostEnvironment
    }

    // MARK: Interpreters

    /// The interpreter for a package's `runtime:`; the machine's are looked for once.
    func interpreter(for runtime: String?) async throws(EnvironmentError) -> PythonInterpreter {
        let installed = await discoverInterpreters()
        guard let chosen = InterpreterChoice.choose(runtime: runtime, installed: installed) else {
            throw .noInterpreter(InterpreterChoice.noneFits(runtime: runtime, installed: installed))
        }
        return chosen
    }

    private func discoverInterpreters() async -> [PythonInterpreter] {
        if let discovery { return await discovery.value }
        let task = Task { await self.probeInterpreters() }
        discovery = task
        return await task.value
    }

    private func probeInterpreters() async -> [PythonInterpreter] {
        let candidates = settings.interpreter.map { [$0] } ?? Self.candidates(path: hostEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        let helpers = self.helpers
        let environment = helperEnvironment()
        let probe = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])"
        let found = await withTaskGroup(of: (Int, PythonInterpreter?).self) { group in
            for (index, candidate) in candidates.enumerated() {
                group.addTask {
                    let deadline = ContinuousClock.now + .seconds(10)
                    guard let outcome = try? await helpers.run([candidate, "-c", probe], environment: environment, workingDirectory: "/", deadline: deadline),
                          outcome.termination == .exited(code: 0), outcome.lastLines.count >= 2 else { return (index, nil) }
                    let lines = outcome.lastLines.suffix(2).map { $0 }
                    let parts = lines[1].split(separator: ".").compactMap { Int($0) }
                    guard parts.count == 3, lines[0].hasPrefix("/") else { return (index, nil) }
                    return (index, PythonInterpreter(path: lines[0], major: parts[0], minor: parts[1], micro: parts[2]))
                }
            }
            var all: [(Int, PythonInterpreter?)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }.compactMap(\.1)
        }
        // Several names lead to one program (python3, python3.11, a shim): keep the first.
        var seen = Set<String>()
        let usable = settings.agentsRunAsOtherUsers ? found.filter { Spawner.runnableByOthers($0.path) } : found
        return usable.filter { seen.insert($0.path).inserted }
    }

    /// `python3` and `python3.N` in each PATH folder, in PATH order, each real file once.
    nonisolated static func candidates(path: String) -> [String] {
        var result: [String] = []
        var seen = Set<String>()
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: String(directory)) else { continue }
            let pythons = names.filter { name in
                guard name.hasPrefix("python3") else { return false }
                let rest = name.dropFirst("python3".count)
                return rest.isEmpty || (rest.hasPrefix(".") && rest.dropFirst().allSatisfy(\.isNumber) && rest.count > 1)
            }.sorted()
            for name in pythons {
                let full = "\(directory)/\(name)"
                guard FileManager.default.isExecutableFile(atPath: full) else { continue }
                let real = Supervisor.realPath(full) ?? full
                if seen.insert(real).inserted { result.append(full) }
            }
        }
        return result
    }

    // MARK: Environments

    nonisolated func directory(for key: String) -> URL { root.appendingPathComponent(key, isDirectory: true) }

    /// The environment when it is built and whole; marks it used now (for eviction).
    nonisolated func ready(_ key: String) -> PythonEnvironment? {
        let directory = directory(for: key)
        let marker = directory.appendingPathComponent(Self.markerName).path
        guard FileManager.default.fileExists(atPath: marker),
              FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("bin/python").path) else { return nil }
        _ = utimes(marker, nil)
        return PythonEnvironment(key: key, directory: directory)
    }

    /// The environment of `job`, building it unless it exists; one build per key however
    /// many agents ask. `onLines` receives the build's output while this caller waits.
    func ensure(_ job: EnvironmentJob, onLines: @escaping @Sendable ([String]) -> Void) async -> Result<PythonEnvironment, EnvironmentError> {
        if let environment = ready(job.key) {
            onLines(["dependencies already installed: reusing environment \(job.key) (python \(job.interpreter.version))"])
            return .success(environment)
        }
        listeners.withLock { $0[job.key, default: []].append(onLines) }
        let build: Task<Result<PythonEnvironment, EnvironmentError>, Never>
        if let running = builds[job.key] {
            onLines(["waiting for the install of environment \(job.key) already under way"])
            build = running
        } else {
            build = Task { await self.build(job) }
            builds[job.key] = build
        }
        let result = await build.value
        if builds[job.key] == build {
            builds[job.key] = nil
            listeners.withLock { $0[job.key] = nil }
        }
        return result
    }

    private nonisolated func announce(_ key: String, _ lines: [String]) {
        for listener in listeners.withLock({ $0[key] ?? [] }) { listener(lines) }
    }

    private func build(_ job: EnvironmentJob) async -> Result<PythonEnvironment, EnvironmentError> {
        let directory = directory(for: job.key)
        let fm = FileManager.default
        let deadline = ContinuousClock.now + .milliseconds(Int64(settings.installTimeoutSeconds * 1000))
        var environment = helperEnvironment()
        let key = job.key
        let relay: @Sendable ([String]) -> Void = { lines in self.announce(key, lines) }
        var builder: AgentIdentity?
        if let installers {
            guard let taken = installers.take(preferring: nil) else {
                return .failure(.setup("no uid of \(installers.range.lowerBound)-\(installers.range.upperBound) is free to install as (installs never run as root); widen par serve --agent-users"))
            }
            builder = taken
        }
        // Whatever the install left running goes before its uid is given back.
        defer {
            if let builder {
                ProcTable.killAll(ofUID: builder.uid)
                installers?.release(builder)
            }
        }
        let home = directory.appendingPathComponent(".par-home")
        do {
            // An unfinished build (the daemon died during it) is started over.
            if fm.fileExists(atPath: directory.path) { try fm.removeItem(at: directory) }
            try fm.createDirectory(at: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try fm.createDirectory(at: pipCache, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if let builder {
                // The install's own: the folder it fills (open to agents, which run from it)
                // and a HOME; the daemon's pip cache is not.
                try fm.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
                try fm.createDirectory(at: home, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                try Supervisor.changeOwner(below: directory.path, to: builder)
                environment["HOME"] = home.path
            }
        } catch {
            try? fm.removeItem(at: directory)
            return .failure(.setup("\(directory.path): \(error)"))
        }
        announce(key, ["installing \(job.requirements.lines.count) requirement(s) into environment \(key) with python \(job.interpreter.version) (\(job.interpreter.path))"])
        let started = ContinuousClock.now
        let steps: [(name: String, argv: [String])] = [
            ("python -m venv", [job.interpreter.path, "-m", "venv", directory.path]),
            ("pip install", [directory.appendingPathComponent("bin/python").path, "-m", "pip", "install"] + pipOptions(cached: builder == nil) + ["-r", directory.appendingPathComponent("par-requirements.txt").path]),
        ]
        for (index, step) in steps.enumerated() {
            if index == 1 {
                do {
                    try job.requirements.fileText.write(to: directory.appendingPathComponent("par-requirements.txt"), atomically: true, encoding: .utf8)
                } catch {
                    try? fm.removeItem(at: directory)
                    return .failure(.setup("cannot write the requirements: \(error.localizedDescription)"))
                }
            }
            let outcome: HelperProcesses.Outcome
            do {
                outcome = try await helpers.run(step.argv, environment: environment, workingDirectory: builder == nil ? root.path : home.path, deadline: deadline, identity: builder, onLines: relay)
            } catch {
                try? fm.removeItem(at: directory)
                return .failure(.setup("cannot run \(step.name): \(error)"))
            }
            guard outcome.termination == .exited(code: 0) else {
                try? fm.removeItem(at: directory)
                let why = outcome.timedOut
                    ? "it did not finish within the install limit of \(Int(settings.installTimeoutSeconds)) s (par serve --install-timeout)"
                    : "it ended with \(outcome.termination)"
                let tail = outcome.lastLines.suffix(8).joined(separator: "\n")
                return .failure(.installFailed(step: step.name, detail: why + (tail.isEmpty ? "" : "; its last lines:\n" + tail)))
            }
        }
        if builder != nil {
            // Built: the daemon's from now on, read-only to every agent and to later installs.
            do {
                ProcTable.killAll(ofUID: builder!.uid)
                try? fm.removeItem(at: home)
                try Supervisor.changeOwner(below: directory.path, to: AgentIdentity(uid: getuid(), gid: getgid()))
                Self.closeToWriters(directory.path)
            } catch {
                try? fm.removeItem(at: directory)
                return .failure(.setup("cannot take over the built environment: \(error)"))
            }
        }
        let seconds = (ContinuousClock.now - started).seconds
        let bytes = Self.size(of: directory)
        let marker: [String: Any] = [
            "key": key, "python": job.interpreter.path, "python_version": job.interpreter.version,
            "requirements": job.requirements.lines, "created_at": Date().timeIntervalSince1970,
            "bytes": bytes, "install_seconds": seconds,
        ]
        do {
            let data = try JSONSerialization.data(withJSONObject: marker, options: [.sortedKeys])
            try data.write(to: directory.appendingPathComponent(Self.markerName), options: .atomic)
        } catch {
            try? fm.removeItem(at: directory)
            return .failure(.setup("cannot write \(Self.markerName): \(error.localizedDescription)"))
        }
        announce(key, [String(format: "dependencies installed in %.1f s (environment %@, %.1f MiB)", seconds, key, Double(bytes) / 1_048_576)])
        return .success(PythonEnvironment(key: key, directory: directory))
    }

    /// Strips group and other write from everything below `path` (links are left alone).
    nonisolated static func closeToWriters(_ path: String) {
        var pending = [path]
        while let current = pending.popLast() {
            var info = stat()
            guard lstat(current, &info) == 0, (info.st_mode & S_IFMT) != S_IFLNK else { continue }
            chmod(current, info.st_mode & 0o7755)
            if (info.st_mode & S_IFMT) == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: current) {
                pending.append(contentsOf: names.map { current + "/" + $0 })
            }
        }
    }

    /// `cached`: the daemon's pip cache, for installs that run as the daemon; an install
    /// as another uid must not write a cache later installs read (a poisoned wheel).
    private func pipOptions(cached: Bool) -> [String] {
        var options = ["--disable-pip-version-check", "--no-input", "--no-warn-script-location", "--progress-bar", "off"]
        options += cached ? ["--cache-dir", pipCache.path] : ["--no-cache-dir"]
        if let wheelhouse = settings.wheelhouse {
            options += ["--no-index", "--find-links", wheelhouse]
        } else if let index = settings.pipIndexURL {
            options += ["--index-url", index]
        }
        return options
    }

    /// The machine's pip configuration (PIP_* and the config files HOME points at) is kept.
    private func helperEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for (key, value) in hostEnvironment where key.hasPrefix("PIP_") || ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"].contains(key) {
            environment[key] = value
        }
        environment["PATH"] = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        environment["PIP_ROOT_USER_ACTION"] = "ignore"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return environment
    }

    // MARK: Eviction

    /// Removes unused environments, least recently used first, until the rest fit the cap.
    /// Builds under way and `inUse` keys are never touched.
    func evict(inUse: Set<String>) -> [String] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: root.path) else { return [] }
        var entries: [EnvironmentCachePolicy.Entry] = []
        for name in names where builds[name] == nil {
            let marker = directory(for: name).appendingPathComponent(Self.markerName)
            guard let data = try? Data(contentsOf: marker),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let attributes = try? fm.attributesOfItem(atPath: marker.path),
                  let modified = attributes[.modificationDate] as? Date else { continue }
            let bytes = (object["bytes"] as? NSNumber)?.int64Value ?? 0
            entries.append(.init(key: name, bytes: bytes, lastUsed: modified.timeIntervalSince1970, inUse: inUse.contains(name)))
        }
        let doomed = EnvironmentCachePolicy.evictions(entries, maxBytes: settings.cacheMaxBytes)
        for key in doomed { try? fm.removeItem(at: directory(for: key)) }
        return doomed
    }

    /// Bytes on disk below `directory`, as `du` counts them: links are not followed
    /// (a venv's `lib64` is a link to `lib`).
    nonisolated static func size(of directory: URL) -> Int64 {
        var total: Int64 = 0
        var pending = [directory.path]
        while let path = pending.popLast() {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            total += Int64(info.st_blocks) * 512
            if (info.st_mode & S_IFMT) == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                pending.append(contentsOf: names.map { path + "/" + $0 })
            }
        }
        return total
    }

    /// The daemon is stopping: running installs are killed (their builds then fail).
    func shutdown() async {
        helpers.killAll()
        for build in builds.values { _ = await build.value }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
