import Foundation
import PARClient
import PARTestKit
import Testing

/// Every 4xx the served API document lists for an operation is reachable: a table of
/// concrete requests, each naming the operation it exercises and the status it gets, runs
/// against real daemons, and the (operation, status) pairs it exercised must be exactly
/// the ones the document lists. A 4xx newly documented without a trigger, or a trigger for
/// one the document does not list, fails here.
@Suite("API document, every documented 4xx is reachable")
struct APIDocumentErrorsTests {
    /// The daemons the rows run against, one each, reused by every row.
    enum Setup: Sendable {
        /// `par serve --package-dir P`: agent `demo` runs from P/ok.apkg; P/bad.apkg's
        /// manifest names a program that does not exist.
        case plain
        /// `par serve --config par.yaml --proxy-requires-token`; the file declares `cfg`.
        case config
        /// The plain daemon's dashboard port (`/ui` and its sessions live there).
        case dashboard
    }

    enum Body: Sendable {
        case none
        /// JSON text, sent with `Content-Type: application/json`.
        case json(String)
        /// `{}` sent as `Content-Type: text/plain`.
        case plainText
        /// 1,100,000 bytes of JSON (over the 1 MiB limit).
        case big
    }

    /// Done on the row's daemon just before its request.
    enum Preparation: Sendable {
        /// Writes `agents: [` into the config file, which then no longer parses.
        case breakConfigFile
    }

    struct Trigger: Sendable {
        /// `METHOD /template` as the document names it.
        var operation: String
        var status: Int
        var setup: Setup
        var method: String
        /// The path as sent, byte for byte (no client-side normalisation); `$P` is the
        /// package directory.
        var path: String
        var token = true
        var body = Body.none
        var headers: [String: String] = [:]
        /// Why the answer has no JSON body, for the rows whose answers have none.
        var bodyless: String?
        var prepare: Preparation?

        var name: String { "\(method) \(path) (\(status))" }
    }

    /// A WebSocket upgrade's request head.
    static let upgrade = [
        "Upgrade": "websocket", "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
    ]

    /// HummingbirdWebSocket answers an upgrade it does not make (the route's
    /// `.dontUpgrade`, or a middleware's refusal under it) with a bare 400 and
    /// `Connection: close`: no JSON body, whatever the reason was.
    static let refusedUpgrade = "a refused WebSocket upgrade: HummingbirdWebSocket's bare 400"

    static func triggers() -> [Trigger] {
        func row(
            _ operation: String, _ status: Int, _ request: String, on setup: Setup = .plain,
            token: Bool = true, body: Body = .none, headers: [String: String] = [:], bodyless: String? = nil, prepare: Preparation? = nil
        ) -> Trigger {
            let parts = request.split(separator: " ", maxSplits: 1).map(String.init)
            return Trigger(operation: operation, status: status, setup: setup, method: parts[0], path: parts[1], token: token,
                           body: body, headers: headers, bodyless: bodyless, prepare: prepare)
        }
        var rows: [Trigger] = [
            row("POST /supervisor/spawn", 400, "POST /supervisor/spawn", body: .json(#"{"agent_id":"Bad!","package_path":"/x"}"#)),
            row("POST /supervisor/spawn", 401, "POST /supervisor/spawn", token: false, body: .json("{}")),
            row("POST /supervisor/spawn", 403, "POST /supervisor/spawn", body: .json(#"{"agent_id":"x","package_path":"/etc/hosts"}"#)),
            // While demo runs (before the restart to bad.apkg below stops it).
            row("POST /supervisor/spawn", 409, "POST /supervisor/spawn", body: .json(#"{"agent_id":"demo","package_path":"$P/ok.apkg"}"#)),
            row("POST /supervisor/spawn", 413, "POST /supervisor/spawn", body: .big),
            row("POST /supervisor/spawn", 415, "POST /supervisor/spawn", body: .plainText),
            row("POST /supervisor/spawn", 422, "POST /supervisor/spawn", body: .json(#"{"agent_id":"bad","package_path":"$P/bad.apkg"}"#)),
            row("GET /supervisor/status", 401, "GET /supervisor/status", token: false),
            row("GET /supervisor/health", 401, "GET /supervisor/health", token: false),
            row("GET /supervisor/processes/{process_id}", 401, "GET /supervisor/processes/par-demo", token: false),
            row("GET /supervisor/processes/{process_id}", 404, "GET /supervisor/processes/par-nope"),
            row("DELETE /supervisor/processes/{process_id}", 400, "DELETE /supervisor/processes/par-demo?force=yes"),
            row("DELETE /supervisor/processes/{process_id}", 401, "DELETE /supervisor/processes/par-demo", token: false),
            row("DELETE /supervisor/processes/{process_id}", 404, "DELETE /supervisor/processes/par-nope"),
            // While demo runs: a live agent needs force.
            row("DELETE /supervisor/processes/{process_id}", 409, "DELETE /supervisor/processes/par-demo"),
            row("POST /supervisor/stop/{process_id}", 400, "POST /supervisor/stop/par-demo?timeout=abc"),
            row("POST /supervisor/stop/{process_id}", 401, "POST /supervisor/stop/par-demo", token: false),
            row("POST /supervisor/stop/{process_id}", 404, "POST /supervisor/stop/par-nope"),
            row("POST /supervisor/stop/{process_id}", 413, "POST /supervisor/stop/par-demo", body: .big),
            row("POST /supervisor/stop/{process_id}", 415, "POST /supervisor/stop/par-demo", body: .plainText),
            row("POST /supervisor/restart/{process_id}", 400, "POST /supervisor/restart/par-demo?strategy=fast"),
            row("POST /supervisor/restart/{process_id}", 401, "POST /supervisor/restart/par-demo", token: false),
            row("POST /supervisor/restart/{process_id}", 403, "POST /supervisor/restart/par-demo", body: .json(#"{"package_path":"/etc/hosts"}"#)),
            row("POST /supervisor/restart/{process_id}", 404, "POST /supervisor/restart/par-nope"),
            row("POST /supervisor/restart/{process_id}", 409, "POST /supervisor/restart/par-cfg", on: .config, body: .json(#"{"nice":5}"#)),
            row("POST /supervisor/restart/{process_id}", 413, "POST /supervisor/restart/par-demo", body: .big),
            row("POST /supervisor/restart/{process_id}", 415, "POST /supervisor/restart/par-demo", body: .plainText),
            row("POST /supervisor/reload", 400, "POST /supervisor/reload", body: .json(#"{"x":1}"#)),
            row("POST /supervisor/reload", 401, "POST /supervisor/reload", token: false),
            row("POST /supervisor/reload", 409, "POST /supervisor/reload"),
            row("POST /supervisor/reload", 413, "POST /supervisor/reload", body: .big),
            row("POST /supervisor/reload", 415, "POST /supervisor/reload", body: .plainText),
            row("GET /supervisor/logs", 400, "GET /supervisor/logs?limit=0"),
            row("GET /supervisor/logs", 401, "GET /supervisor/logs", token: false),
            row("DELETE /supervisor/logs", 400, "DELETE /supervisor/logs?level=INFO"),
            row("DELETE /supervisor/logs", 401, "DELETE /supervisor/logs", token: false),
            row("GET /supervisor/logs/stats", 401, "GET /supervisor/logs/stats", token: false),
            row("GET /supervisor/logs/stream", 400, "GET /supervisor/logs/stream?tail=-1"),
            row("GET /supervisor/logs/stream", 401, "GET /supervisor/logs/stream", token: false),
            row("GET /supervisor/events", 400, "GET /supervisor/events?tail=-1"),
            row("GET /supervisor/events", 401, "GET /supervisor/events", token: false),
            row("GET /ui/session", 401, "GET /ui/session", on: .dashboard, token: false),
            row("GET /ui/session", 403, "GET /ui/session", on: .dashboard, token: false, headers: ["Origin": "http://127.0.0.1:1"]),
            row("POST /ui/session", 400, "POST /ui/session", on: .dashboard, token: false, body: .json("{}")),
            row("POST /ui/session", 401, "POST /ui/session", on: .dashboard, token: false, body: .json(#"{"token":"not-the-token"}"#)),
            row("POST /ui/session", 413, "POST /ui/session", on: .dashboard, token: false, body: .big),
            row("POST /ui/session", 415, "POST /ui/session", on: .dashboard, token: false, body: .plainText),
            row("DELETE /ui/session", 401, "DELETE /ui/session", on: .dashboard, token: false),
            // On the API port, which agents' pages share, the dashboard is only pointed at.
            row("GET /ui", 404, "GET /ui", on: .config, token: false),
            row("GET /ui/app.js", 404, "GET /ui/app.js", token: false),
            row("GET /ui/session", 404, "GET /ui/session", token: false),
            row("POST /ui/session", 404, "POST /ui/session", token: false, body: .json("{}")),
            row("DELETE /ui/session", 404, "DELETE /ui/session"),
            // /supervisor/logs/ws: a plain GET (no Upgrade) reaches the HTTP route, which checks
            // the parameters and the token like any other and otherwise answers 426 - the only
            // way to get the 426. The same refusals made to a WebSocket upgrade are bare 400s.
            row("GET /supervisor/logs/ws", 400, "GET /supervisor/logs/ws?tail=x"),
            row("GET /supervisor/logs/ws", 401, "GET /supervisor/logs/ws", token: false),
            row("GET /supervisor/logs/ws", 426, "GET /supervisor/logs/ws"),
            row("GET /supervisor/logs/ws", 400, "GET /supervisor/logs/ws?tail=x", headers: upgrade, bodyless: refusedUpgrade),
            row("GET /supervisor/logs/ws", 400, "GET /supervisor/logs/ws", token: false, headers: upgrade, bodyless: refusedUpgrade),
            row("GET /metrics", 401, "GET /metrics", token: false),
            // An upgrade to an agent that does not exist is refused the same way (not a 404).
            row("GET /agents/{agent_id}/{path}", 400, "GET /agents/ghost/ws", headers: upgrade, bodyless: refusedUpgrade),
        ]
        // The proxy's statuses hold for every method the document lists on both of its paths.
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
            // A HEAD answer has no body, by HTTP; its head is still the JSON error's.
            let head = method == "HEAD" ? "HEAD: no body by HTTP" : nil
            rows += [
                row("\(method) /agents/{agent_id}", 400, "\(method) /agents/..", bodyless: head),
                row("\(method) /agents/{agent_id}", 401, "\(method) /agents/cfg", on: .config, token: false, bodyless: head),
                row("\(method) /agents/{agent_id}", 404, "\(method) /agents/ghost", bodyless: head),
                row("\(method) /agents/{agent_id}/{path}", 400, "\(method) /agents/ghost/a//b", bodyless: head),
                row("\(method) /agents/{agent_id}/{path}", 401, "\(method) /agents/cfg/x", on: .config, token: false, bodyless: head),
                row("\(method) /agents/{agent_id}/{path}", 404, "\(method) /agents/ghost/x", bodyless: head),
            ]
        }
        rows += [
            // Last of the plain daemon's rows: the stop-start restart stops demo before the
            // new run fails to start.
            row("POST /supervisor/restart/{process_id}", 422, "POST /supervisor/restart/par-demo", body: .json(#"{"package_path":"$P/bad.apkg"}"#)),
            // Last of the config daemon's rows: it breaks the file.
            row("POST /supervisor/reload", 422, "POST /supervisor/reload", on: .config, prepare: .breakConfigFile),
        ]
        return rows
    }

    /// Every `METHOD /template status` with a 4xx status the document lists.
    static func documented4xx(_ document: [String: Any]) -> Set<String> {
        var found: Set<String> = []
        for (template, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
            for (method, operation) in item {
                guard ["get", "put", "post", "delete", "options", "head", "patch", "trace"].contains(method),
                      let responses = (operation as? [String: Any])?["responses"] as? [String: Any] else { continue }
                for code in responses.keys where code.count == 3 && code.hasPrefix("4") {
                    found.insert("\(method.uppercased()) \(template) \(code)")
                }
            }
        }
        return found
    }

    /// Whether the concrete path (query aside) is one the template names: `{path}` spans
    /// segments, other parameters one segment.
    static func matches(_ path: String, _ template: String) -> Bool {
        let bare = String(path.prefix { $0 != "?" })
        let segments = template.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment == "{path}" ? ".+" : segment.hasPrefix("{") ? "[^/]+" : NSRegularExpression.escapedPattern(for: String(segment))
        }
        return bare.range(of: "^" + segments.joined(separator: "/") + "$", options: .regularExpression) != nil
    }

    @Test func everyDocumented4xxHasATriggerThatGetsIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
        let config = root.appendingPathComponent("par.yaml")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("packages"), withIntermediateDirectories: true)
        try sleeperPackage().write(to: root.appendingPathComponent("packages/ok.apkg"))
        try "agents:\n  cfg:\n    package_path: packages/ok.apkg\n".write(to: config, atomically: true, encoding: .utf8)
        let configured: DaemonHarness
        do {
            configured = try DaemonHarness(extraArguments: ["--config", config.path, "--proxy-requires-token", "--no-dashboard"], root: root)
        } catch {
            try? FileManager.default.removeItem(at: root)
            throw error
        }
        defer { configured.stop() }
        let plain = try DaemonHarness()
        let dashboardPort = try #require(plain.dashboardPort())
        defer { plain.stop() }

        let ok = try plain.install(sleeperPackage(), name: "ok")
        let bad = APKGBuilder(items: [.file(path: "agent.yaml", contents: "name: bad\nversion: 1.0.0\nruntime: python3.11\ncommand: [\"/nonexistent/prog\"]\n")])
        _ = try plain.install(bad, name: "bad")
        let spawned = try plain.spawn("demo", package: ok)
        #expect(spawned.status == 200, "\(spawned.text)")
        try plain.waitFor("par-demo") { state($0) == "running" }
        try configured.waitFor("par-cfg") { state($0) == "running" }

        let served = try HTTPConnection(port: plain.port).request("GET", "/openapi.json")
        #expect(served.status == 200)
        let documented = Self.documented4xx(served.json)
        #expect(documented.count > 40)

        let bigBody = Array(#"{"x":""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 1_100_000 - 8) + Array(#""}"#.utf8)
        let rows = Self.triggers()
        var exercised: Set<String> = []
        for row in rows {
            let daemon = row.setup == .config ? configured : plain
            let template = String(row.operation.split(separator: " ")[1])
            #expect(Self.matches(row.path, template), "\(row.name) is not \(row.operation)")
            exercised.insert("\(row.operation) \(row.status)")
            if row.prepare == .breakConfigFile {
                try "agents: [".write(to: config, atomically: true, encoding: .utf8)
            }

            var headers = row.headers
            if row.token { headers["Authorization"] = "Bearer \(daemon.token)" }
            var body: [UInt8]?
            switch row.body {
            case .none: body = nil
            case .json(let text):
                headers["Content-Type"] = "application/json"
                body = Array(text.replacingOccurrences(of: "$P", with: daemon.packageDirectory.path).utf8)
            case .plainText:
                headers["Content-Type"] = "text/plain"
                body = Array("{}".utf8)
            case .big:
                headers["Content-Type"] = "application/json"
                body = bigBody
            }
            // A connection per row: some answers close theirs (`..`, refused upgrades).
            let connection = HTTPConnection(port: row.setup == .dashboard ? dashboardPort : daemon.port, timeoutSeconds: 10)
            defer { connection.close() }
            let answer: HTTPAnswer
            do {
                answer = try connection.request(row.method, row.path, headers: headers, body: body)
            } catch {
                Issue.record("\(row.name): \(error)")
                continue
            }
            #expect(answer.status == row.status, "\(row.name): got \(answer.status) \(answer.text.prefix(160))")
            if row.bodyless != nil {
                #expect(answer.body.isEmpty, "\(row.name): \(answer.text.prefix(160))")
                if row.method == "HEAD" {
                    #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, "\(row.name)")
                }
            } else {
                #expect(answer.headers["content-type"]?.hasPrefix("application/json") == true, "\(row.name)")
                #expect(answer.json["error"] is String && answer.json["detail"] is String, "\(row.name): \(answer.text.prefix(160))")
            }
        }

        let untriggered = documented.subtracting(exercised).sorted()
        let undocumented = exercised.subtracting(documented).sorted()
        #expect(untriggered.isEmpty && undocumented.isEmpty, "no trigger: \(untriggered); not documented: \(undocumented)")
    }
}
