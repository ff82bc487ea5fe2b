import CPARSys
import NIOCore
import PARSupervisor
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a front-door loop needs from the rest of the daemon.
struct FrontDoorSettings: Sendable {
    var routes: RouteTable
    var traffic: ProxyTraffic
    /// How long an agent may take to start its answer (504 after), and a client to accept
    /// any of one (dropped after): `--proxy-timeout`.
    var timeoutNanoseconds: UInt64
    /// How long an unused connection to an agent stays open: `--proxy-idle-timeout`.
    var idleTimeoutNanoseconds: UInt64
    /// How long a client may take to send a whole request head (408 after):
    /// `--request-head-timeout`. A slow-loris client holds a slot no longer.
    var headTimeoutNanoseconds: UInt64 = 30_000_000_000
    /// How long a client connection may sit with no request before it is closed:
    /// `--keep-alive-timeout`.
    var keepAliveNanoseconds: UInt64 = 75_000_000_000
    /// Client connections one loop holds at most (`--max-connections` over the loops);
    /// one over it is answered 503 and closed at once.
    var maxClientsPerLoop = Int.max
    /// How long answers in flight get at shutdown before their connections close.
    var drainNanoseconds: UInt64 = 5_000_000_000
    /// Several loops share the listener.
    var acceptsOneAtATime = false
    /// Gives a client connection, and the bytes already read from it, to the full HTTP stack.
    var handOver: @Sendable (_ fd: Int32, _ bytes: ByteBuffer, _ relayedBefore: Bool) -> Void
}

/// One thread and one epoll set relaying plain requests to agents, with no task, actor hop
/// or channel pipeline per request: at this rate those costs are most of a proxy's budget.
/// Written on raw sockets because the NIO stack spends twice the kernel's own cost per
/// request here (measured in W6: a NIO byte relay keeps 34-51% of direct, this 50-60%).
///
/// Every client connection starts here. A request the relay does not take (anything but
/// a plain `/agents/{id}` request for a routable agent, see `HeadScanner`) hands the
/// connection over to the full HTTP stack for good. The loop's state is confined to its
/// thread; only `stop()` crosses threads, through an eventfd.
final class FrontDoorLoop: @unchecked Sendable {
    private let epoll: Int32
    private let wakeFD: Int32
    private let listener: Int32
    private let settings: FrontDoorSettings
    private let stopRequested = Atomic<Bool>(false)
    private let timeouts: ClientTimeouts

    @exclusivity(unchecked) private var slots: [Slot] = []
    @exclusivity(unchecked) private var generations: [UInt32] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    /// Idle keep-alive connections by agent port, most recently used last.
    @exclusivity(unchecked) private var idleAgents: [Int: [Int]] = [:]
    private var clientCount = 0
    /// Connections with bytes to write once this turn's events are handled: writing after
    /// reading everything ready wakes each peer once per turn instead of once per message.
    private var pendingWrites: [UInt64] = []
    private var now: UInt64 = 0
    private var nextSweep: UInt64 = 0
    private var stopDeadline: UInt64?
    private var listening = true
    private let allocator = ByteBufferAllocator()
    private static let noBytes = ByteBufferAllocator().buffer(capacity: 0)

    private static let wakeToken = UInt64.max
    private static let listenerToken = UInt64.max - 1
    private static let sweepInterval: UInt64 = 250_000_000
    private static let readChunk = 64 << 10
    /// An answer's bytes waiting for the client beyond which the agent is not read further.
    private static let highWater = 64 << 10

    private enum Slot {
        case free
        case client(Client)
        case agent(Agent)
    }

    private final class Client {
        let fd: Int32
        let index: Int
        let address: [UInt8]
        @exclusivity(unchecked) var input: ByteBuffer
        @exclusivity(unchecked) var output: ByteBuffer
        /// Edge-triggered: set by an event, cleared by a short read.
        var readable = false
        /// The peer half-closed or reset: read on to the end, a short read proves nothing.
        var peerClosed = false
        var writeScheduled = false
        var closeWhenFlushed = false
        var lastProgress: UInt64
        /// When the bytes of the request not yet started began to arrive.
        var headStartedAt: UInt64?
        var route: Route?
        @exclusivity(unchecked) var exchange: Exchange?

        init(fd: Int32, index: Int, address: [UInt8], allocator: ByteBufferAllocator, now: UInt64) {
            self.fd = fd
            self.index = index
            self.address = address
            self.input = allocator.buffer(capacity: 0)
            self.output = allocator.buffer(capacity: 0)
            self.lastProgress = now
        }
    }

    private final class Agent {
        let fd: Int32
        let index: Int
        let port: Int
        @exclusivity(unchecked) var input: ByteBuffer
        @exclusivity(unchecked) var output: ByteBuffer
        var readable = false
        var peerClosed = false
        var writeScheduled = false
        var connecting: Bool
        /// Served an earlier request: the agent may have closed it meanwhile.
        var reused = false
        var idleSince: UInt64 = 0
        var client: Int?

        init(fd: Int32, index: Int, port: Int, connecting: Bool, allocator: ByteBufferAllocator) {
            self.fd = fd
            self.index = index
            self.port = port
            self.connecting = connecting
            self.input = allocator.buffer(capacity: 0)
            self.output = allocator.buffer(capacity: 0)
        }
    }

    /// What a client's last request resolved to, reused while the route table is unchanged:
    /// most connections talk to one agent, so most requests skip the lookup entirely.
    private final class Route {
        let id: [UInt8]
        let agentID: String
        let port: Int
        let portText: [UInt8]
        let counters: ProxyTraffic.AgentCounters
        let version: UInt64

        init(id: [UInt8], agentID: String, port: Int, counters: ProxyTraffic.AgentCounters, version: UInt64) {
            self.id = id
            self.agentID = agentID
            self.port = port
            self.portText = Array(String(port).utf8)
            self.counters = counters
            self.version = version
        }
    }

    private struct Exchange {
        var agent: Int
        var route: Route
        /// Counts the request against its port while the exchange lives (rolling restarts drain on it).
        let inFlight: InFlightRequest
        var agentID: String { route.agentID }
        var port: Int { route.port }
        /// Bytes of the client's input this request spans, consumed once the answer starts.
        var requestLength: Int
        /// What the agent was sent, kept until its answer starts for one retry.
        var request: ByteBuffer
        var isHead: Bool
        var isIdempotent: Bool
        var wantsClose: Bool
        var deadline: UInt64
        var retried = false
        /// A 1xx went to the client: the agent has the request, so it is never sent again.
        var sentInterim = false
        var answering = false
        var status = 0
        var framing = HeadScanner.Framing.empty
        var remaining = 0
        var chunked = HeadScanner.ChunkedBody()
        var agentKeepsAlive = false
        var closesClient = false
    }

    /// The syscalls that may fail come before the designated init: a class holding an
    /// `Atomic` that throws from a partly initialised designated init crashes the Swift
    /// 6.3 optimiser ("Found ownership error"), so release builds would not build.
    convenience init(listener: Int32, settings: FrontDoorSettings) throws(FrontDoorError) {
        let epoll = par_epoll_create()
        guard epoll >= 0 else { throw .system("epoll_create1", errno) }
        let wakeFD = par_eventfd()
        guard wakeFD >= 0 else { close(epoll); throw .system("eventfd", errno) }
        _ = par_epoll_set(epoll, 1, wakeFD, PAR_WANT_READ, Self.wakeToken, 0)
        guard par_epoll_set(epoll, 1, listener, PAR_WANT_READ, Self.listenerToken, 1) == 0 else {
            let error = errno
            close(epoll)
            close(wakeFD)
            throw .system("epoll_ctl(listener)", error)
        }
        self.init(epoll: epoll, wakeFD: wakeFD, listener: listener, settings: settings)
    }

    private init(epoll: Int32, wakeFD: Int32, listener: Int32, settings: FrontDoorSettings) {
        self.timeouts = ClientTimeouts(
            headNanoseconds: settings.headTimeoutNanoseconds, keepAliveNanoseconds: settings.keepAliveNanoseconds,
            answerNanoseconds: settings.timeoutNanoseconds
        )
        self.epoll = epoll
        self.wakeFD = wakeFD
        self.listener = listener
        self.settings = settings
    }

    /// Stops accepting; answers in flight get `drainNanoseconds`, then every connection closes.
    func stop() {
        stopRequested.store(true, ordering: .releasing)
        _ = par_eventfd_signal(wakeFD)
    }

    /// The loop; returns once stopped and every connection is closed.
    func run() {
        // Named so `top -H` and profilers show which thread is the relay.
        _ = par_name_thread("par-relay")
        var tokens = [UInt64](repeating: 0, count: 256)
        var flags = [UInt32](repeating: 0, count: 256)
        now = Self.monotonicNanoseconds()
        nextSweep = now + Self.sweepInterval
        while true {
            // The sweep also puts back a listener dropped for want of fds.
            let timeout: Int32 = clientCount > 0 || !idleAgents.isEmpty || stopDeadline != nil || !listening ? 250 : -1
            let count = par_epoll_wait_flags(epoll, &tokens, &flags, 256, timeout)
            now = Self.monotonicNanoseconds()
            for event in 0..<max(0, Int(count)) {
                dispatch(token: tokens[event], flags: flags[event])
            }
            if stopDeadline == nil, stopRequested.load(ordering: .acquiring) { beginStopping() }
            // Writes first: the sweep judges stalled clients by what they could not take.
            writePending()
            if now >= nextSweep || stopDeadline != nil {
                nextSweep = now + Self.sweepInterval
                sweep()
                writePending()
            }
            if stopDeadline != nil, clientCount == 0 { break }
        }
        for index in slots.indices {
            switch slots[index] {
            case .client(let client): closeClient(client)
            case .agent(let agent): closeAgent(agent)
            case .free: break
            }
        }
        close(wakeFD)
        close(epoll)
    }

    // MARK: Events

    private func dispatch(token: UInt64, flags: UInt32) {
        if token == Self.wakeToken { _ = par_eventfd_drain(wakeFD); return }
        if token == Self.listenerToken { acceptClients(); return }
        switch slot(for: token) {
        case .client(let client): clientEvent(client, flags: flags)
        case .agent(let agent): agentEvent(agent, flags: flags)
        case .free: break
        }
    }

    private func acceptClients() {
        guard listening else { return }
        // With several loops each takes one connection per wake-up, so a burst of
        // connections spreads over them instead of landing on whichever woke first.
        for _ in 0..<(settings.acceptsOneAtATime ? 1 : 64) {
            var peer: UInt32 = 0
            let fd = par_tcp_accept(listener, &peer)
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE {
                    // Out of fds: stop watching the listener until the next sweep, or the
                    // level-triggered event would spin.
                    _ = par_epoll_set(epoll, 2, listener, 0, 0, 0)
                    listening = false
                }
                return
            }
            if clientCount >= settings.maxClientsPerLoop {
                Self.refuseOverCapacity(fd)
                continue
            }
            let index = allocateSlot()
            let client = Client(fd: fd, index: index, address: Self.dottedQuad(peer), allocator: allocator, now: now)
            slots[index] = .client(client)
            clientCount += 1
            register(fd: fd, index: index)
        }
    }

    /// One best-effort write (a fresh socket's buffer takes it whole) and the close.
    private static func refuseOverCapacity(_ fd: Int32) {
        _ = MalformedRequestAnswer.overCapacity.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        shutdown(fd, Int32(SHUT_WR))
        close(fd)
    }

    private func clientEvent(_ client: Client, flags: UInt32) {
        if flags & PAR_EVENT_ERROR != 0 { closeClient(client); return }
        if flags & PAR_EVENT_HANGUP != 0, client.exchange != nil { closeClient(client); return }
        // A half-close (RDHUP) is read as end of input once the answer in flight is out.
        if flags & (PAR_WANT_READ | PAR_WANT_RDHUP | PAR_EVENT_HANGUP) != 0 { client.readable = true }
        if flags & (PAR_WANT_RDHUP | PAR_EVENT_HANGUP) != 0 { client.peerClosed = true }
        if flags & PAR_WANT_WRITE != 0, client.output.readableBytes > 0 {
            flush(client)
            guard isOpen(client) else { return }
            if let exchange = client.exchange, case .agent(let agent) = slots[exchange.agent], agent.client == client.index {
                pump(agent, client: client)
                return
            }
        }
        serve(client)
    }

    /// Starts buffered requests and reads more while the client waits for nothing.
    private func serve(_ client: Client) {
        while isOpen(client), client.exchange == nil, !client.closeWhenFlushed, client.output.readableBytes == 0 {
            process(client)
            guard isOpen(client), client.exchange == nil, client.readable else { return }
            // Pipelined bytes always left over must not grow the buffer for ever.
            if client.input.readerIndex > 16 << 10 { client.input.discardReadBytes() }
            var count = 0
            var space = 0
            let hadInput = client.input.readableBytes > 0
            client.input.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { buffer in
                space = buffer.count
                count = Glibc.read(client.fd, buffer.baseAddress, buffer.count)
                return max(0, count)
            }
            if count > 0 {
                if !hadInput { client.headStartedAt = now }
                // A short read emptied the socket; the next arrival raises a new edge.
                if count < space, !client.peerClosed { client.readable = false }
            } else if count < 0, errno == EAGAIN {
                client.readable = false
                return
            } else if count < 0, errno == EINTR {
                continue
            } else {
                closeClient(client)
                return
            }
        }
    }

    /// Starts the next request in the client's input, if it is complete.
    private func process(_ client: Client) {
        guard client.exchange == nil, client.input.readableBytes > 0, client.output.readableBytes == 0 else { return }
        let verdict = client.input.withUnsafeReadableBytes { HeadScanner.scanRequest($0) }
        switch verdict {
        case .incomplete:
            return
        case .fullStack:
            handOver(client)
        case .relay(let request):
            guard let route = route(for: request, of: client) else { handOver(client); return }
            guard client.input.readableBytes >= request.totalLength else {
                if stopDeadline != nil { closeClient(client) }
                return
            }
            guard let agent = agentConnection(port: route.port) else { handOver(client); return }
            // Written into the connection's own buffer, whose capacity stays from request to request.
            agent.output.clear()
            client.input.withUnsafeReadableBytes { bytes in
                HeadScanner.writeAgentRequest(bytes, request, port: route.portText, clientAddress: client.address, into: &agent.output)
                if let length = request.contentLength, length > 0 {
                    agent.output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[request.headLength..<request.totalLength]))
                }
            }
            client.headStartedAt = nil
            client.exchange = Exchange(
                agent: agent.index, route: route, inFlight: settings.routes.beginRequest(port: route.port), requestLength: request.totalLength, request: agent.output,
                isHead: request.isHead, isIdempotent: request.isIdempotent, wantsClose: request.wantsClose,
                deadline: now + settings.timeoutNanoseconds
            )
            agent.client = client.index
            send(to: agent)
        }
    }

    private func route(for request: HeadScanner.Request, of client: Client) -> Route? {
        let version = settings.routes.version
        if let cached = client.route, cached.version == version,
           client.input.withUnsafeReadableBytes({ $0[request.agentID].elementsEqual(cached.id) }) {
            return cached
        }
        let id = client.input.withUnsafeReadableBytes { Array($0[request.agentID]) }
        let agentID = String(decoding: id, as: UTF8.self)
        guard let port = settings.routes.port(of: agentID) else { return nil }
        let route = Route(id: id, agentID: agentID, port: port, counters: settings.traffic.counters(for: agentID), version: version)
        client.route = route
        return route
    }

    private func agentEvent(_ agent: Agent, flags: UInt32) {
        guard let clientIndex = agent.client, case .client(let client) = slots[clientIndex] else {
            // Idle in the pool: readable means the agent closed it (or sent something unasked).
            if flags & (PAR_WANT_READ | PAR_WANT_RDHUP | PAR_EVENT_HANGUP | PAR_EVENT_ERROR) != 0 { closeAgent(agent) }
            return
        }
        if flags & (PAR_WANT_READ | PAR_WANT_RDHUP | PAR_EVENT_HANGUP | PAR_EVENT_ERROR) != 0 { agent.readable = true }
        if flags & (PAR_WANT_RDHUP | PAR_EVENT_HANGUP | PAR_EVENT_ERROR) != 0 { agent.peerClosed = true }
        if agent.connecting {
            guard flags & (PAR_WANT_WRITE | PAR_EVENT_ERROR | PAR_EVENT_HANGUP) != 0 else { return }
            guard par_socket_error(agent.fd) == 0 else {
                // Refused: the full stack retries and, if the agent is still down, says why.
                detachForHandOver(client, agent: agent)
                return
            }
            agent.connecting = false
        }
        if agent.output.readableBytes > 0 {
            flush(agent, client: client)
            guard isOpen(agent) else { return }
        }
        pump(agent, client: client)
    }

    /// Reads the agent's answer for as long as the client keeps up: when the client's
    /// socket is full, reading stops and resumes on its next writable edge (backpressure).
    private func pump(_ agent: Agent, client: Client) {
        while agent.readable, isOpen(agent), agent.client == client.index, client.exchange != nil, client.output.readableBytes < Self.highWater {
            var count = 0
            var space = 0
            // Heads and small answers fit 4 KiB; bodies are read in large pieces.
            let piece = client.exchange?.answering == true ? Self.readChunk : 4096
            if agent.input.readerIndex > 16 << 10 { agent.input.discardReadBytes() }
            agent.input.writeWithUnsafeMutableBytes(minimumWritableBytes: piece) { buffer in
                space = buffer.count
                count = Glibc.read(agent.fd, buffer.baseAddress, buffer.count)
                return max(0, count)
            }
            if count > 0 {
                if count < space, !agent.peerClosed { agent.readable = false }
                relay(from: agent, to: client)
            } else if count < 0, errno == EAGAIN {
                agent.readable = false
            } else if count < 0, errno == EINTR {
                continue
            } else {
                agentEnded(agent, client: client)
                return
            }
        }
    }

    /// Moves what the agent sent towards the client: heads rewritten, bodies as they are.
    private func relay(from agent: Agent, to client: Client) {
        guard var exchange = client.exchange else { return }
        while !exchange.answering {
            let verdict = agent.input.withUnsafeReadableBytes { HeadScanner.scanResponse($0, requestWasHead: exchange.isHead) }
            switch verdict {
            case .incomplete:
                client.exchange = exchange
                return
            case .invalid(let reason):
                client.exchange = exchange
                fail(client, failure: .unreachable, answer: ProxyErrors.badAnswer(agentID: exchange.agentID, port: exchange.port, reason: reason))
                return
            case .response(let response):
                if response.status < 200 {
                    guard response.status != 101 else {
                        client.exchange = exchange
                        fail(client, failure: .unreachable, answer: ProxyErrors.badAnswer(
                            agentID: exchange.agentID, port: exchange.port, reason: "it switched protocols unasked"))
                        return
                    }
                    agent.input.withUnsafeReadableBytes { HeadScanner.writeClientResponse($0, response, closing: false, into: &client.output) }
                    agent.input.moveReaderIndex(forwardBy: response.headLength)
                    exchange.sentInterim = true
                    scheduleWrite(client)
                    continue
                }
                exchange.answering = true
                exchange.status = response.status
                exchange.framing = response.framing
                exchange.agentKeepsAlive = response.keepsAlive
                if case .length(let length) = response.framing { exchange.remaining = length }
                exchange.closesClient = exchange.wantsClose || response.framing == .untilClose || stopDeadline != nil
                agent.input.withUnsafeReadableBytes {
                    HeadScanner.writeClientResponse($0, response, closing: exchange.closesClient, into: &client.output)
                }
                agent.input.moveReaderIndex(forwardBy: response.headLength)
                client.input.moveReaderIndex(forwardBy: exchange.requestLength)
                exchange.request = Self.noBytes
            }
        }
        var complete = false
        switch exchange.framing {
        case .empty:
            complete = true
        case .length:
            let take = min(exchange.remaining, agent.input.readableBytes)
            if take > 0, var slice = agent.input.readSlice(length: take) { client.output.writeBuffer(&slice) }
            exchange.remaining -= take
            complete = exchange.remaining == 0
        case .chunked:
            let taken = agent.input.withUnsafeReadableBytes { exchange.chunked.consume($0) }
            guard let taken else { client.exchange = exchange; closeClient(client); return }
            if taken > 0, var slice = agent.input.readSlice(length: taken) { client.output.writeBuffer(&slice) }
            complete = exchange.chunked.isComplete
        case .untilClose:
            client.output.writeBuffer(&agent.input)
        }
        if agent.input.readableBytes == 0 { agent.input.clear() }
        client.exchange = exchange
        scheduleWrite(client)
        if complete { finishExchange(client) }
    }

    /// The agent closed its connection (or it failed) mid-exchange.
    private func agentEnded(_ agent: Agent, client: Client) {
        guard var exchange = client.exchange else { closeAgent(agent); return }
        if exchange.answering {
            if exchange.framing == .untilClose {
                exchange.agentKeepsAlive = false
                client.exchange = exchange
                finishExchange(client)
            } else {
                // Cut short: the client must not take a truncated body for a whole one.
                closeClient(client)
            }
            return
        }
        let nothingReceived = agent.input.readableBytes == 0 && !exchange.sentInterim
        if nothingReceived, agent.reused, exchange.isIdempotent, !exchange.retried {
            // A pooled connection the agent had just closed: the request never reached it.
            exchange.retried = true
            agent.client = nil
            closeAgent(agent)
            guard let fresh = agentConnection(port: exchange.port, pooled: false) else {
                client.exchange = nil
                handOver(client)
                return
            }
            exchange.agent = fresh.index
            fresh.client = client.index
            client.exchange = exchange
            fresh.output = exchange.request
            send(to: fresh)
            return
        }
        fail(client, failure: .unreachable, answer: ProxyErrors.closedBeforeAnswering(agentID: exchange.agentID, port: exchange.port))
    }

    // MARK: Ending exchanges

    private func finishExchange(_ client: Client) {
        guard let exchange = client.exchange else { return }
        client.exchange = nil
        exchange.route.counters.record(status: exchange.status)
        if case .agent(let agent) = slots[exchange.agent], agent.client == client.index {
            agent.client = nil
            // Pooled only when its socket is drained: an edge already consumed would never come again.
            if exchange.agentKeepsAlive, !agent.readable, !agent.peerClosed, agent.input.readableBytes == 0, agent.output.readableBytes == 0, stopDeadline == nil {
                agent.reused = true
                agent.idleSince = now
                Self.empty(&agent.input, allocator: allocator)
                idleAgents[agent.port, default: []].append(agent.index)
            } else {
                closeAgent(agent)
            }
        }
        endClientTurn(client, closing: exchange.closesClient)
    }

    /// Answers the client itself, in the API's JSON error shape, and ends the exchange.
    private func fail(_ client: Client, failure: ProxyTraffic.Failure, answer: APIError) {
        guard let exchange = client.exchange else { return }
        client.exchange = nil
        exchange.route.counters.record(failure: failure)
        if case .agent(let agent) = slots[exchange.agent], agent.client == client.index {
            agent.client = nil
            closeAgent(agent)
        }
        guard !exchange.answering else { closeClient(client); return }
        client.input.moveReaderIndex(forwardBy: exchange.requestLength)
        writeAnswer(answer, to: client, closing: exchange.wantsClose || stopDeadline != nil)
    }

    /// An answer of the loop's own (an error), then the next request or the close.
    private func writeAnswer(_ answer: APIError, to client: Client, closing: Bool) {
        client.output.writeBytes(answer.wireBytes(closing: closing))
        scheduleWrite(client)
        endClientTurn(client, closing: closing)
    }

    private func endClientTurn(_ client: Client, closing: Bool) {
        if closing {
            client.closeWhenFlushed = true
            if client.output.readableBytes == 0 { closeClient(client) }
            return
        }
        if client.input.readableBytes == 0 { Self.empty(&client.input, allocator: allocator) }
        serve(client)
    }

    // MARK: Writing

    private func flush(_ client: Client) {
        while client.output.readableBytes > 0 {
            // MSG_NOSIGNAL: a peer gone away is an error to handle, not a SIGPIPE.
            let written = client.output.withUnsafeReadableBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                closeClient(client)
                return
            }
            client.output.moveReaderIndex(forwardBy: written)
            client.lastProgress = now
        }
        if client.output.readableBytes == 0 {
            Self.empty(&client.output, allocator: allocator)
            if client.closeWhenFlushed { closeClient(client) }
        }
    }

    private func send(to agent: Agent) {
        // A connect in progress sends once the writable edge says it is done.
        if agent.connecting { return }
        scheduleWrite(agent)
    }

    private func scheduleWrite(_ client: Client) {
        guard !client.writeScheduled else { return }
        // New output restarts the clock for a client that takes nothing.
        client.lastProgress = now
        client.writeScheduled = true
        pendingWrites.append(token(client.index))
    }

    private func scheduleWrite(_ agent: Agent) {
        guard !agent.writeScheduled else { return }
        agent.writeScheduled = true
        pendingWrites.append(token(agent.index))
    }

    /// Writes what this turn produced; a drained client may then take more of its answer
    /// or start its next request, which can produce more.
    private func writePending() {
        while !pendingWrites.isEmpty {
            let batch = pendingWrites
            pendingWrites.removeAll(keepingCapacity: true)
            for token in batch {
                switch slot(for: token) {
                case .client(let client):
                    client.writeScheduled = false
                    flush(client)
                    guard isOpen(client), client.output.readableBytes == 0 else { continue }
                    if let exchange = client.exchange, case .agent(let agent) = slots[exchange.agent], agent.client == client.index {
                        pump(agent, client: client)
                    } else {
                        serve(client)
                    }
                case .agent(let agent):
                    agent.writeScheduled = false
                    guard !agent.connecting, let clientIndex = agent.client, case .client(let client) = slots[clientIndex] else { continue }
                    flush(agent, client: client)
                case .free:
                    break
                }
            }
        }
    }

    private func flush(_ agent: Agent, client: Client) {
        while agent.output.readableBytes > 0 {
            let written = agent.output.withUnsafeReadableBytes { Glibc.send(agent.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { break }
                agentEnded(agent, client: client)
                return
            }
            agent.output.moveReaderIndex(forwardBy: written)
        }
    }

    // MARK: Connections to agents

    private func agentConnection(port: Int, pooled: Bool = true) -> Agent? {
        if pooled {
            while let index = idleAgents[port]?.popLast() {
                if idleAgents[port]?.isEmpty == true { idleAgents[port] = nil }
                if case .agent(let agent) = slots[index] { return agent }
            }
        }
        var pending: Int32 = 0
        let fd = par_tcp_connect_loopback(Int32(port), &pending)
        guard fd >= 0 else { return nil }
        let index = allocateSlot()
        let agent = Agent(fd: fd, index: index, port: port, connecting: pending != 0, allocator: allocator)
        slots[index] = .agent(agent)
        register(fd: fd, index: index)
        return agent
    }

    /// A connect that failed: the client's request is still whole in its input, so the full
    /// stack can take the connection and answer.
    private func detachForHandOver(_ client: Client, agent: Agent) {
        agent.client = nil
        closeAgent(agent)
        client.exchange = nil
        handOver(client)
    }

    // MARK: Interest, slots, closing

    private func register(fd: Int32, index: Int) {
        // Edge-triggered for reads and writes alike: no epoll_ctl per request.
        _ = par_epoll_set(epoll, 1, fd, PAR_WANT_READ | PAR_WANT_WRITE | PAR_WANT_RDHUP | PAR_EDGE_TRIGGERED, token(index), 0)
    }

    /// What a token still names; `.free` once its slot was released (or reused since).
    private func slot(for token: UInt64) -> Slot {
        let index = Int(token & 0xFFFF_FFFF)
        guard index < slots.count, generations[index] == UInt32(token >> 32) else { return .free }
        return slots[index]
    }

    private func token(_ index: Int) -> UInt64 {
        UInt64(generations[index]) << 32 | UInt64(index)
    }

    private func allocateSlot() -> Int {
        if let index = freeSlots.popLast() { return index }
        slots.append(.free)
        generations.append(0)
        return slots.count - 1
    }

    private func releaseSlot(_ index: Int) {
        slots[index] = .free
        generations[index] &+= 1
        freeSlots.append(index)
    }

    private func isOpen(_ client: Client) -> Bool {
        if case .client(let current) = slots[client.index], current === client { return true }
        return false
    }

    private func isOpen(_ agent: Agent) -> Bool {
        if case .agent(let current) = slots[agent.index], current === agent { return true }
        return false
    }

    private func closeClient(_ client: Client) {
        guard isOpen(client) else { return }
        if let exchange = client.exchange, case .agent(let agent) = slots[exchange.agent], agent.client == client.index {
            agent.client = nil
            closeAgent(agent)
        }
        client.exchange = nil
        close(client.fd)
        releaseSlot(client.index)
        clientCount -= 1
    }

    private func closeAgent(_ agent: Agent) {
        guard isOpen(agent) else { return }
        if agent.client == nil, var idle = idleAgents[agent.port], let position = idle.firstIndex(of: agent.index) {
            idle.remove(at: position)
            idleAgents[agent.port] = idle.isEmpty ? nil : idle
        }
        close(agent.fd)
        releaseSlot(agent.index)
    }

    private func handOver(_ client: Client) {
        guard isOpen(client), client.exchange == nil else { return }
        if stopDeadline != nil { closeClient(client); return }
        _ = par_epoll_set(epoll, 2, client.fd, 0, 0, 0)
        releaseSlot(client.index)
        clientCount -= 1
        settings.handOver(client.fd, client.input, client.route != nil)
    }

    // MARK: Time

    /// Timeouts, idle connections and the shutdown drain, checked every 250 ms: each client
    /// is reduced to its `ClientPhase`, `ClientTimeouts` says what is due, and this carries it out.
    private func sweep() {
        if !listening, stopDeadline == nil {
            listening = par_epoll_set(epoll, 1, listener, PAR_WANT_READ, Self.listenerToken, 1) == 0
        }
        let drainOver = stopDeadline.map { now >= $0 } ?? false
        for index in slots.indices {
            switch slots[index] {
            case .client(let client):
                let action = timeouts.action(for: phase(of: client), now: now, stopping: stopDeadline != nil, drainOver: drainOver)
                switch action {
                case .none:
                    break
                case .startHeadClock:
                    // Pipelined bytes left behind an answer: they count from now.
                    client.headStartedAt = now
                case .answerRequestTimeout:
                    client.input.clear()
                    writeAnswer(MalformedRequestAnswer.timedOut(seconds: settings.headTimeoutNanoseconds / 1_000_000_000), to: client, closing: true)
                case .answerGatewayTimeout:
                    guard let exchange = client.exchange else { break }
                    fail(client, failure: .timedOut, answer: ProxyErrors.timedOut(
                        agentID: exchange.agentID, port: exchange.port, seconds: Double(settings.timeoutNanoseconds) / 1e9))
                case .close:
                    closeClient(client)
                }
            case .agent(let agent):
                if agent.client == nil, now - agent.idleSince >= settings.idleTimeoutNanoseconds || stopDeadline != nil {
                    closeAgent(agent)
                }
            case .free:
                break
            }
        }
    }

    private func phase(of client: Client) -> ClientPhase {
        if let exchange = client.exchange, !exchange.answering { return .awaitingAgent(deadline: exchange.deadline) }
        if client.output.readableBytes > 0 { return .sending(lastProgress: client.lastProgress) }
        if client.exchange != nil { return .relaying }
        if client.closeWhenFlushed { return .closing }
        if client.input.readableBytes > 0 { return .receiving(startedAt: client.headStartedAt) }
        return .idle(since: max(client.lastProgress, client.headStartedAt ?? 0))
    }

    private func beginStopping() {
        stopDeadline = now + settings.drainNanoseconds
        if listening { _ = par_epoll_set(epoll, 2, listener, 0, 0, 0) }
        listening = false
    }

    /// An emptied buffer, given back to the allocator when a large body grew it: thousands of
    /// idle connections must not each keep 64 KiB.
    private static func empty(_ buffer: inout ByteBuffer, allocator: ByteBufferAllocator) {
        if buffer.capacity > 16 << 10 { buffer = allocator.buffer(capacity: 0) } else { buffer.clear() }
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// `a.b.c.d` of an IPv4 address in network order; `unknown` for anything else.
    static func dottedQuad(_ address: UInt32) -> [UInt8] {
        guard address != 0 else { return Array("unknown".utf8) }
        let host = UInt32(bigEndian: address)
        return Array("\(host >> 24).\((host >> 16) & 0xFF).\((host >> 8) & 0xFF).\(host & 0xFF)".utf8)
    }
}

/// Why the front door could not start.
public enum FrontDoorError: Error, CustomStringConvertible {
    case system(String, Int32)
    case unsupportedHost(String)

    public var description: String {
        switch self {
        case .system(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        case .unsupportedHost(let host): "the front door listens on IPv4 addresses only, not \(host)"
        }
    }
}
