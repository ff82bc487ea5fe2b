import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import PARCore

/// The dashboard: `GET /ui` (the page) and `/ui/app.js`, served from the binary (no CDN,
/// works offline), and `/ui/session`, where the token is exchanged for a session cookie.
struct UIRoutes: Sendable {
    let token: String
    let sessions: UISessions
    /// `--dashboard`; off, every `/ui` route answers 404 saying how to turn it on.
    let enabled: Bool

    /// What the security middleware lets through without a token: the page and its script
    /// (they hold no data), and the session endpoint's sign-in and check (they judge
    /// the token and the cookie themselves).
    static func isOpen(method: HTTPRequest.Method, segments: [Substring]) -> Bool {
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
        guard enabled else {
            let off = { @Sendable (_: Request, _: Context) async throws -> Response in
                throw APIError(.notFound, "dashboard off", detail: "start the daemon with --dashboard (dashboard: true in a config file) to serve /ui; it shares its origin with agents' pages, so enable it where every agent is trusted")
            }
            router.get("/ui", use: off)
            router.get("/ui/app.js", use: off)
            router.get("/ui/session", use: off)
            router.post("/ui/session", use: off)
            router.delete("/ui/session", use: off)
            return
        }
        router.get("/ui") { _, _ in
            Response(status: .ok, headers: Self.pageHeaders, body: .init(byteBuffer: Self.page))
        }
        router.get("/ui/app.js") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-store"], body: .init(byteBuffer: Self.script))
        }
        router.get("/ui/session") { request, _ in
            guard let session = sessions.session(cookieHeader: request.headers[.cookie]) else {
                throw Self.unauthorized("not signed in", "sign in with POST /ui/session {\"token\": \"...\"}; the token is in <data-dir>/token")
            }
            return Self.sessionAnswer(csrf: session.csrf, cookie: nil, lifetime: sessions.lifetimeSeconds)
        }
        router.post("/ui/session") { request, _ in
            try await signIn(request)
        }
        router.delete("/ui/session") { request, _ in
            if let session = sessions.session(cookieHeader: request.headers[.cookie]) { sessions.close(id: session.id) }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[.setCookie] = sessions.setCookie("", maxAge: 0)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"success","signed_out":true}"#)))
        }
    }

    private func signIn(_ request: Request) async throws -> Response {
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
