import ArgumentParser
import Foundation
import PARClient
import PARConfig

#if canImport(Glibc)
import Glibc
#endif

/// Where the CLI finds the daemon and its token, in the order a user expects: the flag,
/// the environment, the daemon's config file, the default. What it could not find is said
/// with where it looked, instead of surfacing as the server's 401.
struct Connection: ParsableArguments {
    @Option(help: "The daemon's address, e.g. http://127.0.0.1:8000 (default: PAR_URL, else the config file's host and port, else http://127.0.0.1:8000).")
    var url: String?

    @Option(name: .customLong("config"), help: "The daemon's config file (default: PAR_CONFIG, else ./par.yaml if present): its host, port and data_dir say where the daemon and its token are.")
    var configPath: String?

    @Option(help: ArgumentHelp("The daemon's host (prefer --url).", visibility: .hidden))
    var host: String?

    @Option(help: ArgumentHelp("The daemon's port (prefer --url).", visibility: .hidden))
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "The daemon's data dir, where its token is (default: PAR_DATA_DIR, else .par; PAR_TOKEN wins over both).")
    var dataDir: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The daemon's config file, when one is named or `par.yaml` is here: only its `host`,
    /// `port` and `data_dir` are read (the daemon reads the rest). Named and unreadable, or
    /// not valid, it is an error (exit 2) rather than a silent fall back to the defaults.
    func configSettings() throws -> (path: String, settings: [String: SettingValue])? {
        let named = configPath ?? environment["PAR_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let path: String
        if let named {
            path = named
        } else if FileManager.default.fileExists(atPath: "par.yaml") {
            path = "par.yaml"
        } else {
            return nil
        }
        do {
            let file = try ConfigFile.load(path: path, environment: environment)
            return (file.path, file.settings)
        } catch {
            let origin = configPath != nil ? "--config" : named != nil ? "PAR_CONFIG" : "./par.yaml"
            FileHandle.standardError.write(Data("par: the daemon's config file (\(origin)) cannot be used:\n\(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// The daemon's address: `--url`, then `PAR_URL`, then `--host`/`--port`, then the
    /// config file's `host`/`port`, then the default.
    func endpoint() throws -> (host: String, port: Int, text: String) {
        if let text = url ?? environment["PAR_URL"], !text.isEmpty {
            guard let components = URLComponents(string: text), components.scheme == "http", let host = components.host, !host.isEmpty else {
                throw ValidationError("\(url != nil ? "--url" : "PAR_URL") must look like http://127.0.0.1:8000, got \(text.debugDescription)")
            }
            return (host, components.port ?? 80, text)
        }
        let settings = (host == nil || port == nil) ? try configSettings()?.settings ?? [:] : [:]
        var host = host ?? settings["host"].flatMap { if case .string(let v) = $0 { v } else { nil } } ?? "127.0.0.1"
        // A daemon listening on every address is reached on loopback.
        if host == "0.0.0.0" { host = "127.0.0.1" } else if host == "::" { host = "::1" }
        let port = port ?? settings["port"].flatMap { if case .int(let v) = $0 { v } else { nil } } ?? 8000
        let shown = host.contains(":") ? "[\(host)]" : host
        return (host, port, "http://\(shown):\(port)")
    }

    /// The management token: `PAR_TOKEN`, else `<data dir>/token`, the data dir from
    /// `--data-dir`, `PAR_DATA_DIR`, the config file's `data_dir`, or `.par`.
    func token() throws -> String {
        if let token = environment["PAR_TOKEN"], !token.isEmpty { return token }
        var origin = "the default"
        var directory = ".par"
        if let flag = dataDir {
            (directory, origin) = (flag, "--data-dir")
        } else if let variable = environment["PAR_DATA_DIR"], !variable.isEmpty {
            (directory, origin) = (variable, "PAR_DATA_DIR")
        } else if let file = try configSettings(), case .string(let fromFile)? = file.settings["data_dir"] {
            (directory, origin) = (fromFile, "data_dir in \(file.path)")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("token").standardizedFileURL.path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            FileHandle.standardError.write(Data("par: no management token: PAR_TOKEN is not set and \(path) (from \(origin)) cannot be read; set PAR_TOKEN, or point --data-dir (or PAR_DATA_DIR, or --config) at the daemon's data dir\n".utf8))
            throw ExitCode(2)
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func client() throws -> PARAPIClient {
        let (host, port, _) = try endpoint()
        return PARAPIClient(host: host, port: port, token: try token())
    }

    /// Runs one call; a daemon that cannot be reached is said plainly (exit 2, as a missing token).
    func call(_ request: (PARAPIClient) throws -> HTTPAnswer) throws -> HTTPAnswer {
        let client = try client()
        do {
            return try request(client)
        } catch {
            let address = (try? endpoint().text) ?? "?"
            FileHandle.standardError.write(Data("par: cannot reach the daemon at \(address) (--url or PAR_URL): \(error)\n".utf8))
            throw ExitCode(2)
        }
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

    /// A 4xx/5xx as one line on stderr (exit 1): `error: detail`.
    func refuse(_ answer: HTTPAnswer) throws -> Never {
        let json = answer.json
        let error = json["error"] as? String ?? "HTTP \(answer.status)"
        let detail = json["detail"] as? String ?? answer.text
        FileHandle.standardError.write(Data("par: \(error): \(detail)\n".utf8))
        throw ExitCode(1)
    }
}

/// A process id from what a user types: `hello` and `par-hello` name the same agent.
enum ProcessName {
    static func id(_ typed: String) -> String {
        typed.hasPrefix("par-") || typed == "supervisor" ? typed : "par-" + typed
    }
}

/// Whether standard output is a terminal: tables and colour only there (and `NO_COLOR` unset).
enum Terminal {
    static var isInteractive: Bool { isatty(STDOUT_FILENO) == 1 }
    static var usesColour: Bool { isInteractive && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty }
}
