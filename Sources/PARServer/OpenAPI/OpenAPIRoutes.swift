import Hummingbird
import NIOCore

/// `GET /openapi.json`: the API document, served without a token (it holds no secret and
/// describes how to send one), so client generators and fuzzers can start from it.
struct OpenAPIRoutes: Sendable {
    /// Encoded once: the document never changes while the daemon runs.
    private static let body = ByteBuffer(string: OpenAPIDocument.json)

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: Self.body))
        }
    }
}
