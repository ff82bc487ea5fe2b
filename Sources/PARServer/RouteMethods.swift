import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route takes, so a known path asked with a method it does not take is
/// answered 405 with `Allow` (RFC 9110, 15.5.6) rather than the router's 404, which would
/// tell a client the path is wrong. Hummingbird's router only knows "no route"; this reads
/// its route list once the routers are built.
final class RouteMethods: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func record(_ more: [(path: RouterPath, method: HTTPRequest.Method)]) {
        routes.withLock { $0 += more }
    }

    /// The methods routes matching `path` take, in a stable order; empty for a path no
    /// route knows.
    func allowed(for path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/")
        let methods = routes.withLock { table in
            Set(table.filter { Self.matches($0.path, segments) }.map(\.method.rawValue))
        }
        return methods.sorted().compactMap { HTTPRequest.Method($0) }
    }

    /// Matches as the router's trie does: one segment per element, `**` the rest.
    static func matches(_ route: RouterPath, _ segments: [Substring]) -> Bool {
        var index = 0
        for element in route.components {
            if element == .recursiveWildcard { return index < segments.count }
            guard index < segments.count, element ~= segments[index] else { return false }
            index += 1
        }
        return index == segments.count
    }
}
