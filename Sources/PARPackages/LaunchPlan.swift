import Foundation

/// Everything needed to start an agent's process: no decisions left for the spawner.
public struct LaunchPlan: Sendable, Equatable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String

    public var argv: [String] { [executable] + arguments }
}

/// What the supervisor contributes to every agent's environment.
public struct LaunchContext: Sendable {
    public var agentID: String
    public var packageID: String
    public var packagePath: String
    public var port: Int
    public var supervisorURL: String
    /// The bundled Python worker script, for `entrypoint` packages.
    public var pythonWorkerPath: String
    public var pythonExecutable: String
    /// The agent's second port, for a package with an `a2a:` surface.
    public var a2aPort: Int?
    /// The supervisor's own environment, for PATH and the like, and for `${VAR}` in a
    /// manifest only where `expansionAllowList` names the variable.
    public var hostEnvironment: [String: String]
    /// Daemon variables a manifest's `${VAR}` may read (`par serve --env-allow`).
    public var expansionAllowList: Set<String> = []
    /// The agent's private writable folder: its HOME, with TMPDIR below it.
    public var workDirectory: String?

    public init(
        agentID: String, packageID: String, packagePath: String, port: Int, supervisorURL: String,
        pythonWorkerPath: String, pythonExecutable: String = "python3", a2aPort: Int? = nil,
        hostEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.agentID = agentID
        self.packageID = packageID
        self.packagePath = packagePath
        self.port = port
        self.supervisorURL = supervisorURL
        self.pythonWorkerPath = pythonWorkerPath
        self.pythonExecutable = pythonExecutable
        self.a2aPort = a2aPort
        self.hostEnvironment = hostEnvironment
    }
}

extension LaunchPlan {
    /// Builds the plan: `command:` when the manifest has one, else the bundled Python
    /// worker for a `python*` runtime with an `entrypoint`.
    /// Environment order, each over the one before: the host's basics (PATH, HOME...), the
    /// package's `.env`, the manifest's `environment` (expanded), the request's `env_vars`,
    /// then the supervisor's own `PAR_*` values.
    public static func make(
        manifest: Manifest, packageDirectory: URL, requestEnvironment: [String: String], context: LaunchContext
    ) throws(PackageError) -> LaunchPlan {
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"] {
            if let value = context.hostEnvironment[key] { environment[key] = value }
        }
        var own: [String: String] = [
            "PAR_PORT": String(context.port), "PORT": String(context.port), "REST_PORT": String(context.port),
            "PAR_AGENT_ID": context.agentID, "PAR_PACKAGE_ID": context.packageID, "PAR_PACKAGE_PATH": context.packagePath,
            "PAR_MODE": "worker", "PAR_SUPERVISOR_URL": context.supervisorURL,
        ]
        if let a2aPort = context.a2aPort {
            own["PAR_A2A_PORT"] = String(a2aPort)
            own["A2A_PORT"] = String(a2aPort)
        }
        if let work = context.workDirectory {
            own["PAR_WORK_DIR"] = work
            own["HOME"] = work
            own["TMPDIR"] = work + "/tmp"
        }
        environment.merge(Self.dotEnv(in: packageDirectory)) { _, new in new }
        // A package is someone else's code: its `${VAR}` reads the request's values, the
        // supervisor's own and what the operator allowed, never the daemon's secrets.
        let lookup: (String) -> String? = { name in
            requestEnvironment[name] ?? own[name] ?? (context.expansionAllowList.contains(name) ? context.hostEnvironment[name] : nil)
        }
        for (key, value) in manifest.environment {
            environment[key] = expandVariables(value, lookup: lookup)
        }
        environment.merge(requestEnvironment) { _, new in new }
        environment.merge(own) { _, new in new }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/bin:/usr/bin:/bin" }

        let directory = packageDirectory.path
        if let command = manifest.command {
            var program = command[0]
            if !program.hasPrefix("/") && program.contains("/") {
                // Relative program paths resolve inside the package, never above it.
                let resolved = packageDirectory.appendingPathComponent(program).standardizedFileURL.path
                guard resolved.hasPrefix(directory + "/") else {
                    throw .invalidManifest(reason: "command program \(program) leaves the package")
                }
                program = resolved
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: program, isDirectory: &isDirectory), !isDirectory.boolValue,
                      FileManager.default.isExecutableFile(atPath: program) else {
                    throw .invalidManifest(reason: "command program \(command[0]) is not an executable file in the package")
                }
            }
            return LaunchPlan(executable: program, arguments: Array(command.dropFirst()), environment: environment, workingDirectory: directory)
        }

        let runtime = manifest.runtime ?? "python3"
        guard runtime.hasPrefix("python") else {
            throw .unsupported(reason: "runtime \(runtime.debugDescription) is not run by this supervisor's bundled worker (it runs python* runtimes: entrypoint and rest/ui/a2a surfaces); give the package a command: [program, args...] in agent.yaml to run it as a plain program")
        }
        let surfaces = manifest.surfaces
        if let entrypoint = manifest.entrypoint {
            guard Self.isValidEntrypoint(entrypoint) else {
                throw .invalidManifest(reason: "entrypoint must be module.path:function (e.g. src.main:handler), got \(entrypoint.debugDescription)")
            }
        } else if surfaces.isEmpty {
            throw .invalidManifest(reason: "a python package needs entrypoint: module.path:function (e.g. src.main:handler), or a rest:, ui: or a2a: surface")
        }
        var arguments = [
            context.pythonWorkerPath, "--port", String(context.port), "--agent-id", context.agentID,
            "--package-path", context.packagePath, "--package-dir", directory,
        ]
        if let entrypoint = manifest.entrypoint { arguments += ["--entrypoint", entrypoint] }
        if let rest = surfaces.restEntry { arguments += ["--rest", rest] }
        if let uiPath = surfaces.uiPath { arguments += ["--ui-dir", try Self.uiDirectory(uiPath, in: packageDirectory)] }
        if let service = surfaces.a2aService {
            guard let a2aPort = context.a2aPort else {
                throw .unsupported(reason: "the a2a: surface needs a second port, which was not given")
            }
            arguments += ["--a2a", service, "--a2a-port", String(a2aPort)]
        }
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return LaunchPlan(executable: context.pythonExecutable, arguments: arguments, environment: environment, workingDirectory: directory)
    }

    /// The `ui:` folder: as named, else below `dist/` (where `pixell build` puts it).
    /// It must be a folder inside the package.
    static func uiDirectory(_ path: String, in packageDirectory: URL) throws(PackageError) -> String {
        let root = packageDirectory.standardizedFileURL.path
        for candidate in [path, "dist/" + path] {
            let resolved = packageDirectory.appendingPathComponent(candidate).standardizedFileURL.resolvingSymlinksInPath().path
            guard resolved == root || resolved.hasPrefix(root + "/") else {
                throw .invalidManifest(reason: "ui.path \(path.debugDescription) leaves the package")
            }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue { return resolved }
        }
        throw .invalidManifest(reason: "ui.path \(path.debugDescription) is not a folder in the package (looked for \(path)/ and dist/\(path)/)")
    }

    /// The package's `.env`, if it has a small regular one.
    static func dotEnv(in packageDirectory: URL) -> [String: String] {
        let url = packageDirectory.appendingPathComponent(".env")
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              attributes[.type] as? FileAttributeType == .typeRegular,
              let size = attributes[.size] as? NSNumber, size.intValue <= 1 << 20,
              let text = try? String(contentsOf: url, encoding: .utf8) else { return [:] }
        return DotEnv.parse(text)
    }

    /// The `rest:` surface runs on FastAPI and uvicorn from the package's environment:
    /// without them among its requirements it could never start, so it is refused up front.
    public static func checkSurfaceDependencies(_ manifest: Manifest, requirements: Requirements) throws(PackageError) {
        guard manifest.command == nil, manifest.surfaces.restEntry != nil else { return }
        let missing = ["fastapi", "uvicorn"].filter { !requirements.names.contains($0) }
        guard missing.isEmpty else {
            throw .unsupported(reason: "the rest: surface runs on FastAPI and uvicorn, which this package does not list: add \(missing.joined(separator: " and ")) to dependencies: in agent.yaml (or requirements.txt)")
        }
    }

    static func isValidEntrypoint(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        let identifierChars = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_."))
        return parts.allSatisfy { $0.unicodeScalars.allSatisfy(identifierChars.contains) }
    }
}
