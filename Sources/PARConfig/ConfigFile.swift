import Foundation
import PARCore
import Yams

/// `par serve --config par.yaml`: the daemon's options and the agents it owns.
///
/// Read by hand over Yams' node tree rather than through swift-configuration: its
/// readers look keys up one by one and cannot say which keys of a file are unknown, nor
/// on which line a wrong value stands, and an `agents:` map of whole spawn bodies has
/// no place in its flat key space. Here every error names the file, the line and the key.
public struct ConfigFile: Sendable {
    /// Absolute, standardised: owners of agents are named by it.
    public var path: String
    /// `par serve` options given by the file, by their snake_case names.
    public var settings: [String: SettingValue]
    /// The agents it declares, validated like spawn bodies, sorted by id.
    public var agents: [AgentSpec]

    /// Reads and validates a file; every problem found is reported at once.
    public static func load(path: String, environment: [String: String], defaults: AgentSpecDefaults = AgentSpecDefaults()) throws(ConfigErrors) -> ConfigFile {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let text: String
        do {
            text = try String(contentsOfFile: absolute, encoding: .utf8)
        } catch {
            throw ConfigErrors([ConfigIssue(file: absolute, line: nil, key: nil, message: "cannot read the file: \((error as NSError).localizedDescription)")])
        }
        return try parse(text, path: absolute, environment: environment, defaults: defaults)
    }

    public static func parse(_ text: String, path: String, environment: [String: String], defaults: AgentSpecDefaults = AgentSpecDefaults()) throws(ConfigErrors) -> ConfigFile {
        var reader = Reader(file: path, environment: environment)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigErrors([ConfigIssue(file: path, line: nil, key: nil, message: "not valid YAML: \(error)")])
        }
        var config = ConfigFile(path: path, settings: [:], agents: [])
        guard let root else { return config }
        guard case .mapping(let top) = root else {
            throw ConfigErrors([reader.issue(root, key: nil, "the file must be a mapping of options and an agents: map")])
        }
        var seen: [String: Int] = [:]
        for (keyNode, value) in top {
            let key = keyNode.string ?? ""
            // Yams tells `1:` from `"1":` by tag; as names they are the same key.
            if let first = seen[key] {
                reader.issues.append(reader.issue(keyNode, key: key, "given twice (first on line \(first)); keep one"))
                continue
            }
            seen[key] = keyNode.mark?.line ?? 0
            if key == "agents" {
                config.agents = reader.agents(value, directory: (path as NSString).deletingLastPathComponent, defaults: defaults)
            } else if let kind = ServeSetting.kinds[key] {
                if let setting = reader.setting(value, key: key, kind: kind) {
                    // Values whose form is known are checked here, so they are listed with the
                    // file's other errors and their line; ranges of numbers `par serve` checks.
                    if let problem = ServeSetting.problem(key, setting) {
                        reader.issues.append(reader.issue(value, key: key, problem))
                    } else {
                        config.settings[key] = setting
                    }
                }
            } else {
                reader.issues.append(reader.issue(keyNode, key: key, "unknown option\(ServeSetting.suggestion(for: key)); options are agents, \(ServeSetting.kinds.keys.sorted().joined(separator: ", "))"))
            }
        }
        guard reader.issues.isEmpty else { throw ConfigErrors(reader.issues) }
        return config
    }
}

/// A `par serve` option's value as the file gave it.
public enum SettingValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case strings([String])
}

/// The options a config file may set: the `par serve` flags, in snake_case.
public enum ServeSetting {
    public enum Kind: Sendable { case string, int, double, bool, strings }

    public static let kinds: [String: Kind] = [
        "host": .string, "port": .int, "data_dir": .string, "port_range": .string, "package_dirs": .strings,
        "sample_interval": .double, "stable_seconds": .double, "max_package_mb": .int, "max_package_entries": .int,
        "max_agents": .int, "max_total_memory_mb": .int, "max_total_cpu": .double, "cgroup_root": .string,
        "cgroup_every_agent": .bool, "proxy_timeout": .double, "proxy_idle_timeout": .double,
        "proxy_relay_threads": .int, "proxy_requires_token": .bool, "log_max_entries": .int, "log_max_age": .double,
        "log_max_mb": .int, "log_max_total_mb": .int, "max_line_bytes": .int, "python": .string, "log_level": .string,
        "env_allow": .strings, "agent_users": .string, "pip_index_url": .string, "wheelhouse": .string, "install_timeout": .double, "env_cache_mb": .int,
        "log_buffer_mb": .int, "request_head_timeout": .double, "request_body_timeout": .double, "ui_session_timeout": .double, "dashboard": .bool, "ui_port": .int, "control_plane_nice": .int, "keep_alive_timeout": .double, "max_connections": .int,
        "restart_rate": .double, "restart_burst": .int, "reload_strategy": .string,
    ]

    static func problem(_ key: String, _ value: SettingValue) -> String? {
        switch (key, value) {
        case ("port_range", .string(let text)):
            do {
                _ = try PortPool.parseRange(text)
                return nil
            } catch {
                return error.reason
            }
        case ("port", .int(let port)) where !(0...65535).contains(port):
            return "must be from 0 to 65535 (0 picks a free port), got \(port)"
        case ("log_level", .string(let level)) where !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level):
            return "must be one of trace, debug, info, notice, warning, error, critical; got \(level.debugDescription)"
        default:
            return nil
        }
    }

    static func suggestion(for key: String) -> String {
        let normalised = key.replacingOccurrences(of: "-", with: "_").lowercased()
        if normalised != key, kinds[normalised] != nil { return " (did you mean \(normalised)?)" }
        if let close = kinds.keys.sorted().first(where: { editDistance($0, normalised) <= 2 }) { return " (did you mean \(close)?)" }
        return ""
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(1, b.count) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// One problem in a config file: `file:line: key: message`.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var key: String?
    public var message: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.map { "\($0): " } ?? "")\(message)"
    }
}

/// Every problem found in a config file; nothing is applied while there is one.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigIssue]

    public init(_ issues: [ConfigIssue]) { self.issues = issues }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Walks the node tree, expanding `${VAR}` and collecting issues instead of stopping at the first.
struct Reader {
    let file: String
    let environment: [String: String]
    var issues: [ConfigIssue] = []

    init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    func issue(_ node: Node, key: String?, _ message: String) -> ConfigIssue {
        ConfigIssue(file: file, line: node.mark?.line, key: key, message: message)
    }

    mutating func setting(_ node: Node, key: String, kind: ServeSetting.Kind) -> SettingValue? {
        if kind == .strings {
            guard case .sequence(let items) = node else {
                issues.append(issue(node, key: key, "expected a list of strings, e.g. [/srv/agents]"))
                return nil
            }
            var strings: [String] = []
            for item in items {
                guard case .string(let value)? = scalar(item, key: key) else {
                    issues.append(issue(item, key: key, "expected a string"))
                    continue
                }
                strings.append(value)
            }
            return .strings(strings)
        }
        if case .scalar(let raw) = node, raw.style == .plain, ["null", "Null", "NULL", "~", ""].contains(raw.string) {
            // An option given no value keeps its default.
            return nil
        }
        guard let value = scalar(node, key: key) else { return nil }
        switch (kind, value) {
        case (.string, .string), (.int, .int), (.double, .double), (.bool, .bool): return value
        case (.double, .int(let int)): return .double(Double(int))
        case (.string, .int(let int)): return .string(String(int))
        default:
            let expected = switch kind {
            case .string: "a string"
            case .int: "an integer"
            case .double: "a number"
            case .bool: "true or false"
            case .strings: "a list of strings"
            }
            issues.append(issue(node, key: key, "expected \(expected), got \(Self.describe(value))"))
            return nil
        }
    }

    /// Fields whose values are text even when they look like numbers.
    static func isText(_ key: String) -> Bool {
        let parts = key.split(separator: ".")
        guard parts.count >= 3 else { return false }
        let field = parts[2]
        return field == "env_vars" || (parts.count == 3 && (field == "package_id" || field == "package_path"))
            || (parts.count == 4 && field == "health_check" && parts[3] == "path")
    }

    /// A scalar with `${VAR}` expanded, kept as text.
    mutating func expandOnly(_ node: Node, key: String?) -> SettingValue? {
        guard case .scalar(let scalar) = node else { return scalar(node, key: key) }
        do {
            return .string(try VariableExpansion.expand(scalar.string, environment: environment))
        } catch {
            issues.append(issue(node, key: key, error.description))
            return nil
        }
    }

    /// A scalar with `${VAR}` expanded and its type read from the expanded text
    /// (quoted scalars stay strings); nil after recording an issue.
    mutating func scalar(_ node: Node, key: String?) -> SettingValue? {
        guard case .scalar(let scalar) = node else {
            issues.append(issue(node, key: key, "expected a single value, got a \(node.isMapping ? "mapping" : "list")"))
            return nil
        }
        let expanded: String
        do {
            expanded = try VariableExpansion.expand(scalar.string, environment: environment)
        } catch {
            issues.append(issue(node, key: key, error.description))
            return nil
        }
        if scalar.style != .plain { return .string(expanded) }
        return Self.resolve(expanded)
    }

    /// YAML 1.2 core-schema typing of a plain scalar.
    static func resolve(_ text: String) -> SettingValue {
        switch text {
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let int = Int(text) { return .int(int) }
        if text.contains(where: { $0.isNumber }), !text.hasPrefix("0x"), let double = Double(text), double.isFinite { return .double(double) }
        return .string(text)
    }

    static func describe(_ value: SettingValue) -> String {
        switch value {
        case .string(let s): "the string \(s.debugDescription)"
        case .int(let i): "the integer \(i)"
        case .double(let d): "the number \(d)"
        case .bool(let b): "\(b)"
        case .strings: "a list"
        }
    }

    // MARK: Agents

    mutating func agents(_ node: Node, directory: String, defaults: AgentSpecDefaults) -> [AgentSpec] {
        if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "null" || scalar.string == "~" { return [] }
        guard case .mapping(let map) = node else {
            issues.append(issue(node, key: "agents", "expected a map from agent id to its spawn fields"))
            return []
        }
        var specs: [AgentSpec] = []
        var seen: [String: Int] = [:]
        for (idNode, body) in map {
            let id = idNode.string ?? ""
            let keyPath = "agents.\(id)"
            // Yams tells `1:` from `"1":` by tag; as agent ids they are the same agent.
            if let first = seen[id] {
                issues.append(issue(idNode, key: keyPath, "the agent id \(id.debugDescription) is declared twice (first on line \(first)); ids must be unique"))
                continue
            }
            seen[id] = idNode.mark?.line ?? 0
            do throws(ValidationError) {
                _ = try AgentID(validating: id)
            } catch {
                issues.append(issue(idNode, key: keyPath, "not a valid agent id: \(error.reason)"))
                continue
            }
            guard case .mapping(let fieldsNode) = body else {
                issues.append(issue(body, key: keyPath, "expected the agent's spawn fields (package_path, env_vars, restart_policy, ...)"))
                continue
            }
            if fieldsNode.contains(where: { $0.key.string == "agent_id" }) {
                issues.append(issue(body, key: "\(keyPath).agent_id", "leave agent_id out: the key of the agents: map is the id"))
                continue
            }
            let before = issues.count
            guard var object = json(body, key: keyPath) as? [String: Any], issues.count == before else { continue }
            object["agent_id"] = id
            if let relative = object["package_path"] as? String, !relative.isEmpty, !relative.hasPrefix("/") {
                object["package_path"] = URL(fileURLWithPath: directory).appendingPathComponent(relative).standardizedFileURL.path
            }
            do throws(ValidationError) {
                let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
                var fields = try JSONFields(body: data)
                specs.append(try AgentSpec.parse(&fields, defaults: defaults))
            } catch {
                issues.append(issue(locate(error.field, in: body), key: "\(keyPath).\(error.field)", error.reason))
            }
        }
        return specs.sorted { $0.agentID < $1.agentID }
    }

    /// The node a validation error's dotted field names, or the nearest one above it.
    private func locate(_ field: String, in node: Node) -> Node {
        var current = node
        for part in field.split(separator: ".") {
            guard case .mapping(let map) = current, let pair = map.first(where: { $0.key.string == String(part) }) else { break }
            current = pair.value
        }
        return current
    }

    /// The node as JSON-serialisable Swift values, scalars expanded and typed.
    private mutating func json(_ node: Node, key: String) -> Any? {
        switch node {
        case .mapping(let map):
            var object: [String: Any] = [:]
            for (k, v) in map {
                let name = k.string ?? ""
                if let value = json(v, key: "\(key).\(name)") { object[name] = value }
            }
            return object
        case .sequence(let items):
            return items.compactMap { json($0, key: key) }
        case .scalar(let raw):
            if raw.style == .plain, ["null", "Null", "NULL", "~", ""].contains(raw.string) { return nil }
            if Self.isText(key) {
                // Values that are text whatever they look like: `ZIP: 01234` stays "01234".
                guard case .string(let text)? = expandOnly(node, key: key) else { return nil }
                return text
            }
            switch scalar(node, key: key) {
            case .string(let s)?: return s
            case .int(let i)?: return i
            case .double(let d)?: return d
            case .bool(let b)?: return b
            case .strings(let list)?: return list
            case nil: return nil
            }
        case .alias:
            issues.append(issue(node, key: key, "aliases are not supported"))
            return nil
        }
    }
}

/// `${VAR}` and `${VAR:-default}` from the daemon's environment; `$$` is a literal `$`.
/// A variable that is unset (with no default) is an error, never an empty string.
public enum VariableExpansion {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func expand(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var output = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            guard character == "$", next < text.endIndex else {
                output.append(character)
                index = next
                continue
            }
            if text[next] == "$" {
                output.append("$")
                index = text.index(after: next)
                continue
            }
            guard text[next] == "{" else {
                output.append(character)
                index = next
                continue
            }
            guard let close = text[next...].firstIndex(of: "}") else {
                throw Failure(description: "unclosed ${ in \(text.debugDescription); write $$ for a literal $")
            }
            let body = String(text[text.index(after: next)..<close])
            guard !body.contains("${") else {
                throw Failure(description: "nested ${...} in \(text.debugDescription) is not supported; use one variable with a plain default")
            }
            let (name, fallback): (String, String?) = {
                if let range = body.range(of: ":-") { return (String(body[..<range.lowerBound]), String(body[range.upperBound...])) }
                return (body, nil)
            }()
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                throw Failure(description: "${\(body)} is not a variable reference; use ${NAME} or ${NAME:-default}")
            }
            if let value = environment[name], !(value.isEmpty && fallback != nil) {
                output += value
            } else if let fallback {
                output += fallback
            } else {
                throw Failure(description: "${\(name)} is not set in the daemon's environment; set it or write ${\(name):-default}")
            }
            index = text.index(after: close)
        }
        return output
    }
}

extension Node {
    var isMapping: Bool { if case .mapping = self { return true } else { return false } }
}
