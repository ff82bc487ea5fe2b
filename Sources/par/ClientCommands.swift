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

    func run() throws {
        try connection.show(try connection.client().post("/supervisor/restart/\(processID)"))
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show collected log lines, newest first.")
    @OptionGroup var connection: Connection
    @Option(name: .customLong("process-id")) var processID: String?
    @Option var level: String?
    @Option var limit = 100

    func run() throws {
        var query = ["limit=\(limit)"]
        if let processID { query.append("process_id=\(processID)") }
        if let level { query.append("level=\(level)") }
        try connection.show(try connection.client().get("/supervisor/logs?" + query.joined(separator: "&")))
    }
}
