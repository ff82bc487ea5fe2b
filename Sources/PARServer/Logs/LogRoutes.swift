import Foundation
import HTTPTypes
import HummingbirdCore
import Hummingbird
import HummingbirdWebSocket
import NIOCore
import PARCore
import PARLogs
import PARSupervisor
import ServiceLifecycle

/// `GET`/`DELETE /supervisor/logs`, the SSE tail `/supervisor/logs/stream` and the
/// WebSocket tail `/supervisor/logs/ws`.
struct LogRoutes: Sendable {
    let store: LogStore
    /// How often an idle live tail sends a keep-alive (and finds out the client left).
    var keepAlive: Duration = .seconds(15)

    func register<Context: RequestContext>(on router: Router<Context>) {
        router.get("/supervisor/logs") { request, _ in try await self.query(request) }
        router.delete("/supervisor/logs") { request, _ in try await self.clear(request) }
        router.get("/supervisor/logs/stats") { _, _ in try await self.statistics() }
        router.get("/supervisor/logs/stream") { request, _ in try await self.serverSentEvents(request) }
        router.get("/supervisor/events") { request, _ in try await self.supervisorEvents(request) }
        // Reached only when the request was not a WebSocket upgrade (or its parameters are bad).
        router.get("/supervisor/logs/ws") { request, _ -> Response in
            _ = try LogRequest(request.uri.queryParameters, for: LogRequest.Endpoint.live)
            throw APIError(.upgradeRequired, "upgrade required", detail: "this is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket), or use /supervisor/logs/stream for Server-Sent Events")
        }
    }

    func registerWebSocket<Methods: RouterMethods>(on router: Methods) where Methods.Context == PARWebSocketContext {
        router.ws("/supervisor/logs/ws") { request, _ in
            (try? LogRequest(request.uri.queryParameters, for: LogRequest.Endpoint.live)) == nil ? .dontUpgrade : .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let parameters = try? LogRequest(context.request.uri.queryParameters, for: LogRequest.Endpoint.live) else { return }
            try await webSocketTail(parameters, inbound: inbound, outbound: outbound) { $0.logEntry($1, type: "log") }
        }
        // The same events as the SSE answer of this path; a browser's WebSocket cannot send
        // Last-Event-ID, so it resumes with `after=`.
        router.ws("/supervisor/events") { request, _ in
            (try? Self.eventsRequest(request.uri.queryParameters, lastEventID: nil)) == nil ? .dontUpgrade : .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let parameters = try? Self.eventsRequest(context.request.uri.queryParameters, lastEventID: nil) else { return }
            try await webSocketTail(parameters, inbound: inbound, outbound: outbound) { $0.supervisorEvent($1) }
        }
    }

    // MARK: Query and clear

    private func query(_ request: Request) async throws -> Response {
        let parameters = try LogRequest(request.uri.queryParameters, for: LogRequest.Endpoint.query)
        let page: LogPage
        do throws(LogStoreError) {
            page = try await store.query(parameters.query)
        } catch {
            throw APIError(.internalServerError, "log store failure", detail: error.description)
        }
        var json = JSONWriter(capacity: 256 * page.entries.count + 64)
        json.beginObject()
        json.key("logs")
        json.beginArray()
        for entry in page.entries { json.logEntry(entry) }
        json.endArray()
        json.field("count", page.entries.count)
        json.field("next_cursor", page.nextCursor.map(String.init))
        json.endObject()
        return JSONResponse.make(json)
    }

    private func statistics() async throws -> Response {
        let stats: LogStatistics
        do throws(LogStoreError) {
            stats = try await store.statistics()
        } catch {
            throw APIError(.internalServerError, "log store failure", detail: error.description)
        }
        var json = JSONWriter(capacity: 256)
        json.beginObject()
        json.field("lines", stats.lines)
        json.field("blocks", stats.blocks)
        json.field("bytes", stats.bytes)
        json.field("file_bytes", stats.fileBytes)
        json.field("processes", stats.processes)
        json.field("blocks_awaiting_full_text", stats.blocksAwaitingFullText)
        json.field("live_subscribers", store.hub.subscriberCount)
        json.endObject()
        return JSONResponse.make(json)
    }

    private func clear(_ request: Request) async throws -> Response {
        let parameters = try LogRequest(request.uri.queryParameters, for: LogRequest.Endpoint.clear)
        let processID = parameters.filter.processID
        guard let removed = await store.clear(processID: processID) else {
            throw APIError(.serviceUnavailable, "log store cannot write", detail: "the log store cannot write now (\(store.writeFault?.reason ?? "a write failed")); the clear is queued and applied once it can write again; GET /supervisor/health says when")
        }
        return JSONResponse.make([
            "status": "success",
            "message": processID.map { "cleared \(removed) log entries of \($0)" } ?? "cleared \(removed) log entries",
            "removed": removed,
        ] as [String: Any])
    }

    // MARK: Live

    private func subscribe(_ parameters: LogRequest) async throws -> (tail: [LogEntry], subscription: LogSubscription) {
        do throws(LogStoreError) {
            return try await store.subscribe(filter: parameters.filter, tail: parameters.tail)
        } catch {
            throw APIError(.internalServerError, "log store failure", detail: error.description)
        }
    }

    /// One event per line (`id:` is its sequence); a slow reader gets `event: gap` with
    /// what it missed; a comment line every `keepAlive` while idle.
    private func serverSentEvents(_ request: Request) async throws -> Response {
        let parameters = try LogRequest(request.uri.queryParameters, for: LogRequest.Endpoint.live, lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!])
        return try await stream(parameters, comment: "tailing logs") { entry, buffer in
            Self.writeEvent(entry, into: &buffer) { $0.logEntry(entry) }
        }
    }

    /// `GET /supervisor/events`: every supervisor line as a typed event (`type` is its
    /// `event` field, `id` its sequence), resumable with `Last-Event-ID` like the log tail.
    /// The same lines as `process_id=supervisor` in the log, by construction.
    private func supervisorEvents(_ request: Request) async throws -> Response {
        let parameters = try Self.eventsRequest(request.uri.queryParameters, lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!])
        return try await stream(parameters, comment: "supervisor events") { entry, buffer in
            Self.writeEvent(entry, into: &buffer) { $0.supervisorEvent(entry) }
        }
    }

    private static func eventsRequest(_ query: FlatDictionary<Substring, Substring>, lastEventID: String?) throws(APIError) -> LogRequest {
        var parameters = try LogRequest(query, for: LogRequest.Endpoint.events, lastEventID: lastEventID)
        parameters.filter.processID = LogFilter.supervisorProcessID
        return parameters
    }

    /// One SSE event: `id:` the line's sequence, `data:` what `body` writes.
    private static func writeEvent(_ entry: LogEntry, into buffer: inout ByteBuffer, body: (inout JSONWriter) -> Void) {
        var json = JSONWriter(capacity: 320)
        body(&json)
        buffer.writeString("id: \(entry.sequence)\ndata: ")
        buffer.writeBytes(json.bytes)
        buffer.writeString("\n\n")
    }

    /// A Server-Sent Events answer over the store: the tail, what was missed since `after`,
    /// then live lines, each written by `render`; gaps and keep-alives as for every stream.
    private func stream(
        _ parameters: LogRequest, comment: String, render: @escaping @Sendable (LogEntry, inout ByteBuffer) -> Void
    ) async throws -> Response {
        let (tail, subscription) = try await subscribe(parameters)
        let keepAlive = self.keepAlive
        let store = self.store
        let body = ResponseBody { writer in
            defer { subscription.close() }
            // A tail never ends by itself: on daemon shutdown end it, or the server would
            // wait for it before the agents are stopped.
            try await withGracefulShutdownHandler {
                var start = ByteBuffer(string: "retry: 2000\n: \(comment)\n\n")
                Self.appendEvents(tail.map { LogSubscription.Delivery.entry($0) }, to: &start, render: render)
                try await writer.write(start)
                if let after = parameters.after {
                    try await Self.catchUp(store: store, filter: parameters.filter, after: after, subscription: subscription) { entries in
                        var chunk = ByteBuffer()
                        Self.appendEvents(entries.map { LogSubscription.Delivery.entry($0) }, to: &chunk, render: render)
                        try await writer.write(chunk)
                    }
                }
                try await Self.pump(subscription: subscription, keepAlive: keepAlive, render: render, into: &writer)
            } onGracefulShutdown: {
                subscription.close()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    /// Every stored line after `sequence` that matches, page by page, before the live lines.
    /// The subscription was opened before the first page is read, so a line is either in a
    /// page or still queued live; `skip(through:)` drops the queued copies of paged lines.
    private static func catchUp(
        store: LogStore, filter: LogFilter, after sequence: UInt64, subscription: LogSubscription,
        deliver: ([LogEntry]) async throws -> Void
    ) async throws {
        var cursor = sequence
        while !Task.isCancelled {
            let page: LogPage
            do throws(LogStoreError) {
                page = try await store.query(LogQuery(filter: filter, order: .asc, limit: 1_000, cursor: cursor))
            } catch {
                throw APIError(.internalServerError, "log store failure", detail: error.description)
            }
            if let last = page.entries.last {
                cursor = last.sequence
                subscription.skip(through: last.sequence)
                try await deliver(page.entries)
            }
            guard page.nextCursor != nil else { return }
        }
    }

    private static func pump(
        subscription: LogSubscription, keepAlive: Duration, render: (LogEntry, inout ByteBuffer) -> Void, into writer: inout any ResponseBodyWriter
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    try await Task.sleep(for: keepAlive)
                    subscription.poke()
                }
            }
            while let deliveries = await subscription.next() {
                if deliveries.isEmpty {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    continue
                }
                // A flood arrives as one large batch: encoded a slice at a time, yielding
                // between slices, so API requests on the same few pool threads are not
                // kept waiting behind it.
                var start = 0
                while start < deliveries.count {
                    let end = min(start + liveSlice, deliveries.count)
                    var chunk = ByteBuffer()
                    appendEvents(deliveries[start..<end], to: &chunk, render: render)
                    try await writer.write(chunk)
                    start = end
                    if start < deliveries.count { await Task.yield() }
                }
            }
            group.cancelAll()
        }
    }

    /// Live lines encoded between two yields to other tasks.
    static let liveSlice = 256

    private static func appendEvents(
        _ deliveries: some Collection<LogSubscription.Delivery>, to buffer: inout ByteBuffer, render: (LogEntry, inout ByteBuffer) -> Void
    ) {
        for delivery in deliveries {
            switch delivery {
            case .entry(let entry):
                render(entry, &buffer)
            case .gap:
                buffer.writeString("event: gap\ndata: ")
                buffer.writeBytes(gapJSON(delivery).bytes)
                buffer.writeString("\n\n")
            }
        }
    }

    /// `{"missed": n, "first_sequence": a, "last_sequence": b, "cursor": "a-1"}`: fetch the
    /// missed lines with `GET /supervisor/logs?order=asc&cursor=<cursor>` and the same filters.
    private static func gapJSON(_ delivery: LogSubscription.Delivery, type: Bool = false) -> JSONWriter {
        var json = JSONWriter(capacity: 128)
        guard case .gap(let missed, let first, let last) = delivery else { return json }
        json.beginObject()
        if type { json.field("type", "gap") }
        json.field("missed", missed)
        json.field("first_sequence", first)
        json.field("last_sequence", last)
        json.field("cursor", String(first - 1))
        json.endObject()
        return json
    }

    /// Text messages: each line as `render` writes it (with a `type`), or `{"type": "gap",
    /// ...}`. Messages the client sends are ignored; its close ends the tail.
    private func webSocketTail(
        _ parameters: LogRequest, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        render: @escaping @Sendable (inout JSONWriter, LogEntry) -> Void
    ) async throws {
        let (tail, subscription) = try await subscribe(parameters)
        defer { subscription.close() }
        try await withGracefulShutdownHandler {
            for entry in tail {
                try await outbound.write(.text(Self.webSocketText(.entry(entry), render: render)))
            }
            if let after = parameters.after {
                try await Self.catchUp(store: store, filter: parameters.filter, after: after, subscription: subscription) { entries in
                    for entry in entries { try await outbound.write(.text(Self.webSocketText(.entry(entry), render: render))) }
                }
            }
            try await relayTail(subscription: subscription, inbound: inbound, outbound: outbound, render: render)
        } onGracefulShutdown: {
            subscription.close()
        }
    }

    private func relayTail(
        subscription: LogSubscription, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        render: @escaping @Sendable (inout JSONWriter, LogEntry) -> Void
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in inbound.messages(maxSize: 1 << 16) {}
                subscription.close()
            }
            while let deliveries = await subscription.next() {
                for (index, delivery) in deliveries.enumerated() {
                    try await outbound.write(.text(Self.webSocketText(delivery, render: render)))
                    if index % Self.liveSlice == Self.liveSlice - 1 { await Task.yield() }
                }
            }
            group.cancelAll()
        }
    }

    private static func webSocketText(_ delivery: LogSubscription.Delivery, render: (inout JSONWriter, LogEntry) -> Void) -> String {
        switch delivery {
        case .entry(let entry):
            var json = JSONWriter(capacity: 256)
            render(&json, entry)
            return String(decoding: json.bytes, as: UTF8.self)
        case .gap:
            return String(decoding: gapJSON(delivery, type: true).bytes, as: UTF8.self)
        }
    }
}
