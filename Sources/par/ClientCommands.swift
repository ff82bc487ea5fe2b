import ArgumentParser
import Foundation
import PARClient

/// Where the CLI finds the daemon and its token.
struct Connection: ParsableArguments {
    @Option(help: "The daemon's host.")
    var host = "127.0.0.1"

    @Option(help: "The daemon's port.")
    var port = 8000

    @Option(name: .customLong("data-dir"), help: "The daemon's data dir, to read the token from (or set PAR_TOKEN).")
    var dataDir = ".par"

    func client() -> PARAPIClient {
        let token = ProcessInfo.processInfo.environment["PAR_TOKEN"]
            ?? (try? String(contentsOfFile: dataDir + "/token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        return PARAPIClient(host: host, port: port, token: token)
    }

    /// Prints the answer; a 4xx/5xx makes the command fail with the server's words.
    func show(_ answer: HTTPAnswer) throws {
        if let object = try? JSONSerialization.jsonObject(with: Data(answer.body)),
           let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) {
            print(String(decoding: pretty, as: UTF8.self))
        } else {
            print(answer.text)
        }
        if answer.status >= 400 { throw ExitCode(1) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every process, or one.")
    @OptionGroup var connection: Connection
    @Argument(help: "A process id (par-NAME); all when left out.") var processID: String?

    func run() throws {
        let client = connection.client()
        try connection.show(try client.get(processID.map { "/supervisor/processes/\($0)" } ?? "/supervisor/status"))
    }
}

struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show every agent's health, from the daemon's latest probes.")
    @OptionGroup var connection: Connection

    func run() throws {
        try connection.show(try connection.client().get("/supervisor/health"))
    }
}

struct Spawn: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start an agent from an APKG.")
    @OptionGroup var connection: Connection
    @Option(name: .customLong("agent-id")) var agentID: String
    @Option(help: "Path of the .apkg file.") var package: String
    @Option(name: .customLong("package-id")) var packageID: String?
    @Option(name: .customLong("env"), help: "NAME=VALUE (repeatable).") var env: [String] = []
    @Option(name: .customLong("restart-policy")) var restartPolicy: String?
    @Option(name: .customLong("max-restarts")) var maxRestarts: Int?

    func run() throws {
        var body: [String: Any] = [
            "agent_id": agentID,
            "package_path": URL(fileURLWithPath: package).standardizedFileURL.path,
        ]
        if let packageID { body["package_id"] = packageID }
        var variables: [String: String] = [:]
        for pair in env {
            guard let eq = pair.firstIndex(of: "=") else { throw ValidationError("--env takes NAME=VALUE, got \(pair)") }
            variables[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
        }
        body["env_vars"] = variables
        if let restartPolicy { body["restart_policy"] = restartPolicy }
        if let maxRestarts { body["max_restarts"] = maxRestarts }
        try connection.show(try connection.client().post("/supervisor/spawn", json: body))
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop a process (SIGTERM, then SIGKILL after the timeout).")
    @OptionGroup var connection: Connection
    @Argument var processID: String
    @Option(help: "Seconds to wait after SIGTERM.") var timeout: Double?

    func run() throws {
        let path = "/supervisor/stop/\(processID)" + (timeout.map { "?timeout=\($0)" } ?? "")
        try connection.show(try connection.client().post(path))
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Restart a process with its current configuration.")
    @OptionGroup var connection: Connection
    @Argument var processID: String
    @Flag(help: "Without downtime: start the next run on a fresh port, switch to it once it is ready, let the old run's requests finish, then stop it.") var rolling = false
    @Option(name: .customLong("drain-timeout"), help: "With --rolling: seconds the old run may take to finish its requests (default: its stop_timeout_seconds).") var drainTimeout: Double?

    func run() throws {
        var query = rolling ? "?strategy=rolling" : ""
        if let drainTimeout {
            guard rolling else { throw ValidationError("--drain-timeout needs --rolling") }
            query += "&drain_timeout=\(drainTimeout)"
        }
        try connection.show(try connection.client().post("/supervisor/restart/\(processID)\(query)"))
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show collected log lines (oldest first on screen), or follow them live.")
    @OptionGroup var connection: Connection
    @Option(name: .customLong("process-id"), help: "Only this process (par-NAME, or 'supervisor' for the daemon's events).") var processID: String?
    @Option(help: "Only this level.") var level: String?
    @Option(name: .customLong("min-level"), help: "This level and above.") var minLevel: String?
    @Option(help: "From this time (ISO 8601, e.g. 2026-11-27T10:00:00Z).") var since: String?
    @Option(help: "Up to this time.") var until: String?
    @Option(help: "stdout, stderr, supervisor or install.") var stream: String?
    @Option(name: [.customShort("q"), .customLong("query")], help: "Words every line must contain (word prefixes, any case).") var query: String?
    @Option(help: "How many lines (newest ones unless --order asc).") var limit = 100
    @Option(help: "desc (newest first, the default) or asc.") var order: String?
    @Option(help: "Continue from a previous answer's next_cursor.") var cursor: String?
    @Flag(name: [.customShort("f"), .customLong("follow")], help: "Keep printing new lines as they arrive (Server-Sent Events); --limit lines of history first.") var follow = false
    @Flag(help: "Print the API's JSON instead of text lines.") var json = false

    func run() throws {
        var items: [URLQueryItem] = []
        func add(_ name: String, _ value: String?) { if let value { items.append(URLQueryItem(name: name, value: value)) } }
        add("process_id", processID)
        add("level", level)
        add("min_level", minLevel)
        add("since", since)
        add("until", until)
        add("stream", stream)
        add("q", query)
        if follow {
            add("tail", String(limit))
            try followLines(path: "/supervisor/logs/stream" + Self.queryString(items))
            return
        }
        add("limit", String(limit))
        add("order", order)
        add("cursor", cursor)
        let answer = try connection.client().get("/supervisor/logs" + Self.queryString(items))
        guard !json, answer.status < 400 else { return try connection.show(answer) }
        let object = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:]
        var entries = object["logs"] as? [[String: Any]] ?? []
        if order?.lowercased() != "asc" { entries.reverse() }
        for entry in entries { print(Self.line(entry)) }
        if let next = object["next_cursor"] as? String {
            FileHandle.standardError.write(Data("(more: --cursor \(next)\(order.map { " --order \($0)" } ?? ""))\n".utf8))
        }
    }

    private func followLines(path: String) throws {
        let token = connection.client().token
        let events: EventStreamClient
        do {
            events = try EventStreamClient(host: connection.host, port: connection.port, path: path, token: token)
        } catch EventStreamClient.Failure.status(let code, let body) {
            FileHandle.standardError.write(Data("HTTP \(code): \(body)\n".utf8))
            throw ExitCode(1)
        }
        while true {
            guard let event = try events.next(timeout: 3600) else { continue }
            if event.event == "gap" {
                let gap = event.json
                FileHandle.standardError.write(Data("(missed \(gap["missed"] ?? "?") lines: fetch them with --order asc --cursor \(gap["cursor"] ?? "?"))\n".utf8))
                continue
            }
            print(json ? event.data : Self.line(event.json))
            fflush(nil)
        }
    }

    static func queryString(_ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.queryItems = items
        let text = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B") ?? ""
        return text.isEmpty ? "" : "?" + text
    }

    /// `2026-11-27T10:00:00.000Z INFO    par-worker  message`
    static func line(_ entry: [String: Any]) -> String {
        let timestamp = entry["timestamp"] as? String ?? "-"
        let level = (entry["level"] as? String ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0)
        let process = entry["process_id"] as? String ?? "-"
        return "\(timestamp) \(level) \(process)  \(entry["message"] as? String ?? "")"
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Re-read the daemon's config file and apply what changed (new agents start, removed ones stop, changed ones restart).")
    @OptionGroup var connection: Connection

    func run() throws {
        try connection.show(try connection.client().post("/supervisor/reload"))
    }
}
