import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1
import PARCore
import PARSupervisor

/// What the channel-level proxy needs to know, fixed for the daemon's life.
struct ProxySettings: Sendable {
    var routes: RouteTable
    var pools: AgentConnectionPools
    var traffic: ProxyTraffic
    /// How long the agent may take to send its response head.
    var timeout: TimeAmount
    /// When set, `/agents/*` needs `Authorization: Bearer <token>` (which is then not passed on).
    var requiredToken: String?
    /// On daemon shutdown, how long a request still being answered may take before its
    /// connection is closed: an agent's never-ending stream (SSE) must not hold the
    /// daemon up, since the agents are stopped only after the server has closed.
    var drainTimeout: TimeAmount = .seconds(5)
}

/// The proxy's fast path, one per client connection, placed between NIO's HTTP/1 decoder
/// and the codec that turns requests into Hummingbird's types (see `install()`).
///
/// A request for a running agent is relayed part by part to a pooled keep-alive connection
/// to that agent on the same event loop, and the answer relayed back the same way: no task,
/// no actor, no thread hop per request. Everything else (management API, unknown or stopped
/// agents, missing token, upgrades) passes on to Hummingbird unchanged, which also answers
/// those proxy errors. Written by hand because no package relays HTTP at channel level, and
/// going through the framework's async handlers cost four thread handoffs per request
/// (proxied throughput was 11% of direct; see docs/ARCHITECTURE.md).
///
/// One request is handled at a time per connection: parts of a request pipelined behind a
/// proxied one wait (reads paused) until its answer is out, and a proxied request behind one
/// Hummingbird still answers goes to Hummingbird too, so answers keep the requests' order.
final class AgentProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, AgentConnectionOwner {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let settings: ProxySettings
    private var context: ChannelHandlerContext?
    private var pool: AgentConnectionPool?
    private var clientAddress = "unknown"

    /// Requests handed to Hummingbird whose answers have not ended yet.
    private var framework = FrameworkRequests()
    private var exchange: Exchange?
    /// Parts that arrived behind the current exchange's request.
    private var backlog: [HTTPServerRequestPart] = []
    /// One timer per connection, re-armed lazily: a timer per request cost more than the
    /// request's own parsing under load.
    private var timeoutTimer: Scheduled<Void>?
    private var drainTimer: Scheduled<Void>?
    private var stallTimer: Scheduled<Void>?
    private var readHeld = false
    /// Set once the connection is being closed by the proxy: what the client still sends
    /// (the rest of a body the agent did not wait for) is dropped, never handed on.
    private var closing = false
    private var quiescePending = false
    /// Input end and errors that arrived during an exchange, passed on once it is over.
    private var heldEvents: [HeldEvent] = []
    private enum HeldEvent {
        case inputClosed
        case error(any Error)
    }
    private var exchangeSerial = 0

    init(settings: ProxySettings) {
        self.settings = settings
    }

    /// Handed to Hummingbird as an additional channel handler, which lands after the codec
    /// to Hummingbird's types; it puts the proxy before that codec, so proxied requests are
    /// relayed in NIO's own HTTP/1 types and never converted, then steps aside.
    static func install(settings: ProxySettings) -> any RemovableChannelHandler {
        Installer(settings: settings)
    }

    private final class Installer: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = Never
        let settings: ProxySettings
        init(settings: ProxySettings) { self.settings = settings }

        func handlerAdded(context: ChannelHandlerContext) {
            let pipeline = context.pipeline.syncOperations
            do {
                let codec = try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)
                try pipeline.addHandler(AgentProxyHandler(settings: settings), position: .before(codec))
            } catch {
                // Without the codec there is no HTTP/1 here to relay; Hummingbird serves it all.
            }
            pipeline.removeHandler(context: context, promise: nil)
        }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        pool = settings.pools.pool(for: context.eventLoop)
        clientAddress = context.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        abandonExchange()
        timeoutTimer?.cancel()
        timeoutTimer = nil
        drainTimer?.cancel()
        drainTimer = nil
        stallTimer?.cancel()
        stallTimer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        handle(unwrapInboundIn(data), context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let exchange, exchange.agentNeedsFlush, let agent = exchange.agent {
            exchange.agentNeedsFlush = false
            agent.channel.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        abandonExchange()
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stallTimer?.cancel()
            stallTimer = nil
            exchange?.agent?.handler.resumeReading()
        } else if exchange != nil, stallTimer == nil {
            // A client that stops reading would pin the agent connection (and the agent's
            // answer) for ever; one that takes nothing for a whole proxy timeout is dropped.
            stallTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.timeout) { [weak self] in
                guard let self, let context = self.context else { return }
                self.stallTimer = nil
                guard self.exchange != nil, !context.channel.isWritable else { return }
                self.abandonExchange()
                self.closing = true
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Graceful shutdown: Hummingbird closes the connection once it thinks it idle, which
        // it would wrongly do mid-exchange; tell it only when the exchange is over.
        if event is ChannelShouldQuiesceEvent, exchange != nil {
            quiescePending = true
            guard drainTimer == nil else { return }
            drainTimer = context.eventLoop.assumeIsolated().scheduleTask(in: settings.drainTimeout) { [weak self] in
                guard let self, self.exchange != nil, let context = self.context else { return }
                self.abandonExchange()
                self.closing = true
                context.close(promise: nil)
            }
            return
        }
        // A client that half-closes after its request still wants the answer; Hummingbird
        // would end the connection at once, so it hears of the close after the exchange.
        if let channelEvent = event as? ChannelEvent, channelEvent == .inputClosed, exchange != nil || !backlog.isEmpty {
            heldEvents.append(.inputClosed)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A parse error in bytes pipelined behind a proxied request: Hummingbird answers it
        // with a 400 and closes, which must come after the answer being relayed, not in it.
        if exchange != nil || !backlog.isEmpty {
            heldEvents.append(.error(error))
            return
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { framework.answered() }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if shouldHoldReads {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Reads pause while the agent cannot take the upload faster, or while a pipelined
    /// request waits for the current answer.
    private var shouldHoldReads: Bool {
        guard let exchange else { return false }
        if !backlog.isEmpty { return true }
        if exchange.requestComplete { return false }
        if let agent = exchange.agent { return !agent.channel.isWritable }
        return exchange.pendingBytes > Exchange.maxPendingBytes
    }

    private func resumeReadsIfPossible() {
        guard readHeld, !shouldHoldReads, let context else { return }
        readHeld = false
        context.read()
    }

    // MARK: Requests

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        if closing { return }
        if let exchange, exchange.requestComplete || !backlog.isEmpty {
            backlog.append(part)
            return
        }
        switch part {
        case .head(var request):
            if !framework.isIdle || exchange != nil {
                passOn(part, context: context)
                return
            }
            if request.uri == "/agents" || request.uri.utf8.starts(with: "/agents/".utf8) || request.uri.utf8.starts(with: "/agents?".utf8),
               ControlPlaneLane.isCurrentThread {
                refuse(ControlPlaneLane.agentRequestRefusal(target: request.uri), version: request.version, context: context)
                return
            }
            if let refusal = RequestRules.hostRefusal(hostLines: request.headers["host"].count, isHTTP11: request.version == .http1_1)
                ?? RequestRules.transferCodingRefusal(request.headers["transfer-encoding"]) {
                refuse(RequestRules.answer(refusal), version: request.version, context: context)
                return
            }
            switch RequestRules.agentTarget(request.uri) {
            case .failure(let refusal):
                refuse(RequestRules.answer(refusal), version: request.version, context: context)
                return
            case .success(let resolved):
                request.uri = resolved
            }
            if let target = route(request) {
                begin(request, target: target, context: context)
            } else {
                passOn(.head(request), context: context)
            }
        case .body(let buffer):
            if let exchange {
                if !exchange.responseComplete { send(.body(.byteBuffer(buffer)), in: exchange) }
            } else {
                context.fireChannelRead(wrapInboundOut(part))
            }
        case .end(let trailers):
            if let exchange {
                exchange.requestComplete = true
                if exchange.responseComplete {
                    finish(exchange)
                } else {
                    send(.end(trailers), in: exchange)
                }
            } else {
                context.fireChannelRead(wrapInboundOut(part))
            }
        }
    }

    /// A request no path may take: its 400 and the close, before anything is routed.
    private func refuse(_ answer: APIError, version: HTTPVersion, context: ChannelHandlerContext) {
        closing = true
        let channel = context.channel
        answer.write(to: context, version: version, closing: true, wrap: wrapOutboundOut).whenComplete { _ in channel.close(promise: nil) }
    }

    private func passOn(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        framework.handedOn()
        context.fireChannelRead(wrapInboundOut(part))
    }

    private struct Target {
        var agentID: Substring
        var port: Int
        var uri: String
    }

    /// A request this path can take: `/agents/{id}[/...]` in origin form for a running
    /// agent, no `//` in the path, no upgrade, and the token when one is required. Nil
    /// sends it to Hummingbird, which answers or refuses it.
    private func route(_ request: HTTPRequestHead) -> Target? {
        let uri = request.uri
        guard uri.utf8.starts(with: "/agents/".utf8) else { return nil }
        let afterPrefix = uri.utf8.dropFirst(8)
        let idEnd = afterPrefix.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? afterPrefix.endIndex
        let agentID = Substring(afterPrefix[afterPrefix.startIndex..<idEnd])
        guard !agentID.isEmpty, !Self.hasEmptySegment(uri), !request.headers.contains(name: "upgrade"),
              let port = settings.routes.port(of: String(agentID)) else { return nil }
        if let token = settings.requiredToken,
           !SecurityMiddleware<PARRequestContext>.isBearer(request.headers.first(name: "authorization"), token: token) {
            return nil
        }
        guard let agentURI = ProxyHeaders.agentURI(uri, prefixLength: 8 + agentID.utf8.count) else { return nil }
        return Target(agentID: agentID, port: port, uri: agentURI)
    }

    /// `//` in the path (not the query): the router skips empty segments, so such paths go
    /// to Hummingbird, which refuses them.
    private static func hasEmptySegment(_ uri: String) -> Bool {
        var previousWasSlash = false
        for byte in uri.utf8 {
            if byte == UInt8(ascii: "?") { return false }
            let isSlash = byte == UInt8(ascii: "/")
            if isSlash, previousWasSlash { return true }
            previousWasSlash = isSlash
        }
        return false
    }

    private func begin(_ request: HTTPRequestHead, target: Target, context: ChannelHandlerContext) {
        exchangeSerial &+= 1
        let prefix = "/agents/\(target.agentID)"
        let head = ProxyHeaders.agentRequest(
            request, uri: target.uri, agentPort: target.port, prefix: prefix, clientAddress: clientAddress,
            stripAuthorization: settings.requiredToken != nil
        )
        let exchange = Exchange(
            serial: exchangeSerial, agentID: String(target.agentID), port: target.port, head: head,
            closesClient: !request.isKeepAlive,
            deadline: .now() + settings.timeout
        )
        exchange.clientVersion = request.version
        exchange.inFlight = settings.routes.beginRequest(port: target.port)
        self.exchange = exchange
        if request.version == .http1_1, request.headers[canonicalForm: "expect"].contains(where: { ProxyHeaders.HeaderName.equals(String($0), "100-continue") }) {
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            context.flush()
        }
        armTimeout(context: context)
        exchange.pending.append(.head(head))
        if let connection = pool?.lease(port: target.port) {
            attach(connection, to: exchange, reused: true)
        } else {
            connect(exchange)
        }
    }

    /// Keeps one timer per connection pending while an exchange waits for its answer head.
    private func armTimeout(context: ChannelHandlerContext) {
        guard timeoutTimer == nil, let exchange else { return }
        timeoutTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: exchange.deadline) { [weak self] in
            guard let self else { return }
            self.timeoutTimer = nil
            guard let exchange = self.exchange, !exchange.responseStarted else { return }
            if exchange.deadline > .now(), let context = self.context {
                self.armTimeout(context: context)
                return
            }
            self.fail(exchange, failure: .timedOut, answer: ProxyErrors.timedOut(
                agentID: exchange.agentID, port: exchange.port, seconds: Double(self.settings.timeout.nanoseconds) / 1e9))
        }
    }

    private func connect(_ exchange: Exchange) {
        let serial = exchange.serial
        guard let pool else { return }
        pool.connect(port: exchange.port) { [weak self, pool] result in
            guard let self, let current = self.exchange, current.serial == serial else {
                // The client went away while connecting: the fresh connection is kept for others.
                if case .success(let connection) = result { pool.giveBack(connection) }
                return
            }
            switch result {
            case .success(let connection):
                self.attach(connection, to: current, reused: false)
            case .failure(let error):
                self.fail(current, failure: .unreachable, answer: ProxyErrors.unreachable(agentID: current.agentID, port: current.port, reason: "\(error)"))
            }
        }
    }

    private func attach(_ connection: AgentConnection, to exchange: Exchange, reused: Bool) {
        connection.handler.owner = self
        exchange.agent = connection
        exchange.reusedConnection = reused
        for part in exchange.pending {
            connection.channel.write(part, promise: nil)
        }
        exchange.pending.removeAll(keepingCapacity: true)
        exchange.pendingBytes = 0
        exchange.agentNeedsFlush = false
        connection.channel.flush()
        resumeReadsIfPossible()
    }

    private func send(_ part: HTTPClientRequestPart, in exchange: Exchange) {
        if let agent = exchange.agent {
            agent.channel.write(part, promise: nil)
            exchange.agentNeedsFlush = true
        } else {
            if case .body(.byteBuffer(let buffer)) = part { exchange.pendingBytes += buffer.readableBytes }
            exchange.pending.append(part)
        }
        // Kept for a retry on a fresh connection only while it is just a head and an end.
        if case .head = part {} else if case .end = part {} else { exchange.retryable = false }
    }

    // MARK: The agent's side

    var agentMayRead: Bool { context?.channel.isWritable ?? true }

    func agentRead(_ part: HTTPClientResponsePart) {
        guard let exchange, let context else { return }
        switch part {
        case .head(let head):
            exchange.responseStarted = true
            exchange.reusable = head.isKeepAlive
            settings.traffic.record(agentID: exchange.agentID, status: Int(head.status.code))
            // An HTTP/1.0 client cannot read chunked framing: a body of unknown length is
            // ended by closing the connection instead.
            if exchange.clientVersion == .http1_0, !head.headers.contains(name: "content-length") { exchange.closesClient = true }
            // Answered before the whole request arrived: the rest of it cannot be framed for
            // anyone else, so the connection ends with this answer; say so up front.
            if !exchange.requestComplete { exchange.closesClient = true }
            context.write(wrapOutboundOut(.head(ProxyHeaders.clientResponse(head, version: exchange.clientVersion, closing: exchange.closesClient))), promise: nil)
        case .body(let buffer):
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            exchange.responseComplete = true
            if !exchange.requestComplete { exchange.closesClient = true }
            if exchange.closesClient {
                let written = context.eventLoop.makePromise(of: Void.self)
                context.write(wrapOutboundOut(.end(trailers)), promise: written)
                exchange.lastWrite = written.futureResult
            } else {
                context.write(wrapOutboundOut(.end(trailers)), promise: nil)
            }
            context.flush()
            if exchange.requestComplete {
                finish(exchange)
            } else {
                // The agent answered before reading the whole request: the rest of it cannot
                // be framed for anyone else, so this client connection ends with the answer.
                exchange.reusable = false
                exchange.closesClient = true
                finish(exchange)
            }
            return
        }
        exchange.clientNeedsFlush = true
    }

    func agentReadComplete() {
        guard let exchange, exchange.clientNeedsFlush, let context else { return }
        exchange.clientNeedsFlush = false
        context.flush()
    }

    func agentClosed() {
        guard let exchange else { return }
        exchange.agent = nil
        if exchange.responseStarted {
            // Cut off mid-answer: the client cannot be told otherwise than by closing.
            exchange.closesClient = true
            exchange.reusable = false
            finish(exchange)
        } else if exchange.reusedConnection, exchange.retryable, exchange.isIdempotent {
            // A pooled connection the agent had just closed: the request never reached it.
            exchange.reusedConnection = false
            exchange.pending = [.head(exchange.head)] + (exchange.requestComplete ? [.end(nil)] : [])
            connect(exchange)
        } else {
            fail(exchange, failure: .unreachable, answer: ProxyErrors.closedBeforeAnswering(agentID: exchange.agentID, port: exchange.port))
        }
    }

    func agentWritabilityChanged(isWritable: Bool) {
        if isWritable { resumeReadsIfPossible() }
    }

    // MARK: Ending an exchange

    /// Answers the client with the API's JSON error shape and ends the exchange.
    private func fail(_ exchange: Exchange, failure: ProxyTraffic.Failure, answer: APIError) {
        guard let context, !exchange.responseStarted else { return }
        settings.traffic.record(agentID: exchange.agentID, failure: failure)
        exchange.responseStarted = true
        exchange.responseComplete = true
        exchange.reusable = false
        if !exchange.requestComplete { exchange.closesClient = true }
        exchange.lastWrite = answer.write(to: context, version: exchange.clientVersion, closing: exchange.closesClient, wrap: wrapOutboundOut)
        finish(exchange)
    }

    private func finish(_ exchange: Exchange) {
        if let agent = exchange.agent {
            exchange.agent = nil
            if exchange.reusable, exchange.requestComplete, exchange.responseComplete {
                pool?.giveBack(agent)
            } else {
                agent.handler.owner = nil
                agent.channel.close(promise: nil)
            }
        }
        self.exchange?.inFlight = nil
        self.exchange = nil
        guard let context else { return }
        if exchange.closesClient {
            closing = true
            backlog.removeAll()
            // With the client still sending its body, closing at once would reset the
            // connection (unread data) and could destroy the answer in flight; what it still
            // sends is read and dropped for a moment first.
            let linger: TimeAmount = exchange.requestComplete ? .zero : .seconds(1)
            let channel = context.channel
            let close = { context.eventLoop.assumeIsolated().scheduleTask(in: linger) { channel.close(promise: nil) } }
            if let lastWrite = exchange.lastWrite {
                lastWrite.assumeIsolated().whenComplete { _ in _ = close() }
            } else {
                _ = close()
            }
            return
        }
        if quiescePending {
            quiescePending = false
            drainTimer?.cancel()
            drainTimer = nil
            if !backlog.isEmpty {
                // Shutting down: requests pipelined behind this one are not started.
                backlog.removeAll()
                closing = true
                context.close(promise: nil)
                return
            }
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let waiting = backlog
        backlog.removeAll()
        for part in waiting { handle(part, context: context) }
        // Outside a read cycle: Hummingbird's channel takes what it was given only at a read
        // completion, so the replayed parts need one.
        if !waiting.isEmpty { context.fireChannelReadComplete() }
        if let next = self.exchange, next.agentNeedsFlush, let agent = next.agent {
            next.agentNeedsFlush = false
            agent.channel.flush()
        }
        if self.exchange == nil, backlog.isEmpty, !heldEvents.isEmpty {
            let held = heldEvents
            heldEvents.removeAll()
            for event in held {
                switch event {
                case .inputClosed: context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                case .error(let error): context.fireErrorCaught(error)
                }
            }
        }
        resumeReadsIfPossible()
    }

    /// The client went away (or the handler is removed): the agent connection cannot be reused.
    private func abandonExchange() {
        guard let exchange else { return }
        self.exchange?.inFlight = nil
        self.exchange = nil
        if let agent = exchange.agent {
            agent.handler.owner = nil
            agent.channel.close(promise: nil)
        }
        backlog.removeAll()
    }
}

/// One proxied request and its answer.
private final class Exchange {
    static let maxPendingBytes = 1 << 20

    let serial: Int
    let agentID: String
    let port: Int
    let head: HTTPRequestHead
    var closesClient: Bool
    /// When the agent must have sent its answer's head.
    let deadline: NIODeadline
    /// The client's HTTP version, which the answer is framed for.
    var clientVersion = HTTPVersion.http1_1

    /// Safe to send twice (RFC 9110 section 9.2.2): only these are retried when a pooled
    /// connection turns out closed, as the agent may have acted on the first copy.
    var isIdempotent: Bool {
        switch head.method {
        case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: true
        default: false
        }
    }
    /// The answer's last write, which a closing connection waits for.
    var lastWrite: EventLoopFuture<Void>?
    var agent: AgentConnection?
    /// What the client sent before the agent connection was ready.
    var pending: [HTTPClientRequestPart] = []
    var pendingBytes = 0
    var requestComplete = false
    var responseStarted = false
    var responseComplete = false
    var reusable = false
    var reusedConnection = false
    var retryable = true
    var agentNeedsFlush = false
    var clientNeedsFlush = false
    /// Counts the request against its port until the exchange ends (rolling restarts drain on it).
    var inFlight: InFlightRequest?

    init(serial: Int, agentID: String, port: Int, head: HTTPRequestHead, closesClient: Bool, deadline: NIODeadline) {
        self.deadline = deadline
        self.serial = serial
        self.agentID = agentID
        self.port = port
        self.head = head
        self.closesClient = closesClient
    }
}

/// Counts requests handed to Hummingbird whose answers are still being written.
private struct FrameworkRequests {
    private var outstanding = 0
    var isIdle: Bool { outstanding == 0 }
    mutating func handedOn() { outstanding += 1 }
    mutating func answered() { outstanding = max(0, outstanding - 1) }
}
