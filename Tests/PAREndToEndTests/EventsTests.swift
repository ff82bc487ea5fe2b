import Foundation
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
}
