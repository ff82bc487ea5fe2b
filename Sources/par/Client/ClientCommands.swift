import ArgumentParser
import Foundation
import PARClient
import PARPackages
import Rainbow

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every process, or one.")
    @OptionGroup var connection: Connection
    @Argument(help: "An agent (NAME or par-NAME); all when left out.") var processID: String?

    func run() throws {
        let path = processID.map { "/supervisor/processes/\(ProcessName.id($0))" } ?? "/supervisor/status"
        try connection.show(try connection.call { try $0.get(path) })
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every agent's health, from the daemon's latest probes.",
        discussion: "Exit status: 0 healthy, 1 degraded or unhealthy (or refused), 2 the daemon cannot be reached. A script can run `par health -q && deploy`."
    )
    @OptionGroup var connection: Connection
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Print nothing; the exit status says it.") var quiet = false

    func run() throws {
        let answer = try connection.call { try $0.get("/supervisor/health") }
        guard answer.status < 400 else { try connection.refuse(answer) }
        let json = answer.json
        let status = json["status"] as? String ?? "unknown"
        if !quiet {
            if Terminal.isInteractive {
                let healthy = json["healthy_agents"] as? Int ?? 0
                let total = json["total_agents"] as? Int ?? 0
                let failed = json["failed_agents"] as? Int ?? 0
                let word = !Terminal.usesColour ? status : status == "healthy" ? status.green : status == "degraded" ? status.yellow : status.red
                print("\(word): \(healthy) of \(total) live agents healthy" + (failed > 0 ? ", \(failed) failed (gave up)" : ""))
                let agents = json["agent_health"] as? [String: [String: Any]] ?? [:]
                for (id, agent) in agents.sorted(by: { $0.key < $1.key }) where agent["status"] as? String != "healthy" {
                    print("  \(id): \(agent["status"] as? String ?? "?")")
                }
            } else {
                try connection.show(answer)
            }
        }
        if status != "healthy" { throw ExitCode(1) }
    }
}

struct Spawn: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start an agent from an APKG.",
        discussion: "Named flags cover the common fields; --set NAME=JSON gives any other field of POST /supervisor/spawn (see GET /openapi.json), e.g. --set success_exit_codes='[0,3]'."
    )
    @OptionGroup var connection: Connection
    @Option(name: .customLong("agent-id")) var agentID: String
    @Option(help: "Path of the .apkg file.") var package: String
    @Option(name: .customLong("package-id")) var packageID: String?
    @Option(name: .customLong("env"), help: "NAME=VALUE (repeatable; wins over --env-file).") var env: [String] = []
    @Option(name: .customLong("env-file"), help: "A .env file of NAME=VALUE lines.") var envFile: String?
    @Option(name: .customLong("restart-policy"), help: "always, on-failure or never.") var restartPolicy: String?
    @Option(name: .customLong("max-restarts")) var maxRestarts: Int?
    @Option(name: .customLong("restart-delay"), help: "Seconds before the first restart.") var restartDelay: Double?
    @Option(name: .customLong("stop-timeout"), help: "Seconds between SIGTERM and SIGKILL.") var stopTimeout: Double?
    @Option(name: .customLong("memory-mb"), help: "Memory limit (cgroup).") var memoryMB: Int?
    @Option(help: "CPU limit in cores, e.g. 0.5 (cgroup).") var cpu: Double?
    @Option(name: .customLong("pids-limit")) var pidsLimit: Int?
    @Option(help: "-20..19.") var nice: Int?
    @Option(name: .customLong("health"), help: "http[:PATH], tcp or none.") var health: String?
    @Option(name: .customLong("health-interval"), help: "Seconds between liveness probes.") var healthInterval: Double?
    @Option(name: .customLong("health-start-timeout"), help: "Seconds a new process may take to pass its first probe.") var healthStartTimeout: Double?
    @Option(name: .customLong("depends-on"), help: "AGENT or AGENT:healthy (repeatable).") var dependsOn: [String] = []
    @Option(name: .customLong("set"), help: "NAME=JSON: any other spawn field (repeatable).") var fields: [String] = []

    func run() throws {
        let body = try requestBody()
        try connection.show(try connection.call { try $0.post("/supervisor/spawn", json: body) })
    }

    func requestBody() throws -> [String: Any] {
        var body: [String: Any] = [
            "agent_id": agentID,
            "package_path": URL(fileURLWithPath: package).standardizedFileURL.path,
        ]
        body.merge(try SpecFieldSetting.parse(fields)) { _, given in given }
        if let packageID { body["package_id"] = packageID }
        var variables: [String: String] = [:]
        if let envFile {
            guard let text = try? String(contentsOfFile: envFile, encoding: .utf8) else { throw ValidationError("--env-file: cannot read \(envFile)") }
            variables = DotEnv.parse(text)
        }
        for pair in env {
            guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--env takes NAME=VALUE, got \(pair)") }
            variables[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        if !variables.isEmpty { body["env_vars"] = variables }
        if let restartPolicy { body["restart_policy"] = restartPolicy }
        if let maxRestarts { body["max_restarts"] = maxRestarts }
        if let restartDelay { body["restart_delay_seconds"] = restartDelay }
        if let stopTimeout { body["stop_timeout_seconds"] = stopTimeout }
        if let memoryMB { body["memory_limit_mb"] = memoryMB }
        if let cpu { body["cpu_limit"] = cpu }
        if let pidsLimit { body["pids_limit"] = pidsLimit }
        if let nice { body["nice"] = nice }
        var check: [String: Any] = [:]
        if let health {
            let parts = health.split(separator: ":", maxSplits: 1).map(String.init)
            check["type"] = parts[0]
            if parts.count > 1 { check["path"] = parts[1] }
        }
        if let healthInterval { check["interval_seconds"] = healthInterval }
        if let healthStartTimeout { check["start_timeout_seconds"] = healthStartTimeout }
        if !check.isEmpty { body["health_check"] = check }
        if !dependsOn.isEmpty {
            body["depends_on"] = dependsOn.map { entry -> [String: Any] in
                let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
                return parts.count > 1 ? ["agent": parts[0], "condition": parts[1]] : ["agent": parts[0]]
            }
        }
        return body
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a process (SIGTERM, then SIGKILL after the timeout).")
    @OptionGroup var connection: Connection
    @Argument(help: "The agent (NAME or par-NAME).") var processID: String
    @Option(help: "Seconds to wait after SIGTERM.") var timeout: Double?

    func run() throws {
        let path = "/supervisor/stop/\(ProcessName.id(processID))" + (timeout.map { "?timeout=\($0)" } ?? "")
        try connection.show(try connection.call { try $0.post(path) })
    }
}

/// `--set NAME=JSON`, shared by spawn and restart.
enum SpecFieldSetting {
    static func parse(_ settings: [String]) throws -> [String: Any] {
        var body: [String: Any] = [:]
        for field in settings {
            guard let eq = field.firstIndex(of: "=") else { throw ValidationError("--set takes NAME=JSON, got \(field)") }
            let name = String(field[..<eq]), text = String(field[field.index(after: eq)...])
            guard let value = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
                throw ValidationError("--set \(name): \(text.debugDescription) is not JSON (quote strings: --set package_id='\"x\"')")
            }
            body[name] = value
        }
        return body
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart a process with its current configuration, or with fields changed.",
        discussion: "--set NAME=JSON changes one field of its spec for this and later runs (any field of POST /supervisor/spawn), e.g. --set memory_limit_mb=512; --set memory_limit_mb=null lifts the limit (null puts any field back to what a spawn without it gets)."
    )
    @OptionGroup var connection: Connection
    @Argument(help: "The agent (NAME or par-NAME).") var processID: String
    @Flag(help: "Without downtime: start the next run on a fresh port, switch to it once it is ready, let the old run's requests finish, then stop it.") var rolling = false
    @Option(name: .customLong("drain-timeout"), help: "With --rolling: seconds the old run may take to finish its requests (default: its stop_timeout_seconds).") var drainTimeout: Double?
    @Option(name: .customLong("set"), help: "NAME=JSON: a spec field to change (repeatable; null puts it back to the default).") var fields: [String] = []

    func run() throws {
        let changes = try SpecFieldSetting.parse(fields)
        var query = rolling ? "?strategy=rolling" : ""
        if let drainTimeout {
            guard rolling else { throw ValidationError("--drain-timeout needs --rolling") }
            query += "&drain_timeout=\(drainTimeout)"
        }
        let path = "/supervisor/restart/\(ProcessName.id(processID))\(query)"
        try connection.show(try connection.call { try $0.post(path, json: changes.isEmpty ? nil : changes) })
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show collected log lines (oldest first on screen), or follow them live.")
    @OptionGroup var connection: Connection
    @Argument(help: "Only this agent (NAME or par-NAME, or 'supervisor' for the daemon's events).") var agent: String?
    @Option(name: .customLong("process-id"), help: ArgumentHelp("Only this process (as the argument).", visibility: .hidden)) var processID: String?
    @Option(help: "Only this level.") var level: String?
    @Option(name: .customLong("min-level"), help: "This level and above.") var minLevel: String?
    @Option(help: "From this time: ISO 8601 (2026-11-27T10:00:00Z), epoch seconds, or an age (30s, 5m, 1h, 2d).") var since: String?
    @Option(help: "Up to this time (as --since).") var until: String?
    @Option(help: "stdout, stderr, supervisor or install.") var stream: String?
    @Option(name: [.customShort("q"), .customLong("query")], help: "Words every line must contain (word prefixes, any case).") var query: String?
    @Option(help: "How many lines (newest ones unless --order asc).") var limit = 100
    @Option(help: "desc (newest first, the default) or asc.") var order: String?
    @Option(help: "Continue from a previous answer's next_cursor.") var cursor: String?
    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Keep printing new lines as they arrive (Server-Sent Events); --limit lines of history first.") var follow = false
    @Flag(help: "Print the API's JSON instead of text lines.") var json = false
    @Flag(name: .customLong("no-events"), help: "Leave out the supervisor's events about the agent (shown by default among its lines).") var noEvents = false

    func run() throws {
        var items: [URLQueryItem] = []
        func add(_ name: String, _ value: String?) { if let value { items.append(URLQueryItem(name: name, value: value)) } }
        if agent != nil, processID != nil { throw ValidationError("name the agent once: as the argument or with --process-id") }
        let named = (agent ?? processID).map(ProcessName.id)
        add("process_id", named)
        if let named, named != "supervisor", !noEvents { add("with_events", "true") }
        add("level", level)
        add("min_level", minLevel)
        add("since", try since.map(HumanTime.parse))
        add("until", try until.map(HumanTime.parse))
        add("stream", stream)
        add("q", query)
        if follow {
            // `-f` on an agent that does not exist would wait for ever: say so now.
            if let named, named != "supervisor" {
                let known = try connection.call { try $0.get("/supervisor/processes/\(named)") }
                if known.status >= 400 { try connection.refuse(known) }
            }
            let resume = "/supervisor/logs/stream" + Self.queryString(items)
            add("tail", String(limit))
            try followLines(path: "/supervisor/logs/stream" + Self.queryString(items), resumePath: resume)
            return
        }
        add("limit", String(limit))
        add("order", order)
        add("cursor", cursor)
        let path = "/supervisor/logs" + Self.queryString(items)
        let answer = try connection.call { try $0.get(path) }
        guard !json, answer.status < 400 else { return try connection.show(answer) }
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:]
        var entries = object["logs"] as? [[String: Any]] ?? []
        if order?.lowercased() != "asc" { entries.reverse() }
        var printer = LogLinePrinter()
        for entry in entries { print(printer.format(entry)) }
        if let next = object["next_cursor"] as? String {
            FileHandle.standardError.write(Data("(more: --cursor \(next)\(order.map { " --order \($0)" } ?? ""))\n".utf8))
        }
    }

    /// Follows the live tail; when the daemon goes away (a restart, a crash) it reconnects
    /// with `Last-Event-ID`, so what was printed meanwhile arrives once and nothing twice.
    private func followLines(path: String, resumePath: String) throws {
        let token = try connection.token()
        let (host, port, _) = try connection.endpoint()
        var lastID: String?
        var attempt = 0
        var printer = LogLinePrinter()
        while true {
            do {
                let events = try EventStreamClient(
                    host: host, port: port, path: lastID == nil ? path : resumePath, token: token,
                    headers: lastID.map { ["Last-Event-ID": $0] } ?? [:]
                )
                if attempt > 0 { FileHandle.standardError.write(Data("(reconnected)\n".utf8)) }
                attempt = 0
                while true {
                    guard let event = try events.next(timeout: 3600) else { continue }
                    if event.event == "gap" {
                        let gap = event.json
                        FileHandle.standardError.write(Data("(missed \(gap["missed"] ?? "?") lines: fetch them with --order asc --cursor \(gap["cursor"] ?? "?"))\n".utf8))
                        continue
                    }
                    if let id = event.id { lastID = id }
                    print(json ? event.data : printer.format(event.json))
                    fflush(nil)
                }
            } catch EventStreamClient.Failure.status(let code, let body) where code < 500 {
                FileHandle.standardError.write(Data("par: HTTP \(code): \(body)\n".utf8))
                throw ExitCode(1)
            } catch {
                if attempt == 0 { FileHandle.standardError.write(Data("(the daemon went away: \(error); reconnecting)\n".utf8)) }
                attempt += 1
                usleep(UInt32(min(5.0, 0.1 * pow(2.0, Double(min(attempt, 6)))) * 1_000_000))
            }
        }
    }

    static func queryString(_ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.queryItems = items
        let text = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B") ?? ""
        return text.isEmpty ? "" : "?" + text
    }

}

/// Log lines for a person: `2026-11-27T10:00:00.000Z INFO     par-worker  stdout    message`,
/// the supervisor's own lines with the event they record (`[spawned]`). A line that goes
/// on from the one before it (a Python traceback's frames and its exception, an indented
/// continuation) from the same process and stream shows only its text, under the
/// first line's message, so a traceback reads as one block.
struct LogLinePrinter {
    private var previousSource: String?
    private var previousHeaderWidth = 0
    private var inTraceback = false

    mutating func format(_ entry: [String: Any]) -> String {
        let message = entry["message"] as? String ?? ""
        let process = entry["process_id"] as? String ?? "-"
        let extra = entry["extra"] as? [String: Any] ?? [:]
        let streamName = extra["stream"] as? String ?? "-"
        let source = process + " " + streamName
        let startsTraceback = message.hasPrefix("Traceback (most recent call last)")
        let chains = Self.chainingPhrases.contains { message.hasPrefix($0) }
        let indented = message.first == " " || message.first == "\t"
        let continues = source == previousSource && (indented || inTraceback || (chains && !startsTraceback))
        defer {
            previousSource = source
            // A traceback goes on through its indented frames to the exception line; a
            // chained one starts again after "During handling of the above exception".
            inTraceback = startsTraceback || chains || (inTraceback && continues && (indented || message.isEmpty))
        }
        if continues { return String(repeating: " ", count: previousHeaderWidth) + message }
        let timestamp = entry["timestamp"] as? String ?? "-"
        let level = (entry["level"] as? String ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0)
        let stream = streamName.padding(toLength: 10, withPad: " ", startingAt: 0)
        let header = "\(timestamp) \(level) \(process)  \(stream)"
        previousHeaderWidth = header.count
        let event = (extra["event"] as? String).map { "[\($0)] " } ?? ""
        return header + event + message
    }

    static let chainingPhrases = [
        "During handling of the above exception",
        "The above exception was the direct cause",
    ]
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the daemon's config file and apply what changed (new agents start, removed ones stop, changed ones restart).",
        aliases: ["apply"]
    )
    @OptionGroup var connection: Connection

    func run() throws {
        try connection.show(try connection.call { try $0.post("/supervisor/reload") })
    }
}

/// Times as people type them: an age (`30s`, `5m`, `1h`, `2d`, `1w`) becomes the instant
/// that long ago; ISO 8601 and epoch seconds pass through for the daemon to read.
enum HumanTime {
    static func parse(_ text: String) throws -> String {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let unit = text.last, let scale = units[unit], let amount = Double(text.dropLast()), amount >= 0 {
            return String(format: "%.3f", Date(timeIntervalSinceNow: -amount * scale).timeIntervalSince1970)
        }
        return text
    }
}
