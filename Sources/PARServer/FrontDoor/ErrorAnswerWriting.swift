import NIOCore
import NIOHTTP1

/// The API's JSON error answers as written below Hummingbird: by the relay (bytes), and by
/// the NIO handlers in front of the router (HTTP parts). One place decides their framing,
/// so every path's refusal reads alike on the wire.
extension APIError {
    /// The whole answer, head and body, for a socket written by hand.
    func wireBytes(closing: Bool) -> [UInt8] {
        let body = jsonBody
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        for field in headers { head += "\(field.name.rawName): \(field.value)\r\n" }
        if closing { head += "Connection: close\r\n" }
        return Array((head + "\r\n").utf8) + body
    }

    /// Writes the answer as NIO HTTP parts and flushes; the future completes once its end is
    /// written (callers close, or linger, after it).
    @discardableResult
    func write(
        to context: ChannelHandlerContext, version: HTTPVersion = .http1_1, closing: Bool, wrap: (HTTPServerResponsePart) -> NIOAny
    ) -> EventLoopFuture<Void> {
        let body = context.channel.allocator.buffer(bytes: jsonBody)
        let responseStatus = HTTPResponseStatus(statusCode: status.code, reasonPhrase: status.reasonPhrase)
        var fields: HTTPHeaders = ["Content-Type": "application/json", "Content-Length": String(body.readableBytes)]
        for field in headers { fields.add(name: field.name.rawName, value: field.value) }
        if closing { fields.add(name: "Connection", value: "close") }
        context.write(wrap(.head(HTTPResponseHead(version: version, status: responseStatus, headers: fields))), promise: nil)
        context.write(wrap(.body(.byteBuffer(body))), promise: nil)
        return context.writeAndFlush(wrap(.end(nil)))
    }
}
