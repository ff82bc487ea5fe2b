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
                self.health = try HealthCheckConfig.parse(object, over: HealthCheckConfig(), field: "health")
            } catch {
                throw .invalidManifest(reason: error.description)
            }
        } else {
            self.health = nil
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
