import ArgumentParser
import Foundation
import PARClient

#if canImport(Glibc)
import Glibc
#endif

/// Where the CLI finds the daemon and its token, in the order a user expects: the flag,
/// the environment, the default. What it could not find is said with where it looked,
/// instead of surfacing as the server's 401.
struct Connection: ParsableArguments {
    @Option(help: "The daemon's address, e.g. http://127.0.0.1:8000 (default: PAR_URL, else http://127.0.0.1:8000).")
    var url: String?

    @Option(help: ArgumentHelp("The daemon's host (prefer --url).", visibility: .hidden))
    var host: String?

    @Option(help: ArgumentHelp("The daemon's port (prefer --url).", visibility: .hidden))
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "The daemon's data dir, where its token is (default: PAR_DATA_DIR, else .par; PAR_TOKEN wins over both).")
    var dataDir: String?

    private var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The daemon's address: `--url`, then `PAR_URL`, then `--host`/`--port`, then the default.
    func endpoint() throws -> (host: String, port: Int, text: String) {
        if let text = url ?? environment["PAR_URL"], !text.isEmpty {
            guard let components = URLComponents(string: text), components.scheme == "http", let host = components.host, !host.isEmpty else {
                throw ValidationError("\(url != nil ? "--url" : "PAR_URL") must look like http://127.0.0.1:8000, got \(text.debugDescription)")
            }
            return (host, components.port ?? 80, text)
        }
        let host = host ?? "127.0.0.1"
        let port = port ?? 8000
        return (host, port, "http://\(host):\(port)")
    }

    /// The management token: `PAR_TOKEN`, else `<data dir>/token`.
    func token() throws -> String {
        if let token = environment["PAR_TOKEN"], !token.isEmpty { return token }
        let directory = dataDir ?? environment["PAR_DATA_DIR"] ?? ".par"
        let path = URL(fileURLWithPath: directory).appendingPathComponent("token").standardizedFileURL.path
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            FileHandle.standardError.write(Data("par: no management token: PAR_TOKEN is not set and \(path) cannot be read; set PAR_TOKEN, or point --data-dir (or PAR_DATA_DIR) at the daemon's data dir\n".utf8))
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
