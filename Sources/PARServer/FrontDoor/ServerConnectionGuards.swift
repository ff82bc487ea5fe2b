import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The HTTP server's own client connections, counted against `--max-connections`: the
/// relay caps those it holds, this caps those handed to the server (and every connection
/// when the server listens itself), so no path lets a client hold fds without bound.
public final class ConnectionCount: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    public var current: Int { open.load(ordering: .relaxed) }

    /// Takes a slot; false when every slot is taken (nothing is then held).
    func take() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func release() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Answers a connection over the cap with the relay's 503 as soon as it is active, straight
/// to the socket (it sits first in the pipeline, before the HTTP encoder), and closes it.
final class RefusesOverCapacity: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
    }

    /// Whatever the client sent is dropped unread by the close.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        let channel = context.channel
        let bytes = channel.allocator.buffer(bytes: MalformedRequestAnswer.overCapacity)
        context.writeAndFlush(NIOAny(bytes)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Closes a request whose body stops arriving: `--request-body-timeout` between two reads
/// of a body. Hummingbird's idle timeout would also end it, but only after the keep-alive
/// time and without a word; this answers 408 when no answer has begun. Bodies an agent
/// reads slowly do not count: the timer runs only while the server waits on the client.
final class RequestBodyStallTimer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private let timeout: TimeAmount
    /// Only touched on the channel's event loop.
    private var readingBody = false
    private var answerStarted = false
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // An upgraded connection stops speaking HTTP: this handler would not understand
            // what follows, and idle WebSockets are the agent's business.
            if head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" }) {
                context.fireChannelRead(data)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            // Only a declared body is waited for; a GET's head and end come together.
            let hasBody = head.headers.contains(name: "transfer-encoding")
                || head.headers.first(name: "content-length").map { $0 != "0" } ?? false
            readingBody = hasBody
            answerStarted = false
            if hasBody { arm(context) }
        case .body:
            if readingBody { arm(context) }
        case .end:
            readingBody = false
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head = unwrapOutboundIn(data) { answerStarted = true }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = loopBound.value
            handler.stalled(context)
        }
    }

    private func stalled(_ context: ChannelHandlerContext) {
        timer = nil
        guard readingBody else { return }
        readingBody = false
        guard !answerStarted else {
            context.close(promise: nil)
            return
        }
        let seconds = timeout.nanoseconds / 1_000_000_000
        let error = APIError(.requestTimeout, "request timeout", detail: "the request body stopped arriving for \(seconds) s; send it without pauses")
        MalformedRequestAnswer.write(error, context: context, wrap: wrapOutboundOut)
    }
}
