import Foundation
import Hummingbird
import PARSupervisor
import Testing

@testable import PARServer

/// The API document against the router itself: every route the server answers is
/// documented, and every documented route is one the server answers.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json.utf8)) as? [String: Any])
    }

    /// `METHOD /path` for each operation in the document.
    static func documentedOperations() throws -> Set<String> {
        let paths = try #require(try document()["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        return Set(paths.flatMap { path, item in item.keys.filter(methods.contains).map { "\($0.uppercased()) \(path)" } })
    }

    @Test func namesExactlyTheRoutesTheServerHas() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("par-openapi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let supervisor = try Supervisor(config: SupervisorConfig(dataDirectory: directory, cgroupRoot: nil), prober: LoopbackProber())
        let client = APIServer.makeAgentClient()
        let routers = APIServer.makeRouters(
            supervisor: supervisor, agentClient: client, options: .init(token: "t", version: "test"), logger: .init(label: "test")
        )
        // A recursive wildcard (`/agents/:agent_id/**`) is `{path}` in the document.
        func operation(_ method: String, _ path: RouterPath) -> String {
            "\(method) " + path.description.replacingOccurrences(of: "/**", with: "/{path}")
        }
        var served = Set(routers.http.routes.map { operation($0.method.rawValue, $0.path) })
        // WebSocket upgrades are GETs on their paths.
        served.formUnion(routers.webSocket.routes.map { operation("GET", $0.path) })
        // The dashboard's port serves the same management API, and no agent: its origin must
        // not be one an agent's page can have.
        let dashboardRouters = APIServer.makeRouters(
            supervisor: supervisor, agentClient: client, options: .init(token: "t", version: "test"), logger: .init(label: "test"), surface: .dashboard
        )
        let dashboard = Set(dashboardRouters.http.routes.map { operation($0.method.rawValue, $0.path) } + dashboardRouters.webSocket.routes.map { operation("GET", $0.path) })
        await supervisor.shutdown()
        try await client.shutdown()
        #expect(dashboard.allSatisfy { !$0.contains("/agents") }, "\(dashboard.filter { $0.contains("/agents") })")
        #expect(dashboard.subtracting(served) == ["GET /"], "only the page's short address is extra")
        #expect(served.subtracting(dashboard).allSatisfy { $0.contains(" /agents/") })

        let documented = try Self.documentedOperations()
        let undocumented = served.subtracting(documented).sorted()
        let missing = documented.subtracting(served).sorted()
        #expect(undocumented.isEmpty, "routes the server has that the document lacks: \(undocumented.joined(separator: ", "))")
        #expect(missing.isEmpty, "documented routes the server does not have: \(missing.joined(separator: ", "))")
        #expect(served.count > 20)
    }

    @Test func isOpenAPI31WithTheBearerScheme() throws {
        let document = try Self.document()
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]]
        let bearer = try #require(schemes?.values.first { $0["scheme"] as? String == "bearer" })
        #expect(bearer["type"] as? String == "http")
        #expect((document["security"] as? [[String: Any]])?.isEmpty == false, "the token is required unless an operation says otherwise")
    }
}
