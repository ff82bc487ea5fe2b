import Foundation
import PARClient
import PARTestKit
import Testing

/// `GET /openapi.json` against the live daemon: served without a token, and its security
/// claims hold for every operation (the token is asked exactly where it says), on the API
/// port and on the dashboard's, which serves the same API (and `/ui`'s sessions) without agents.
@Suite("API document, live")
struct APIDocumentTests {
    @Test func isServedWithoutATokenAndItsSecurityHolds() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let anonymous = PARAPIClient(port: daemon.port, token: nil)
        let onDashboard = PARAPIClient(port: try #require(daemon.dashboardPort()), token: nil)
        let answer = try anonymous.get("/openapi.json")
        #expect(answer.status == 200)
        #expect(answer.headers.first { $0.key.lowercased() == "content-type" }?.value.hasPrefix("application/json") == true)
        let document = answer.json
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let globallyGuarded = (document["security"] as? [[String: Any]])?.isEmpty == false

        var checked = 0
        for (template, item) in paths {
            // Parameters filled with names no agent has: an open operation then answers 404
            // or better, a guarded one 401 before it looks.
            let path = template
                .replacingOccurrences(of: "{process_id}", with: "par-nobody")
                .replacingOccurrences(of: "{agent_id}", with: "nobody")
                .replacingOccurrences(of: "{path}", with: "x")
            for (method, operation) in item {
                guard let operation = operation as? [String: Any], ["get", "post", "delete", "put", "patch"].contains(method) else { continue }
                let guarded = (operation["security"] as? [[String: Any]]).map { !$0.isEmpty } ?? globallyGuarded
                let hasBody = method != "get" && method != "delete"
                // `/ui`'s routes live on the dashboard's port; the API port only points there.
                let ports = path.hasPrefix("/ui") ? [onDashboard] : [anonymous, onDashboard]
                for client in ports {
                    let reply = try client.connection.request(
                        method.uppercased(), path, headers: hasBody ? ["Content-Type": "application/json"] : [:], body: hasBody ? Array("{}".utf8) : nil
                    )
                    let port = client === anonymous ? "API port" : "dashboard port"
                    if guarded {
                        #expect(reply.status == 401, "\(method.uppercased()) \(path) on the \(port) is documented as needing the token: \(reply.status)")
                    } else {
                        #expect(reply.status != 401, "\(method.uppercased()) \(path) on the \(port) is documented as open: \(reply.status)")
                    }
                    checked += 1
                }
            }
        }
        #expect(checked > 20)
    }
}
