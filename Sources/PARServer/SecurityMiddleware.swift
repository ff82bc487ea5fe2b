import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Guards the management API: a bearer token on everything but `/runtime/health`, the API
/// document (`/openapi.json`) and the agents' proxy (deny by default), JSON-only request
/// bodies (a browser cannot send those cross-site without a preflight) and a size cap.
/// Also turns every error into the API's JSON error shape.
struct SecurityMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    let maxBodyBytes: Int
    /// `/agents/*` asks for the token too.
    let guardsProxy: Bool
    /// The dashboard's sessions: a valid session cookie stands for the token, with its CSRF
    /// token on every state-changing request.
    var sessions: UISessions? = nil
    /// What each route takes: a known path with another method is 405, not 404.
    var routeMethods: RouteMethods? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            try check(request)
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routeMethods?.allowed(for: request.uri.path) ?? []
            guard allowed.isEmpty || allowed.contains(request.method) else {
                return try Self.methodNotAllowed(request, allowed: allowed).response(from: request, context: context)
            }
            return try APIError(.notFound, "not found", detail: "no route \(request.method) \(request.uri.path); see GET /supervisor/status, POST /supervisor/spawn, GET /supervisor/logs, GET /runtime/health")
                .response(from: request, context: context)
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            return try Self.methodNotAllowed(request, allowed: routeMethods?.allowed(for: request.uri.path) ?? []).response(from: request, context: context)
        } catch let error as HTTPResponseError {
            return try APIError(error.status, error.status.reasonPhrase.lowercased(), detail: "\(error)")
                .response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return try APIError(.internalServerError, "internal error", detail: "\(error)")
                .response(from: request, context: context)
        }
    }

    /// 405 naming what the path takes, in the body and in `Allow`.
    static func methodNotAllowed(_ request: Request, allowed: [HTTPRequest.Method]) -> APIError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var refusal = APIError(.methodNotAllowed, "method not allowed", detail: allowed.isEmpty
            ? "\(request.method) is not accepted on \(request.uri.path)"
            : "\(request.uri.path) takes \(list), not \(request.method)")
        if !allowed.isEmpty { refusal.headers[.allow] = list }
        return refusal
    }

    private func check(_ request: Request) throws {
        let path = request.uri.path
        // The router skips empty segments; refusing them keeps every decision here on the
        // same path the router sees (`//supervisor/...` must not slip past the token).
        guard !path.contains("//") else {
            throw APIError(.badRequest, "invalid path", detail: "the path \(path.debugDescription) has an empty segment ('//'); remove the extra slash")
        }
        let segments = path.split(separator: "/")
        let isProxy = segments.first == "agents"
        let isOpen = (segments.count == 2 && segments[0] == "runtime" && segments[1] == "health")
            || (segments.count == 1 && segments[0] == "openapi.json")
            || UIRoutes.isOpen(method: request.method, segments: segments)
            || (isProxy && !guardsProxy)
        if !isOpen { try checkToken(request) }
        guard !isProxy else { return }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            throw APIError(.contentTooLarge, "body too large", detail: "request bodies are limited to \(maxBodyBytes) bytes; this one declares \(length)")
        }
        if request.method == .post || request.method == .put || request.method == .patch {
            let declaresBody = request.headers[.contentLength].map { $0 != "0" } ?? (request.headers[.transferEncoding] != nil)
            let contentType = request.headers[.contentType]
            if declaresBody || contentType != nil {
                let mediaType = contentType?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
                guard mediaType == "application/json" else {
                    throw APIError(.unsupportedMediaType, "unsupported media type", detail: "send request bodies as JSON with 'Content-Type: application/json' (got \(contentType ?? "none"))")
                }
            }
        }
    }

    private func checkToken(_ request: Request) throws {
        if Self.isBearer(request.headers[.authorization], token: token) { return }
        if let sessions, let session = sessions.session(cookieHeader: request.headers[.cookie]) {
            try Self.checkSessionRequest(request, csrf: session.csrf)
            return
        }
        var error = APIError(.unauthorized, "unauthorized", detail: "send the management token as 'Authorization: Bearer <token>'; it is in <data-dir>/token (or PAR_TOKEN); a browser signs in at /ui")
        error.headers[.wwwAuthenticate] = "Bearer realm=\"par\""
        throw error
    }

    /// A request on a session cookie: reads pass; anything that changes state must carry the
    /// session's CSRF token and must not come from another site (the cookie is `SameSite=Strict`
    /// already; `Sec-Fetch-Site` says so again where browsers send it).
    static func checkSessionRequest(_ request: Request, csrf: String) throws {
        try checkSessionOrigin(request)
        guard request.method != .get, request.method != .head, request.method != .options else { return }
        if let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!], site != "same-origin", site != "none" {
            throw APIError(.forbidden, "cross-site request", detail: "a request from another site (Sec-Fetch-Site: \(site)) may not change anything with the dashboard's session")
        }
        guard let sent = request.headers[HTTPField.Name(UISessions.csrfHeader)!], constantTimeEquals(sent, csrf) else {
            throw APIError(.forbidden, "csrf token missing", detail: "requests that change state on a dashboard session need the session's \(UISessions.csrfHeader) header (from POST or GET /ui/session)")
        }
    }

    /// Cookies ignore ports: a page on another local port (the API port, where agents serve
    /// pages) sends this one too. Reads are guarded by CORS, WebSocket upgrades are not: any
    /// `Origin` must be the dashboard's own.
    static func checkSessionOrigin(_ request: Request) throws {
        if let origin = request.headers[.origin], let host = request.head.authority,
           origin != "http://" + host, origin != "https://" + host {
            throw APIError(.forbidden, "cross-origin request", detail: "the dashboard's session is only good from its own origin (http://\(host)), not from \(origin)")
        }
    }

    /// Whether an `Authorization` value is `Bearer <token>`; the proxy's fast path asks too.
    static func isBearer(_ header: String?, token: String) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        return constantTimeEquals(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces), token)
    }

    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<x.count { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}

extension Request {
    /// The body, refused with 413 past `limit` bytes.
    func collectBody(limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "body too large", detail: "request bodies are limited to \(limit) bytes")
        }
    }
}
