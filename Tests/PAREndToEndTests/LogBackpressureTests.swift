import Foundation
import PARClient
import PARTestKit
import Testing

// The log store's memory bound and slow readers, end to end: floods wait on their pipes
// instead of growing the daemon, and a live tail that stops reading costs the agents nothing.

@Suite(.serialized) struct LogBackpressureTests {
    /// Agents print faster than the store can keep up: with `--log-buffer-mb 1`, what is
    /// held in memory stays near 1 MiB (one read batch per agent over it at most), the agents
    /// are paused on their pipes, and every line is stored once, in order.
    @Test func aSmallBufferBoundsMemoryAndLosesNothing() throws {
        let agents = 8, lines = 25_000
        let daemon = try DaemonHarness(extraArguments: ["--log-buffer-mb", "1"])
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(script: "seq -f '%0190g' 1 \(lines)\nexec sleep 1000"))
        for index in 0..<agents {
            #expect(try daemon.spawn("flood\(index)", package: package).status == 200)
        }
        let allStored = try ProcessInspection.eventually(timeout: 90) {
            (0..<agents).allSatisfy { index in
                (try? Self.lastLine(daemon, "par-flood\(index)")) == Self.padded(lines)
            }
        }
        #expect(allStored, "every agent's last line is stored")

        for index in 0..<agents {
            let stored = try Self.messages(daemon, "par-flood\(index)")
            #expect(stored.count == lines, "par-flood\(index) stored \(stored.count) of \(lines)")
            #expect(stored == (1...lines).map(Self.padded), "par-flood\(index): each line once, in order")
        }
        let metrics = try daemon.client().get("/metrics").text
        let peak = try #require(Self.metric(metrics, "par_log_buffered_peak_bytes"))
        let limit = try #require(Self.metric(metrics, "par_log_buffer_limit_bytes"))
        let pauses = try #require(Self.metric(metrics, "par_log_reader_pauses_total"))
        #expect(limit == Double(1 << 20))
        // A reader hands over at most 256 KiB of text (plus 48 bytes per line counted for
        // its bookkeeping) before the mark is checked again.
        let slackPerAgent = Double(256 << 10) + Double((256 << 10) / 191 + 1) * 48 + Double(64 << 10)
        #expect(peak <= limit + Double(agents) * slackPerAgent, "peak \(peak) bytes held against a \(limit)-byte buffer")
        #expect(pauses > 0, "the floods outran the store, so their readers were paused")
        #expect(Self.metric(metrics, "par_log_store_lost_lines_total") == 0)
    }

    /// A live tail over SSE and one over WebSocket that never read: the agent prints
    /// 200,000 lines all the same, all are stored, the API answers meanwhile, and the tails
    /// are told what they missed when they read again.
    @Test func aStalledLiveTailNeverSlowsTheAgent() throws {
        let lines = 200_000
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let go = daemon.root.appendingPathComponent("go-flood")
        let script = "while [ ! -e \"$GO_FILE\" ]; do sleep 0.05; done\nseq -f '%0100g' 1 \(lines)\nexec sleep 1000"
        #expect(try daemon.spawn("flood", package: try daemon.install(.commandPackage(script: script)), ["env_vars": ["GO_FILE": go.path]]).status == 200)

        let sse = try RawConnection(port: daemon.port)
        try sse.send("GET /supervisor/logs/stream?process_id=par-flood HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\n\r\n")
        #expect(try sse.readHead().status == 200)
        let webSocket = try RawConnection(port: daemon.port)
        try webSocket.send(
            "GET /supervisor/logs/ws?process_id=par-flood HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(daemon.token)\r\n"
                + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        #expect(try webSocket.readHead().status == 101)
        #expect(try daemon.client().get("/supervisor/logs/stats").json["live_subscribers"] as? Int == 2)

        // Neither tail reads from here on.
        #expect(FileManager.default.createFile(atPath: go.path, contents: nil))
        let stored = try ProcessInspection.eventually(timeout: 60) {
            try Self.lastLine(daemon, "par-flood") == String(repeating: "0", count: 100 - "\(lines)".count) + "\(lines)"
        }
        #expect(stored, "the agent's last line is stored while both tails are stalled")
        #expect(try daemon.client().get("/supervisor/status").status == 200)

        // Read again: each tail shows a gap with how much it missed.
        for (name, connection) in [("SSE", sse), ("WebSocket", webSocket)] {
            var seen: [UInt8] = []
            var total = 0
            var toldOfGap = false
            let deadline = Date().addingTimeInterval(30)
            while !toldOfGap && Date() < deadline {
                let chunk = try connection.readSome()
                guard !chunk.isEmpty else { break }
                total += chunk.count
                seen = Array((seen.suffix(200) + chunk))
                toldOfGap = String(decoding: seen, as: UTF8.self).contains("\"missed\"")
            }
            #expect(toldOfGap, "the \(name) tail reports the lines it missed; read \(total) bytes, last: \(String(decoding: seen.suffix(300), as: UTF8.self))")
        }
    }

    static func padded(_ number: Int) -> String {
        String(repeating: "0", count: 190 - "\(number)".count) + "\(number)"
    }

    static func lastLine(_ daemon: DaemonHarness, _ processID: String) throws -> String? {
        let logs = try daemon.client().get("/supervisor/logs?process_id=\(processID)&order=desc&limit=1").json["logs"] as? [[String: Any]]
        return logs?.first?["message"] as? String
    }

    /// Every stored line of `processID`, oldest first, walking the cursor.
    static func messages(_ daemon: DaemonHarness, _ processID: String) throws -> [String] {
        var messages: [String] = []
        var cursor: String?
        repeat {
            let json = try daemon.client().get("/supervisor/logs?process_id=\(processID)&order=asc&limit=10000" + (cursor.map { "&cursor=\($0)" } ?? "")).json
            messages += (json["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
            cursor = json["next_cursor"] as? String
        } while cursor != nil
        return messages
    }

    static func metric(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}
