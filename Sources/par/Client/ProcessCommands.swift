import ArgumentParser
import Foundation
import PARClient
import TextTable

/// One agent as `par ps` shows it, read from the status document.
struct ProcessRow {
    var id: String
    var state: String
    var pid: String
    var port: String
    var uptime: String
    var restarts: String
    var cpu: String
    var memory: String
    var health: String
    var package: String
    var lastExit: String

    init(_ process: [String: Any]) {
        func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }
        let resources = process["resources"] as? [String: Any]
        id = process["agent_id"] as? String ?? "?"
        state = process["state"] as? String ?? "?"
        pid = number(process["pid"]).map { String(Int($0)) } ?? "-"
        port = number(process["port"]).map { String(Int($0)) } ?? "-"
        uptime = number(process["uptime"]).map(Self.duration) ?? "-"
        restarts = number(process["restart_count"]).map { String(Int($0)) } ?? "0"
        cpu = number((resources?["cpu"] as? [String: Any])?["percent"]).map { String(format: "%.1f%%", $0) } ?? "-"
        memory = number((resources?["memory"] as? [String: Any])?["rss_bytes"]).map(Self.bytes) ?? "-"
        health = (process["health"] as? [String: Any])?["status"] as? String ?? "-"
        package = process["package_id"] as? String ?? "-"
        if let exit = process["last_exit"] as? [String: Any] {
            let how = (exit["signal_name"] as? String) ?? number(exit["code"]).map { "code \(Int($0))" } ?? "?"
            lastExit = "\(how) (\(exit["reason"] as? String ?? "?"))"
        } else {
            lastExit = "-"
        }
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds)
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return "\(whole / 60)m\(whole % 60)s" }
        if whole < 86_400 { return "\(whole / 3600)h\((whole % 3600) / 60)m" }
        return "\(whole / 86_400)d\((whole % 86_400) / 3600)h"
    }

    static func bytes(_ value: Double) -> String {
        let mebibyte = 1_048_576.0
        if value >= 1024 * mebibyte { return String(format: "%.1fG", value / (1024 * mebibyte)) }
        if value >= mebibyte { return String(format: "%.1fM", value / mebibyte) }
        return String(format: "%.0fK", value / 1024)
    }
}

struct ProcessList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List agents: id, state, pid, port, uptime, restarts, CPU, memory, health.",
        discussion: "On a terminal a table; otherwise (a pipe, a file) the status document's `processes` object as JSON, keyed by process id. Exit status: 0, 1 refused, 2 the daemon cannot be reached.",
        aliases: ["ls"]
    )
    @OptionGroup var connection: Connection
    @Option(name: .shortAndLong, help: "table, wide (adds package and last exit) or json (default: table on a terminal, json otherwise).") var output: String?
    @Flag(help: "Redraw every 2 s until interrupted.") var watch = false

    func validate() throws {
        if let output, !["table", "wide", "json"].contains(output) { throw ValidationError("-o takes table, wide or json, got \(output)") }
    }

    func run() throws {
        repeat {
            let answer = try connection.call { try $0.get("/supervisor/status") }
            guard answer.status < 400 else { try connection.refuse(answer) }
            let format = output ?? (Terminal.isInteractive ? "table" : "json")
            if watch, Terminal.isInteractive { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            if format == "json" {
                // The daemon's own `processes` object (keyed by process id), as it sent it.
                guard let processes = JSONSlice.member("processes", of: answer.body) else { try connection.refuse(answer) }
                print(String(decoding: processes, as: UTF8.self))
            } else {
                let processes = (answer.json["processes"] as? [String: [String: Any]] ?? [:]).sorted { $0.key < $1.key }.map(\.value)
                print(Self.table(processes.map(ProcessRow.init), wide: format == "wide"))
            }
            fflush(nil)
            if watch { usleep(2_000_000) }
        } while watch
    }

    static func table(_ rows: [ProcessRow], wide: Bool) -> String {
        guard !rows.isEmpty else { return "no agents (par spawn, or declare them in a config file)" }
        let table = TextTable<ProcessRow> { row in
            var columns = [
                Column(title: "ID", value: row.id), Column(title: "STATE", value: row.state), Column(title: "PID", value: row.pid),
                Column(title: "PORT", value: row.port), Column(title: "UPTIME", value: row.uptime), Column(title: "RESTARTS", value: row.restarts),
                Column(title: "CPU", value: row.cpu), Column(title: "MEM", value: row.memory), Column(title: "HEALTH", value: row.health),
            ]
            if wide {
                columns += [Column(title: "PACKAGE", value: row.package), Column(title: "LAST EXIT", value: row.lastExit)]
            }
            return columns
        }
        return table.string(for: rows, style: Style.simple) ?? ""
    }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove an agent from the daemon for good (its log lines stay until retention ages them out).",
        discussion: "A running agent needs --force, which stops it first. One a config file declares is removed from the file and `par reload`. Exit status: 0 removed, 1 refused, 2 the daemon cannot be reached."
    )
    @OptionGroup var connection: Connection
    @Argument(help: "The agent (NAME or par-NAME).") var processID: String
    @Flag(help: "Stop it first if it runs.") var force = false

    func run() throws {
        let path = "/supervisor/processes/\(ProcessName.id(processID))" + (force ? "?force=true" : "")
        let answer = try connection.call { try $0.delete(path) }
        guard answer.status < 400 else { try connection.refuse(answer) }
        print("removed \(answer.json["process_id"] as? String ?? ProcessName.id(processID))")
    }
}

struct Describe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One agent in the sections a person reads: spec, state, last exit, limits and usage, health, recent supervisor events.",
        discussion: "Exit status: 0, 1 unknown agent (or refused), 2 the daemon cannot be reached."
    )
    @OptionGroup var connection: Connection
    @Argument(help: "The agent (NAME or par-NAME).") var processID: String
    @Option(help: "How many recent supervisor events to show.") var events = 10

    func run() throws {
        let id = ProcessName.id(processID)
        let answer = try connection.call { try $0.get("/supervisor/processes/\(id)") }
        guard answer.status < 400 else { try connection.refuse(answer) }
        let process = answer.json
        let agent = process["agent_id"] as? String ?? processID
        let log = try connection.call { try $0.get("/supervisor/logs?process_id=supervisor&q=\(agent.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? agent)&limit=200") }
        let lines = (log.json["logs"] as? [[String: Any]] ?? []).filter { (($0["extra"] as? [String: Any])?["agent_id"] as? String) == agent }
        print(Self.render(process, events: Array(lines.prefix(events).reversed())))
    }

    static func render(_ process: [String: Any], events: [[String: Any]]) -> String {
        func text(_ value: Any?) -> String {
            switch value {
            case nil, is NSNull: return "-"
            case let number as NSNumber: return number.stringValue
            case let string as String: return string
            default: return "\(value!)"
            }
        }
        var out: [String] = []
        func section(_ title: String, _ pairs: [(String, Any?)]) {
            out.append(title)
            for (name, value) in pairs { out.append("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0) + text(value)) }
            out.append("")
        }
        let health = process["health"] as? [String: Any] ?? [:]
        let resources = process["resources"] as? [String: Any]
        let exit = process["last_exit"] as? [String: Any]
        let limits = process["limits"] as? [String: Any] ?? [:]
        section("Agent", [("id", process["agent_id"]), ("process id", process["process_id"]), ("package", process["package_id"]), ("package path", process["package_path"])])
        section("State", [("state", process["state"]), ("pid", process["pid"]), ("port", process["port"]), ("uptime (s)", process["uptime"]), ("run", process["run"]),
                          ("restarts", process["restart_count"]), ("restart policy", process["restart_policy"]), ("max restarts", process["max_restarts"]),
                          ("next restart at", process["next_restart_at"]), ("error", process["error"])])
        section("Last exit", exit.map { [("code", $0["code"]), ("signal", $0["signal_name"]), ("reason", $0["reason"]), ("at", $0["at"]), ("run", $0["run"])] } ?? [("none", "")])
        section("Limits and usage", [("memory limit (MB)", limits["memory_limit_mb"]), ("cpu limit (cores)", limits["cpu_limit"]), ("pids limit", limits["pids_limit"]),
                                     ("nice", limits["nice"]), ("enforced", process["limits_enforced"]), ("cgroup", process["cgroup"]),
                                     ("cpu %", (resources?["cpu"] as? [String: Any])?["percent"]), ("rss bytes", (resources?["memory"] as? [String: Any])?["rss_bytes"]),
                                     ("processes", resources?["num_processes"])])
        section("Health", [("status", health["status"]), ("check", health["type"]), ("path", health["path"]), ("declared", health["declared"]),
                           ("judged by", health["judged_by"]), ("last probe", health["last_probe_at"]), ("failures in a row", health["consecutive_failures"]), ("last error", health["error"])])
        out.append("Recent supervisor events")
        if events.isEmpty { out.append("  none") }
        for event in events {
            let kind = (event["extra"] as? [String: Any])?["event"] as? String ?? "-"
            out.append("  \(text(event["timestamp"]))  \(kind.padding(toLength: 18, withPad: " ", startingAt: 0)) \(text(event["message"]))")
        }
        return out.joined(separator: "\n")
    }
}

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Live usage: agents by CPU, with memory, processes and restarts, redrawn every interval until interrupted.",
        discussion: "Off a terminal it prints one table and exits (for scripts, use ps -o json)."
    )
    @OptionGroup var connection: Connection
    @Option(help: "Seconds between redraws.") var interval = 2.0
    @Option(help: "Rows shown (the busiest first).") var rows = 30

    func validate() throws {
        guard interval >= 0.2 else { throw ValidationError("--interval must be at least 0.2 s") }
    }

    func run() throws {
        repeat {
            let answer = try connection.call { try $0.get("/supervisor/status") }
            guard answer.status < 400 else { try connection.refuse(answer) }
            let processes = (answer.json["processes"] as? [String: [String: Any]] ?? [:]).map(\.value)
            let ranked = processes.map(ProcessRow.init).sorted { Self.cpu($0) > Self.cpu($1) }
            if Terminal.isInteractive { print("\u{1B}[H\u{1B}[2J", terminator: "") }
            let running = processes.filter { $0["state"] as? String == "running" }.count
            print("\(running) of \(processes.count) agents running; the \(min(rows, ranked.count)) busiest:")
            let table = TextTable<ProcessRow> { row in
                [Column(title: "ID", value: row.id), Column(title: "STATE", value: row.state), Column(title: "CPU", value: row.cpu),
                 Column(title: "MEM", value: row.memory), Column(title: "RESTARTS", value: row.restarts), Column(title: "UPTIME", value: row.uptime),
                 Column(title: "HEALTH", value: row.health)]
            }
            print(table.string(for: Array(ranked.prefix(rows)), style: Style.simple) ?? "")
            fflush(nil)
            guard Terminal.isInteractive else { return }
            usleep(UInt32(interval * 1_000_000))
        } while true
    }

    private static func cpu(_ row: ProcessRow) -> Double {
        Double(row.cpu.dropLast()) ?? -1
    }
}
