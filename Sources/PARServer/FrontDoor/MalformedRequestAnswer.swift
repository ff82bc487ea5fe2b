import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// What a request NIO's HTTP decoder refuses gets: a status and a JSON body saying what
/// is wrong, then the connection closes. Pure, so every parser error is checked without
/// a socket.
enum MalformedRequestAnswer {
    /// The API's own error shape (`APIError`), so every refusal reads alike.
    static func answer(for error: HTTPParserError) -> APIError {
        let detail: String
        switch error {
        case .headerOverflow:
            return APIError(.requestHeaderFieldsTooLarge, "request header fields too large",
                            detail: "the request head is too large (too many or too long header lines, or a URL too long); send a smaller one")
        case .invalidContentLength, .unexpectedContentLength:
            detail = "Content-Length must be one decimal number, sent once, and not together with Transfer-Encoding"
        case .invalidChunkSize:
            detail = "a chunk size of the chunked body is not a hexadecimal number"
        case .lfExpected, .invalidConstant, .strictModeAssertion:
            detail = "every line of the head must end in CRLF and header lines must be Name: value (no space before the colon, no folded lines)"
        case .invalidHeaderToken, .invalidCharactersUsed:
            detail = "a header name or value holds a character HTTP does not allow (NUL, CR, a space or control character)"
        case .invalidMethod, .invalidVersion, .invalidURL, .invalidPath, .invalidQueryString, .invalidFragment:
            detail = "the request line must be METHOD /path HTTP/1.1 (or HTTP/1.0), with an absolute path"
        default:
            detail = "the request is not valid HTTP/1.1 (\(error))"
        }
        return APIError(.badRequest, "malformed request", detail: detail)
    }

    /// A request not whole within the head timeout, on the relay and the HTTP server alike.
    static func timedOut(seconds: UInt64) -> APIError {
        APIError(.requestTimeout, "request timeout", detail: "the request did not arrive whole within \(seconds) s; send it at once")
    }

    /// A whole answer for a connection over `--max-connections`, written as it is by the
    /// relay and by the HTTP server (before any HTTP handler sees the connection).
    static let overCapacity: [UInt8] = {
        var error = APIError(.serviceUnavailable, "too many connections", detail: "the daemon holds as many client connections as --max-connections allows; retry shortly")
        error.headers[.retryAfter] = "1"
        return error.wireBytes(closing: true)
    }()

    /// Writes `error` as the connection's last answer and closes it the lingering way, as
    /// nginx does: closing while the client still sends (a 1 MB header) would reset the
    /// connection and lose the answer, so the write side closes first and what still
    /// arrives is read and dropped for up to two seconds.
    static func write(
        _ error: APIError, context: ChannelHandlerContext, wrap: (HTTPServerResponsePart) -> NIOAny
    ) {
        let channel = context.channel
        error.write(to: context, closing: true, wrap: wrap).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        }
    }
}

/// Wraps the HTTP server's child channel with what the relay does for its own connections:
/// the connection cap, the head timeout, answers to malformed first requests and the body
/// stall timeout. Hummingbird answers parse errors of later requests itself, but one that
/// fails while the WebSocket upgrade is still being negotiated reaches no handler: the
/// connection stayed open and silent (a slot a hostile client could hold forever).
struct GuardedHTTPChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    /// A first request not whole by then gets a 408 and the close (later ones are
    /// Hummingbird's idle timeout's).
    let headTimeout: TimeAmount
    /// Longest pause inside a request body before 408 and the close.
    let bodyTimeout: TimeAmount
    let connections: ConnectionCount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { [headTimeout, bodyTimeout, connections] value in
            let pipeline = channel.pipeline.syncOperations
            guard connections.take() else {
                try pipeline.addHandler(RefusesOverCapacity(), position: .first)
                return value
            }
            channel.closeFuture.whenComplete { _ in connections.release() }
            // Right behind the decoder: they see each request's parts (the first answer
            // leaves after the first head) or the decoder's error, before the upgrade
            // negotiation does.
            let decoder = try pipeline.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(RequestBodyStallTimer(timeout: bodyTimeout), position: .after(decoder.handler))
            try pipeline.addHandler(FirstRequestErrorAnswer(headTimeout: headTimeout), position: .after(decoder.handler))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// Sits between the decoder and the upgrade negotiation until the first request head has
/// come through: a parser error or a head timeout before that is answered here, since
/// nothing else would.
final class FirstRequestErrorAnswer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundOut = HTTPServerResponsePart
    private let headTimeout: TimeAmount
    /// Only touched on the channel's event loop.
    private var sawRequest = false
    private var answered = false
    private var timer: Scheduled<Void>?

    init(headTimeout: TimeAmount) {
        self.headTimeout = headTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: headTimeout) {
            let (handler, context) = loopBound.value
            guard !handler.sawRequest else { return }
            handler.answer(MalformedRequestAnswer.timedOut(seconds: UInt64(handler.headTimeout.nanoseconds / 1_000_000_000)), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        sawRequest = true
        timer?.cancel()
        context.fireChannelRead(data)
        // The first head is through: Hummingbird answers whatever follows.
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, !sawRequest else {
            context.fireErrorCaught(error)
            return
        }
        answer(MalformedRequestAnswer.answer(for: parserError), context: context)
    }

    private func answer(_ error: APIError, context: ChannelHandlerContext) {
        guard !answered else { return }
        answered = true
        timer?.cancel()
        MalformedRequestAnswer.write(error, context: context, wrap: wrapOutboundOut)
    }
}
