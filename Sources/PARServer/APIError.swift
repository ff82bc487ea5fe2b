import Foundation
import Hummingbird
import PARCore
import PARPackages
import PARSupervisor

/// Every error the API answers: a status and a JSON body `{"error": ..., "detail": ...}`
/// that says what is wrong and how to fix it.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var error: String
    public var detail: String
    public var field: String?
    /// Every problem, when there are several (a config file's errors, one per line).
    public var errors: [String]?
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ error: String, detail: String, field: String? = nil) {
        self.status = status
        self.error = error
        self.detail = detail
        self.field = field
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var object: [String: Any] = ["error": error, "detail": detail]
        if let field { object["field"] = field }
        if let errors { object["errors"] = errors }
        var response = JSONResponse.make(object, status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The body `response(from:context:)` sends (keys sorted, newline-terminated), for
    /// the proxy paths that write their answers themselves.
    var jsonBody: [UInt8] {
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.field("detail", detail)
        json.field("error", error)
        if let field { json.field("field", field) }
        json.endObject()
        return json.bytes + [UInt8(ascii: "\n")]
    }

    static func invalid(_ error: ValidationError) -> APIError {
        APIError(.badRequest, "invalid request", detail: error.description, field: error.field)
    }

    static func from(_ error: SupervisorError) -> APIError {
        switch error {
        case .invalid(let validation): return .invalid(validation)
        case .notFound: return APIError(.notFound, "unknown process", detail: error.description)
        case .alreadyRunning: return APIError(.conflict, "already running", detail: error.description)
        case .noFreePort: return APIError(.serviceUnavailable, "no free port", detail: error.description)
        case .limitsUnsupported: return APIError(.unprocessableContent, "limits cannot be enforced", detail: error.description)
        case .spawnFailed: return APIError(.unprocessableContent, "spawn failed", detail: error.description)
        case .shuttingDown: return APIError(.serviceUnavailable, "shutting down", detail: error.description)
        case .quotaExceeded(let violation): return APIError(.conflict, "quota exceeded", detail: violation.description, field: violation.quota)
        case .internalFailure: return APIError(.internalServerError, "supervisor failure", detail: error.description)
        case .ownedByConfig: return APIError(.conflict, "declared by the config file", detail: error.description, field: "agent_id")
        case .state(let stateError):
            if case .diskFull = stateError { return APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), "disk full", detail: error.description) }
            return APIError(.internalServerError, "state not saved", detail: error.description)
        case .reloadInProgress: return APIError(.conflict, "reload in progress", detail: error.description)
        case .changedMeanwhile: return APIError(.conflict, "changed meanwhile", detail: error.description)
        case .configInvalid(let issues):
            var answer = APIError(.unprocessableContent, "invalid config file", detail: error.description)
            answer.errors = issues
            return answer
        case .noConfigFile: return APIError(.conflict, "no config file", detail: error.description)
        // The new run failed where the agent lives; the one serving was kept.
        case .rollingRestartFailed: return APIError(.badGateway, "rolling restart failed", detail: error.description)
        case .rollingRestartInProgress: return APIError(.conflict, "rolling restart in progress", detail: error.description)
        case .removalRefused: return APIError(.conflict, "removal refused", detail: error.description)
        case .package(let packageError):
            switch packageError {
            case .outsideAllowedDirectories: return APIError(.forbidden, "package path not allowed", detail: packageError.description, field: "package_path")
            case .unreadable: return APIError(.badRequest, "package unreadable", detail: packageError.description, field: "package_path")
            case .invalidArchive: return APIError(.badRequest, "invalid package", detail: packageError.description, field: "package_path")
            case .invalidManifest: return APIError(.badRequest, "invalid manifest", detail: packageError.description, field: "package_path")
            case .unsupported: return APIError(.unprocessableContent, "unsupported package", detail: packageError.description, field: "package_path")
            }
        }
    }
}

/// JSON responses without Codable boilerplate for ad-hoc bodies.
enum JSONResponse {
    static func make(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return make(data: data, status: status)
    }

    static func make(_ json: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(json.bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
    }

    static func make(data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(data)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
    }
}
