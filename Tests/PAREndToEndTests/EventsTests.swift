import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import PARClient
import PARTestKit
import Testing

/// `GET /supervisor/events`: typed agent events, live, resumable by `Last-Event-ID`, and the
/// same lines the log keeps for process `supervisor`.
@Suite("Supervisor events")
struct EventsTests {
    /// Events until one of `type` for `agent` arrives (or the timeout), in order.
    static func collect(_ stream: EventStreamClient, until type: String, agent: String, timeout: Double = 20) throws -> [EventStreamClient.Event] {
        var seen: [EventStreamClient.Event] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let event = try stream.next(timeout: max(0.1, deadline.timeIntervalSinceNow)) else { continue }
            seen.append(event)
            if event.json["type"] as? String == type, event.json["agent_id"] as? String == agent { break }
        }
        return seen
    }

    @Test func agentLifecycleIsStreamedTypedAndResumes() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let live = try EventStreamClient(port: daemon.port, path: "/supervisor/events", token: daemon.token)
        #expect(live.status == 200)
        #expect(live.headers["content-type"]?.hasPrefix("text/event-stream") == true)

        #expect(try daemon.spawn("evented", package: try daemon.install(EchoAgent.package())).status == 200)
        let started = try Self.collect(live, until: "ready", agent: "evented")
        let types = started.compactMap { $0.json["type"] as? String }
        #expect(types.contains("spawned") && types.last == "ready", "\(types)")
        let spawned = try #require(started.first { $0.json["type"] as? String == "spawned" })
        #expect(spawned.json["process_id"] as? String == "par-evented")
        #expect(spawned.id == (spawned.json["sequence"] as? NSNumber).map { String($0.int64Value) }, "the SSE id is the sequence")
        #expect(((spawned.json["extra"] as? [String: Any])?["pid"] as? NSNumber) != nil)

        // A crash: exited, then restarting with its delay.
        let pid = try #require(pid(try daemon.process("par-evented")))
        kill(pid, SIGKILL)
        let crashed = try Self.collect(live, until: "restarting", agent: "evented")
        let crashTypes = crashed.compactMap { $0.json["type"] as? String }
        #expect(crashTypes.contains("exited") && crashTypes.last == "restarting", "\(crashTypes)")
        let exited = try #require(crashed.first { $0.json["type"] as? String == "exited" })
        #expect((exited.json["extra"] as? [String: Any])?["signal"] as? Int == Int(SIGKILL))

        // Resuming from the spawn's id replays every later event once, in order, and no earlier one.
        let resumed = try EventStreamClient(port: daemon.port, path: "/supervisor/events", token: daemon.token, headers: ["Last-Event-ID": spawned.id ?? ""])
        let replayed = try Self.collect(resumed, until: "restarting", agent: "evented")
        let expected = Array((started + crashed).drop { $0.id != spawned.id }.dropFirst())
        #expect(replayed.map(\.id) == expected.map(\.id), "replayed \(replayed.count), expected \(expected.count)")

        // One source: the log's supervisor lines are these events.
        let logged = try daemon.client().get("/supervisor/logs?process_id=supervisor&order=asc&limit=1000").json["logs"] as? [[String: Any]] ?? []
        let loggedIDs = logged.compactMap { ($0["sequence"] as? NSNumber).map { String($0.int64Value) } }
        #expect(Set((started + crashed).compactMap(\.id)).isSubset(of: Set(loggedIDs)))
        #expect(logged.allSatisfy { ($0["extra"] as? [String: Any])?["event"] is String }, "every supervisor line names its event")
    }

    @Test func badParametersAreRefused() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        #expect(try daemon.client().get("/supervisor/events?tail=-1").status == 400)
        #expect(try daemon.client().get("/supervisor/events?process_id=par-x").status == 400, "the events stream is every agent's")
        #expect(try PARAPIClient(port: daemon.port, token: nil).get("/supervisor/events").status == 401)
        let bad = try daemon.client().connection.request("GET", "/supervisor/events", headers: ["Authorization": "Bearer \(daemon.token)", "Last-Event-ID": "yesterday"])
        #expect(bad.status == 400)
        #expect(bad.text.contains("Last-Event-ID"))
    }

    /// The same stream over a WebSocket: typed text messages, resumed with `after=` (a
    /// browser's WebSocket cannot send Last-Event-ID).
    @Test func eventsOverAWebSocketAreTypedAndResumeWithAfter() async throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        var configuration = WebSocketClientConfiguration()
        configuration.additionalHeaders = [.authorization: "Bearer \(daemon.token)"]
        /// Messages until a `ready` of `ws-evented`, from `query`.
        func readUntilReady(_ query: String, whileOpen: @escaping @Sendable () throws -> Void = {}) async throws -> [[String: Any]] {
            let received = Locked<[String]>([])
            _ = try await withTimeout(60, "events WebSocket") { [configuration] in
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(daemon.port)/supervisor/events\(query)", configuration: configuration, logger: Logger(label: "test")) { inbound, outbound, _ in
                    try whileOpen()
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        guard case .text(let text) = message else { continue }
                        received.withLock { $0.append(text) }
                        if text.contains("\"type\":\"ready\""), text.contains("ws-evented") { break }
                    }
                    try await outbound.close(.normalClosure, reason: nil)
                }
            }
            return received.withLock { $0 }.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
        }
        let package = try daemon.install(EchoAgent.package())
        let live = try await readUntilReady("") { () throws in
            let status = try daemon.spawn("ws-evented", package: package).status
            #expect(status == 200)
        }
        let types = live.compactMap { $0["type"] as? String }
        #expect(types.contains("spawned") && types.last == "ready", "\(types)")
        #expect(live.allSatisfy { $0["agent_id"] as? String == "ws-evented" && $0["sequence"] is NSNumber })
        let spawned = try #require(live.first { $0["type"] as? String == "spawned" })
        let spawnedSequence = try #require((spawned["sequence"] as? NSNumber)?.int64Value)

        let resumed = try await readUntilReady("?after=\(spawnedSequence)")
        let sequences = { (events: [[String: Any]]) in events.compactMap { ($0["sequence"] as? NSNumber)?.int64Value } }
        #expect(sequences(resumed) == sequences(live).filter { $0 > spawnedSequence }, "every later event once, in order, none earlier")

        // Bad parameters are not upgraded: the plain answer says what is wrong.
        await #expect(throws: (any Error).self) {
            try await withTimeout(30, "refused WebSocket") { [configuration] in
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(daemon.port)/supervisor/events?after=yesterday", configuration: configuration, logger: Logger(label: "test")) { _, _, _ in }
            }
        }
        let unauthenticated = Locked(false)
        await #expect(throws: (any Error).self) {
            try await withTimeout(30, "refused WebSocket") {
                try await WebSocketClient.connect(url: "ws://127.0.0.1:\(daemon.port)/supervisor/events", logger: Logger(label: "test")) { _, _, _ in
                    unauthenticated.withLock { $0 = true }
                }
            }
        }
        #expect(unauthenticated.withLock { $0 } == false, "no token, no events")
    }

    /// `with_events=true`: an agent's lines with the supervisor's events about it (and no
    /// other agent's), in sequence order, stored and live.
    @Test func anAgentsLogCarriesItsOwnEventsWhenAsked() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let talker = APKGBuilder.commandPackage(name: "talker", script: "echo \"hello from $PAR_AGENT_ID\"\nexec sleep 1000")
        let package = try daemon.install(talker)
        #expect(try daemon.spawn("mine", package: package).status == 200)
        #expect(try daemon.spawn("other", package: package).status == 200)
        for id in ["par-mine", "par-other"] { try daemon.waitFor(id, timeout: 20) { state($0) == "running" } }
        let live = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-mine&with_events=true", token: daemon.token)
        let pid = try #require(pid(try daemon.process("par-mine")))
        kill(pid, SIGKILL)
        var liveTypes: [String] = []
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !liveTypes.contains("restarting") {
            guard let event = try live.next(timeout: 1) else { continue }
            let extra = event.json["extra"] as? [String: Any] ?? [:]
            if let type = extra["event"] as? String {
                #expect(extra["agent_id"] as? String == "mine", "only this agent's events: \(event.data)")
                liveTypes.append(type)
            }
        }
        #expect(liveTypes.contains("exited") && liveTypes.contains("restarting"), "\(liveTypes)")

        let logs = { (query: String) throws -> [[String: Any]] in
            try daemon.client().get("/supervisor/logs?\(query)").json["logs"] as? [[String: Any]] ?? []
        }
        #expect(try ProcessInspection.eventually(timeout: 20) {
            try logs("process_id=par-mine&order=asc").filter { $0["message"] as? String == "hello from mine" }.count == 2
        }, "the restarted run printed again")
        let mixed = try logs("process_id=par-mine&with_events=true&order=asc&limit=1000")
        let own = try logs("process_id=par-mine&order=asc&limit=1000")
        let events = mixed.filter { $0["process_id"] as? String == "supervisor" }
        let sequences = mixed.compactMap { ($0["sequence"] as? NSNumber)?.int64Value }
        #expect(sequences == sequences.sorted(), "one order across the agent's lines and its events")
        #expect(mixed.filter { $0["process_id"] as? String == "par-mine" }.count == own.count, "every line of its own")
        #expect(events.allSatisfy { ($0["extra"] as? [String: Any])?["agent_id"] as? String == "mine" }, "no other agent's events")
        let eventTypes = events.compactMap { ($0["extra"] as? [String: Any])?["event"] as? String }
        #expect(eventTypes.filter { $0 == "spawned" }.count == 2 && eventTypes.contains("exited"), "\(eventTypes)")
        // Each run's spawned event comes before the first line that run printed.
        let story = mixed.map { ($0["extra"] as? [String: Any])?["event"] as? String ?? ($0["message"] as? String ?? "") }
        #expect(story == ["spawned", "hello from mine", "exited", "restarting", "spawned", "hello from mine"], "\(story)")
        // Newest first pages the same set backwards without a hole.
        let firstPage = try daemon.client().get("/supervisor/logs?process_id=par-mine&with_events=true&limit=3").json
        let cursor = try #require(firstPage["next_cursor"] as? String)
        let rest = try logs("process_id=par-mine&with_events=true&limit=1000&cursor=\(cursor)")
        let pagedDown = ((firstPage["logs"] as? [[String: Any]] ?? []) + rest).compactMap { ($0["sequence"] as? NSNumber)?.int64Value }
        #expect(pagedDown == sequences.reversed())

        for bad in ["with_events=true", "process_id=supervisor&with_events=true", "process_id=par-mine&with_events=maybe"] {
            let answer = try daemon.client().get("/supervisor/logs?\(bad)")
            #expect(answer.status == 400, "\(bad)")
            #expect(answer.text.contains("with_events"), "\(bad): \(answer.text)")
        }
    }
}
