import Foundation

/// The management API as calls: what the `par` CLI, the tests and the bench use.
public final class PARAPIClient {
    public let connection: HTTPConnection
    public let token: String?

    public init(host: String = "127.0.0.1", port: Int, token: String?, timeoutSeconds: Int = 60) {
        self.connection = HTTPConnection(host: host, port: port, timeoutSeconds: timeoutSeconds)
        self.token = token
    }

    public func get(_ path: String) throws -> HTTPAnswer {
        try connection.request("GET", path, headers: authHeaders())
    }

    public func delete(_ path: String) throws -> HTTPAnswer {
        try connection.request("DELETE", path, headers: authHeaders())
    }

    public func post(_ path: String, json: [String: Any]? = nil) throws -> HTTPAnswer {
        var headers = authHeaders()
        var body: [UInt8]?
        if let json {
            headers["Content-Type"] = "application/json"
            body = Array(try JSONSerialization.data(withJSONObject: json))
        }
        return try connection.request("POST", path, headers: headers, body: body)
    }

    public func postRaw(_ path: String, body: [UInt8], contentType: String?) throws -> HTTPAnswer {
        var headers = authHeaders()
        if let contentType { headers["Content-Type"] = contentType }
        return try connection.request("POST", path, headers: headers, body: body)
    }

    private func authHeaders() -> [String: String] {
        token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
    }
}
