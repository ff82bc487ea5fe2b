import Hummingbird
import HTTPTypes
import Testing

@testable import PARServer

/// Which methods a path takes, matched as the router's trie matches: the table behind 405.
@Suite("Route methods")
struct RouteMethodsTests {
    static let table: RouteMethods = {
        let table = RouteMethods()
        table.record([
            ("/supervisor/status", .get),
            ("/supervisor/processes/:id", .get),
            ("/supervisor/processes/:id", .delete),
            ("/supervisor/stop/:id", .post),
            ("/agents/:id/**", .get),
            ("/agents/:id/**", .post),
            ("/agents/:id", .get),
        ])
        return table
    }()

    @Test(arguments: [
        ("/supervisor/status", ["GET"]),
        ("/supervisor/processes/par-a", ["DELETE", "GET"]),
        ("/supervisor/stop/par-a", ["POST"]),
        ("/agents/a/deep/path", ["GET", "POST"]),
        ("/agents/a", ["GET"]),
        ("/supervisor/processes", []),
        ("/supervisor/processes/par-a/extra", []),
        ("/supervisor/statu", []),
        ("/", []),
    ])
    func aPathTakesWhatItsRoutesTake(path: String, expected: [String]) {
        #expect(Self.table.allowed(for: path).map(\.rawValue) == expected)
    }
}
