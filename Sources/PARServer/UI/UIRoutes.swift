import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PARCore
import Synchronization

/// Where the dashboard's listener is, once it listens (`--ui-port 0` picks a free port).
public final class DashboardLocation: Sendable {
    private let port = Mutex<Int?>(nil)

    public init() {}

    var boundPort: Int? { port.withLock { $0 } }

    func listening(on bound: Int) { port.withLock { $0 = bound } }
}

/// The dashboard: `GET /ui` (the page) and `/ui/app.js`, served from the binary (no CDN,
/// works offline), and `/ui/session`, where the token is exchanged for a session cookie.
/// Served only on the dashboard's own port; the public port points there.
struct UIRoutes: Sendable {
    enum Mode: Sendable {
        /// The dashboard's port: the page, and sessions in these.
        case served(UISessions)
        /// The public port: `GET /ui` redirects to the dashboard's port (nil: no dashboard),
        /// the session routes answer 404 saying where they are.
        case elsewhere(DashboardLocation?)
    }

    let token: String
    let mode: Mode

    /// What the security middleware lets through without a token: the page and its script
    /// (they hold no data), and the session endpoint's sign-in and check (they judge
    /// the token and the cookie themselves).
    static func isOpen(method: HTTPRequest.Method, segments: [Substring]) -> Bool {
        // `/` on the dashboard's port sends a browser to the page.
        if segments.isEmpty { return method == .get }
        guard segments.first == "ui" else { return false }
        switch (method, segments.count) {
        case (.get, 1): return true
        case (.get, 2): return segments[1] == "app.js" || segments[1] == "session"
        case (.post, 2): return segments[1] == "session"
        default: return false
        }
    }

    private static let page = ByteBuffer(string: DashboardPage.html)
    private static let script = ByteBuffer(string: DashboardPage.script)
    /// Scripts only from the daemon itself; never framed (clickjacking).
    private static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        HTTPField.Name("Content-Security-Policy")!: "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    func register<Context: RequestContext>(on router: Router<Context>) {
        switch mode {
        case .served(let sessions): registerPage(on: router, sessions: sessions)
        case .elsewhere(let location): registerPointers(on: router, location: location)
        }
    }

    /// On the public port: the page's address moves to the dashboard's port; a cookie is
    /// never issued here, where agents' pages share the origin.
    private func registerPointers<Context: RequestContext>(on router: Router<Context>, location: DashboardLocation?) {
        let notHere = { @Sendable (request: Request, _: Context) async throws -> Response in
            throw Self.notHere(request, location: location)
        }
        router.get("/ui") { request, _ in
            guard let target = Self.dashboardURL(request, location: location) else { throw Self.notHere(request, location: location) }
            return Response(status: .temporaryRedirect, headers: [.location: target + "/ui", .cacheControl: "no-store"])
        }
        router.get("/ui/app.js", use: notHere)
        router.get("/ui/session", use: notHere)
        router.post("/ui/session", use: notHere)
        router.delete("/ui/session", use: notHere)
    }

    /// `http://host:port` of the dashboard, with the host the client used for this port
    /// (so `localhost` stays `localhost`); nil when there is no dashboard listening.
    static func dashboardURL(_ request: Request, location: DashboardLocation?) -> String? {
        guard let port = location?.boundPort else { return nil }
        let authority = request.head.authority ?? "127.0.0.1"
        let host: Substring
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[...close]
        } else {
            host = authority.split(separator: ":", maxSplits: 1).first ?? "127.0.0.1"
        }
        return "http://\(host):\(port)"
    }

    private static func notHere(_ request: Request, location: DashboardLocation?) -> APIError {
        if let target = dashboardURL(request, location: location) {
            return APIError(.notFound, "dashboard on its own port", detail: "the dashboard and its sign-in are served at \(target)/ui, not on the port agents' pages share")
        }
        return APIError(.notFound, "dashboard off", detail: "the daemon runs with --no-dashboard (dashboard: false in a config file) or its --ui-port could not be bound; see the daemon's log")
    }

    private func registerPage<Context: RequestContext>(on router: Router<Context>, sessions: UISessions) {
        router.get("/") { _, _ in
            Response(status: .temporaryRedirect, headers: [.location: "/ui", .cacheControl: "no-store"])
        }
        router.get("/ui") { _, _ in
            Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: Self.page))
        }
        router.get("/ui/app.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: Self.script))
        }
        router.get("/ui/session") { request, _ in
            // The CSRF token goes to the dashboard's own pages only.
            try SecurityMiddleware<Context>.checkSessionOrigin(request)
            guard let session = sessions.session(cookieHeader: request.headers[.cookie]) else {
                throw Self.unauthorized("not signed in", "sign in with POST /ui/session {\"token\": \"...\"}; the token is in <data-dir>/token")
            }
            return Self.sessionAnswer(csrf: session.csrf, cookie: nil, lifetime: sessions.lifetimeSeconds)
        }
        router.post("/ui/session") { request, _ in
            try await signIn(request, sessions: sessions)
        }
        router.delete("/ui/session") { request, _ in
            if let session = sessions.session(cookieHeader: request.headers[.cookie]) { sessions.close(id: session.id) }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[.setCookie] = sessions.setCookie("", maxAge: 0)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"success","signed_out":true}"#)))
        }
    }

    private func signIn(_ request: Request, sessions: UISessions) async throws -> Response {
        let body = try await request.collectBody(limit: 4096)
        let offered: String
        do {
            var fields = try JSONFields(body: Data(buffer: body))
            guard let value = try fields.string("token") else {
                throw ValidationError(field: "token", reason: "is required: the management token from <data-dir>/token")
            }
            try fields.rejectUnknown()
            offered = value
        } catch let error as ValidationError {
            throw APIError.invalid(error)
        }
        guard SecurityMiddleware<BasicRequestContext>.constantTimeEquals(offered, token) else {
            throw Self.unauthorized("wrong token", "that is not the management token; it is in <data-dir>/token (or the daemon's PAR_TOKEN)")
        }
        let session = sessions.open()
        return Self.sessionAnswer(csrf: session.csrf, cookie: sessions.setCookie(session.id), lifetime: sessions.lifetimeSeconds)
    }

    /// A 401 says how to authenticate (RFC 9110 section 11.6.1), as the API's own do.
    private static func unauthorized(_ error: String, _ detail: String) -> APIError {
        var answer = APIError(.unauthorized, error, detail: detail)
        answer.headers[.wwwAuthenticate] = "Bearer realm=\"par\""
        return answer
    }

    private static func sessionAnswer(csrf: String, cookie: String?, lifetime: Double) -> Response {
        var headers: HTTPFields = [.contentType: "application/json", .cacheControl: "no-store"]
        if let cookie { headers[.setCookie] = cookie }
        var json = JSONWriter(capacity: 160)
        json.beginObject()
        json.field("status", "success")
        json.field("csrf_token", csrf)
        json.field("expires_in_seconds", Int(lifetime))
        json.endObject()
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }
}
