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
    /// The supervisor's own environment, for `${VAR:-default}` and PATH.
    public var hostEnvironment: [String: String]

    public init(
        agentID: String, packageID: String, packagePath: String, port: Int, supervisorURL: String,
        pythonWorkerPath: String, pythonExecutable: String = "python3",
        hostEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.agentID = agentID
        self.packageID = packageID
        self.packagePath = packagePath
        self.port = port
        self.supervisorURL = supervisorURL
        self.pythonWorkerPath = pythonWorkerPath
        self.pythonExecutable = pythonExecutable
        self.hostEnvironment = hostEnvironment
    }
}

extension LaunchPlan {
    /// Builds the plan: `command:` when the manifest has one, else the bundled Python
    /// worker for a `python*` runtime with an `entrypoint`.
    /// Environment order: manifest (expanded), then the request's, then the supervisor's own.
    public static func make(
        manifest: Manifest, packageDirectory: URL, requestEnvironment: [String: String], context: LaunchContext
    ) throws(PackageError) -> LaunchPlan {
        var environment: [String: String] = [:]
        for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER"] {
            if let value = context.hostEnvironment[key] { environment[key] = value }
        }
        for (key, value) in manifest.environment {
            environment[key] = expandVariables(value) { context.hostEnvironment[$0] }
        }
        environment.merge(requestEnvironment) { _, new in new }
        environment["PAR_PORT"] = String(context.port)
        environment["PORT"] = String(context.port)
        environment["PAR_AGENT_ID"] = context.agentID
        environment["PAR_PACKAGE_ID"] = context.packageID
        environment["PAR_PACKAGE_PATH"] = context.packagePath
        environment["PAR_MODE"] = "worker"
        environment["PAR_SUPERVISOR_URL"] = context.supervisorURL
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
            throw .unsupported(reason: "runtime \(runtime.debugDescription) is not supported without a command: list in agent.yaml; supported: python* runtimes with entrypoint: module:function, or any runtime with command: [program, args...]")
        }
        guard let entrypoint = manifest.entrypoint, Self.isValidEntrypoint(entrypoint) else {
            throw .invalidManifest(reason: "a python package needs entrypoint: module.path:function (e.g. src.main:handler), got \(manifest.entrypoint.map { $0.debugDescription } ?? "none")")
        }
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        return LaunchPlan(
            executable: context.pythonExecutable,
            arguments: [
                context.pythonWorkerPath, "--port", String(context.port), "--agent-id", context.agentID,
                "--package-path", context.packagePath, "--entrypoint", entrypoint, "--package-dir", directory,
            ],
            environment: environment,
            workingDirectory: directory
        )
    }

    static func isValidEntrypoint(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        let identifierChars = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "_."))
        return parts.allSatisfy { $0.unicodeScalars.allSatisfy(identifierChars.contains) }
    }
}
