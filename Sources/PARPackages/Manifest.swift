import Foundation
import PARCore
import Yams

/// The parts of `agent.yaml` the supervisor acts on.
public struct Manifest: Sendable, Equatable {
    public var name: String
    public var version: String
    public var runtime: String?
    public var entrypoint: String?
    /// An argv list; when present it is what runs, whatever the runtime.
    public var command: [String]?
    public var environment: [String: String]
    /// The package's `health:` block, if any.
    public var health: HealthCheckConfig?
    /// `dependencies:`: pip requirement strings, as written.
    public var dependencies: [String]
    /// The pixell surfaces the bundled worker serves besides the entrypoint.
    public var surfaces: Surfaces
    /// `success_exit_codes:` and `no_restart_exit_codes:`; a spawn request's lists replace these.
    public var exitRules = ExitStatusRules()

    /// `rest: {entry}`, `ui: {path}`, `a2a: {service}`, as pixell-kit writes them.
    public struct Surfaces: Sendable, Equatable {
        /// `module:function` called with the FastAPI app to add the package's routes.
        public var restEntry: String?
        /// A folder of the package served at `/ui/`.
        public var uiPath: String?
        /// `module:function` run on the agent's second port (`A2A_PORT`).
        public var a2aService: String?

        public init(restEntry: String? = nil, uiPath: String? = nil, a2aService: String? = nil) {
            self.restEntry = restEntry
            self.uiPath = uiPath
            self.a2aService = a2aService
        }

        public var isEmpty: Bool { restEntry == nil && uiPath == nil && a2aService == nil }
    }

    /// The runtime's package id: `{name}@{version}`.
    public var packageID: String { "\(name)@\(version)" }

    /// Reads the YAML as written: scalars keep their text, so `version: 1.10` stays
    /// "1.10" and `007` stays "007" (a YAML loader would make them numbers).
    public init(yaml: String) throws(PackageError) {
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch {
            throw .invalidManifest(reason: "not valid YAML: \(error)")
        }
        guard let root = composed?.mapping else {
            throw .invalidManifest(reason: "expected a mapping at the top level")
        }
        func text(_ key: String) throws(PackageError) -> String? {
            guard let node = root[key] else { return nil }
            guard node.null == nil else { return nil }
            guard let scalar = node.scalar else { throw .invalidManifest(reason: "\(key) must be a single value, not a list or mapping") }
            return scalar.string
        }
        guard let name = try text("name"), !name.isEmpty else {
            throw .invalidManifest(reason: "name is required")
        }
        self.name = name
        self.version = try text("version") ?? "0.0.0"
        self.runtime = try text("runtime")
        self.entrypoint = try text("entrypoint")
        if let node = root["command"] {
            guard let list = node.sequence, !list.isEmpty else {
                throw .invalidManifest(reason: "command must be a non-empty list of strings (an argv), e.g. [\"./bin/agent\", \"--flag\"]")
            }
            self.command = try list.map { item throws(PackageError) -> String in
                guard let scalar = item.scalar else { throw .invalidManifest(reason: "command must be a list of strings") }
                return scalar.string
            }
        } else {
            self.command = nil
        }
        var environment: [String: String] = [:]
        if let node = root["environment"], node.null == nil {
            guard let map = node.mapping else {
                throw .invalidManifest(reason: "environment must be a mapping of names to values")
            }
            for (key, value) in map {
                guard let name = key.scalar?.string else { throw .invalidManifest(reason: "environment names must be strings") }
                if value.null != nil {
                    environment[name] = ""
                } else if let scalar = value.scalar {
                    environment[name] = scalar.string
                } else {
                    throw .invalidManifest(reason: "environment.\(name) must be a single value")
                }
            }
        }
        self.environment = environment
        if let node = root["health"], node.null == nil {
            guard let map = node.mapping else {
                throw .invalidManifest(reason: "health must be a mapping, e.g. {type: http, path: /health}")
            }
            var object: [String: Any] = [:]
            for (key, value) in map {
                guard let name = key.scalar?.string, let scalar = value.scalar else {
                    throw .invalidManifest(reason: "health values must be single values")
                }
                object[name] = Double(scalar.string).map { NSNumber(value: $0) } ?? scalar.string as Any
            }
            do {
                self.health = try HealthCheckConfig.parse(object, over: .builtInDefault, field: "health")
            } catch {
                throw .invalidManifest(reason: error.description)
            }
        } else {
            self.health = nil
        }
        if let node = root["dependencies"], node.null == nil {
            guard let list = node.sequence else {
                throw .invalidManifest(reason: "dependencies must be a list of pip requirements, e.g. [\"fastapi>=0.112\", \"uvicorn\"]")
            }
            self.dependencies = try list.map { item throws(PackageError) -> String in
                guard let scalar = item.scalar else { throw .invalidManifest(reason: "dependencies must be a list of strings") }
                return scalar.string
            }
        } else {
            self.dependencies = []
        }
        /// One `key: value` of a surface block such as `rest: {entry: src.rest.index:mount}`.
        func surfaceField(_ surface: String, _ key: String) throws(PackageError) -> String? {
            guard let node = root[surface], node.null == nil else { return nil }
            guard let map = node.mapping else {
                throw .invalidManifest(reason: "\(surface) must be a mapping, e.g. \(surface): {\(key): ...}")
            }
            guard let value = map[key]?.scalar?.string, !value.isEmpty else {
                throw .invalidManifest(reason: "\(surface).\(key) is required when \(surface): is present")
            }
            return value
        }
        self.surfaces = Surfaces(
            restEntry: try surfaceField("rest", "entry"),
            uiPath: try surfaceField("ui", "path"),
            a2aService: try surfaceField("a2a", "service")
        )
        func exitStatuses(_ key: String) throws(PackageError) -> Set<ExitStatus> {
            guard let node = root[key], node.null == nil else { return [] }
            guard let list = node.sequence else {
                throw .invalidManifest(reason: "\(key) must be a list of exit codes and signal names, e.g. [0, 3, SIGTERM]")
            }
            let items: [Any] = list.map { item in
                let text = item.scalar?.string ?? ""
                return Int(text).map { $0 as Any } ?? text
            }
            do {
                return try ExitStatusRules.parseList(items, field: key) ?? []
            } catch {
                throw .invalidManifest(reason: error.description)
            }
        }
        self.exitRules = ExitStatusRules(success: try exitStatuses("success_exit_codes"), noRestart: try exitStatuses("no_restart_exit_codes"))
        for (name, value) in [("rest.entry", surfaces.restEntry), ("a2a.service", surfaces.a2aService)] {
            if let value, !LaunchPlan.isValidEntrypoint(value) {
                throw .invalidManifest(reason: "\(name) must be module.path:function (e.g. src.rest.index:mount), got \(value.debugDescription)")
            }
        }
    }

    public static func load(fromDirectory directory: URL) throws(PackageError) -> Manifest {
        let url = directory.appendingPathComponent("agent.yaml")
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw .invalidManifest(reason: "cannot read agent.yaml: \(error.localizedDescription)")
        }
        return try Manifest(yaml: text)
    }
}

/// Expands `${VAR}` and `${VAR:-default}` from `lookup`; text that is not such a
/// reference is kept as it is.
public func expandVariables(_ text: String, lookup: (String) -> String?) -> String {
    var result = ""
    var rest = Substring(text)
    while let start = rest.range(of: "${") {
        result += rest[..<start.lowerBound]
        guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
            result += rest[start.lowerBound...]
            return result
        }
        let body = rest[start.upperBound..<end]
        if let sep = body.range(of: ":-") {
            let name = String(body[..<sep.lowerBound])
            let value = lookup(name)
            result += (value?.isEmpty == false ? value! : String(body[sep.upperBound...]))
        } else {
            result += lookup(String(body)) ?? ""
        }
        rest = rest[rest.index(after: end)...]
    }
    result += rest
    return result
}
