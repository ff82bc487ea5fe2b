import Foundation
import PARClient
import PARTestKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// W3 (ingest), Q1 (queries over millions of stored lines), L3 (live tail latency).
extension Bench {
    /// An agent that prints `lines` lines of about 110 bytes in the seed's format as fast as
    /// it can and exits. `seq` writes them (C, 3 M lines/s here), so the agent is not the
    /// bottleneck being measured.
    static func printer(lines: Int) -> APKGBuilder {
        .commandPackage(name: "bench-printer", script: "exec seq -f '[2026-11-27T10:00:00.000Z] [INFO] request %.0f handled by worker alpha in 12 ms status ok path /v1/items user u17' 1 \(lines)")
    }

    /// Like `printer`, with 1 % ERROR lines and 977 different users, for queries.
    static func mixedPrinter(lines: Int) -> APKGBuilder {
        .commandPackage(name: "bench-mixed", script: """
            exec awk 'BEGIN { for (i = 1; i <= \(lines); i++) printf "[2026-11-27T10:00:00.000Z] [%s] request %d handled by worker alpha in 12 ms status ok user u%d\\n", (i % 100 == 0 ? "ERROR" : "INFO"), i, i % 977 }'
            """)
    }

    /// W3: one agent prints `w3Lines` lines and exits; time from the spawn request until the
    /// last of them is readable through `GET /supervisor/logs`; then every line is counted.
    /// Then ten agents at once, and the Q1 queries over what they stored.
    func logIngest(_ report: inout Report, selected: Set<String>) throws {
        let daemon = try DaemonHarness(agentPorts: 20)
        defer { daemon.stop() }
        let client = daemon.client(timeoutSeconds: 120)
        let pid = daemon.process.processIdentifier
        let peak = RSSWatcher(pid: pid)
        defer { peak.stop() }

        if selected.contains("W3") {
            let package = try daemon.install(Self.printer(lines: w3Lines))
            let start = Clock.now()
            let answer = try client.post("/supervisor/spawn", json: ["agent_id": "w3", "package_path": package, "restart_policy": "never"])
            guard answer.status == 200 else { throw BenchError.failed("spawn printer: \(answer.text)") }
            try Self.waitForLastLine(client, processID: "par-w3", number: w3Lines)
            let seconds = Clock.now() - start
            let ingestPeak = peak.peakMiB
            let stored = try Self.countLines(client, processID: "par-w3", expected: w3Lines)
            report.add("W3", "one agent: lines stored and readable per second", agents: 1, value: Double(w3Lines) / seconds, unit: "lines/s", bar: nil, floor: 1_000_000)
            report.add("W3", "one agent: lines lost of \(w3Lines)", agents: 1, value: Double(w3Lines - stored), unit: "lines", bar: 0)
            report.add("W3", "daemon peak RSS while one agent's lines are stored", agents: 1, value: ingestPeak, unit: "MiB", bar: 100)

            // The same agent again while an SSE and a WebSocket tail of it never read: slow
            // readers get a gap, never the agent's pace.
            let stalled = try ["/supervisor/logs/stream?process_id=par-w3s", "/supervisor/logs/ws?process_id=par-w3s"].map { path in
                try Self.openStalledTail(port: daemon.port, token: daemon.token, path: path)
            }
            defer { stalled.forEach { close($0) } }
            let stalledStart = Clock.now()
            let again = try client.post("/supervisor/spawn", json: ["agent_id": "w3s", "package_path": package, "restart_policy": "never"])
            guard again.status == 200 else { throw BenchError.failed("spawn printer: \(again.text)") }
            try Self.waitForLastLine(client, processID: "par-w3s", number: w3Lines)
            let stalledSeconds = Clock.now() - stalledStart
            report.add("W3", "one agent, an SSE and a WebSocket tail stalled: lines stored per second", agents: 1, value: Double(w3Lines) / stalledSeconds, unit: "lines/s", bar: nil)
            report.add("W3", "one agent: throughput with stalled tails / without", agents: 1, value: seconds / stalledSeconds, unit: "ratio", bar: nil, floor: 0.8)
        }

        let fleet = 10
        let package = try daemon.install(Self.mixedPrinter(lines: w3Lines))
        let start = Clock.now()
        for index in 0..<fleet {
            let answer = try client.post("/supervisor/spawn", json: ["agent_id": "mix-\(index)", "package_path": package, "restart_policy": "never"])
            guard answer.status == 200 else { throw BenchError.failed("spawn mixed printer: \(answer.text)") }
        }
        for index in 0..<fleet { try Self.waitForLastLine(client, processID: "par-mix-\(index)", number: w3Lines) }
        let seconds = Clock.now() - start
        let ingestPeak = peak.peakMiB
        var lost = 0
        if selected.contains("W3") {
            for index in 0..<fleet { lost += w3Lines - (try Self.countLines(client, processID: "par-mix-\(index)", expected: w3Lines)) }
            report.add("W3", "ten agents at once: lines stored per second, all agents", agents: fleet, value: Double(fleet * w3Lines) / seconds, unit: "lines/s", bar: nil)
            report.add("W3", "ten agents at once: lines lost of \(fleet * w3Lines)", agents: fleet, value: Double(lost), unit: "lines", bar: 0)
            report.add("W3", "daemon peak RSS while ten agents' lines are stored", agents: fleet, value: ingestPeak, unit: "MiB", bar: 100)
            report.add("W3", "daemon peak RSS after reading all back by cursor", agents: fleet, value: peak.peakMiB, unit: "MiB", bar: nil)
        }

        if selected.contains("Q1") {
            // The full-text index fills behind the writes; Q1 measures it caught up.
            let deadline = Clock.now() + 300
            var stats: [String: Any] = [:]
            while Clock.now() < deadline {
                stats = try client.get("/supervisor/logs/stats").json
                if (stats["blocks_awaiting_full_text"] as? Int ?? 1) == 0 { break }
                usleep(200_000)
            }
            let stored = stats["lines"] as? Int ?? 0
            report.add("Q1", "lines stored when querying", agents: fleet, value: Double(stored), unit: "lines", bar: nil)
            let level = try Self.latencies(client, paths: (0..<500).map { "/supervisor/logs?process_id=par-mix-\($0 % fleet)&level=ERROR&limit=100" })
            report.add("Q1", "process_id + level + limit=100 p99", agents: fleet, value: percentile(level, 99), unit: "ms", bar: 20)
            let rare = try Self.latencies(client, paths: (0..<200).map { "/supervisor/logs?q=\(100_000 + $0 * 4_001)&limit=100" })
            report.add("Q1", "q= a request id (rare term), all processes, p99", agents: fleet, value: percentile(rare, 99), unit: "ms", bar: 100)
            let common = try Self.latencies(client, paths: (0..<200).map { "/supervisor/logs?process_id=par-mix-\($0 % fleet)&q=u\($0 % 977)&limit=100" })
            report.add("Q1", "q= a user (1 line in 977) + process_id, p99", agents: fleet, value: percentile(common, 99), unit: "ms", bar: 100)
            let paging = try Self.latencies(client, paths: (0..<200).map { "/supervisor/logs?process_id=par-mix-\($0 % fleet)&order=asc&cursor=\($0 * 40_000)&limit=1000" })
            report.add("Q1", "a page of 1000 by cursor, p99", agents: fleet, value: percentile(paging, 99), unit: "ms", bar: nil)
            report.add("Q1", "database file size", agents: fleet, value: Double(stats["file_bytes"] as? Int ?? 0) / 1_048_576, unit: "MiB", bar: nil)
        }
    }

    /// L3: an agent prints its clock every 10 ms; the time until an SSE subscriber has the line.
    func liveTailLatency(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 10)
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(name: "bench-ticker", script: """
            exec python3 -u -c 'import time
            while True:
                print("%.6f tick" % time.time(), flush=True)
                time.sleep(0.01)'
            """))
        let answer = try daemon.client().post("/supervisor/spawn", json: ["agent_id": "ticker", "package_path": package])
        guard answer.status == 200 else { throw BenchError.failed("spawn ticker: \(answer.text)") }
        let stream = try EventStreamClient(port: daemon.port, path: "/supervisor/logs/stream?process_id=par-ticker", token: daemon.token)
        var delays: [Double] = []
        while delays.count < l3Samples {
            guard let event = try stream.next(timeout: 10) else { throw BenchError.failed("no live line within 10 s") }
            guard let message = event.json["message"] as? String, let printed = Double(message.split(separator: " ").first ?? "") else { continue }
            delays.append((Date().timeIntervalSince1970 - printed) * 1000)
        }
        report.add("L3", "agent print to SSE subscriber, p50", agents: 1, value: percentile(delays, 50), unit: "ms", bar: nil)
        report.add("L3", "agent print to SSE subscriber, p99", agents: 1, value: percentile(delays, 99), unit: "ms", bar: 50)
    }

    /// A live-tail connection that sends its request and then never reads.
    static func openStalledTail(port: Int, token: String, path: String) throws -> Int32 {
        let fd = try TCPSocket.connect(host: "127.0.0.1", port: port)
        var request = "GET \(path) HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer \(token)\r\n"
        if path.contains("/ws") {
            request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        }
        let bytes = Array((request + "\r\n").utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            close(fd)
            throw BenchError.failed("could not send the tail request for \(path)")
        }
        return fd
    }

    /// Polls the newest line of a process until it is line `number` of a printer.
    static func waitForLastLine(_ client: PARAPIClient, processID: String, number: Int) throws {
        let deadline = Clock.now() + 600
        let needle = "request \(number) "
        while Clock.now() < deadline {
            let newest = try client.get("/supervisor/logs?process_id=\(processID)&limit=1").json["logs"] as? [[String: Any]] ?? []
            if (newest.first?["message"] as? String)?.contains(needle) == true { return }
            usleep(10_000)
        }
        throw BenchError.failed("\(processID): line \(number) not readable after 600 s")
    }

    /// Walks every line of a process by cursor; returns how many of `request 1...expected`
    /// came back, each once and in order.
    static func countLines(_ client: PARAPIClient, processID: String, expected: Int) throws -> Int {
        var cursor: String?
        var next = 1
        var found = 0
        repeat {
            let page = try client.get("/supervisor/logs?process_id=\(processID)&stream=stdout&order=asc&limit=10000" + (cursor.map { "&cursor=\($0)" } ?? "")).json
            for entry in page["logs"] as? [[String: Any]] ?? [] {
                let words = (entry["message"] as? String ?? "").split(separator: " ")
                guard words.count > 1, words[0] == "request", let number = Int(words[1]), number >= next else { continue }
                found += 1
                next = number + 1
            }
            cursor = page["next_cursor"] as? String
        } while cursor != nil
        return min(found, expected)
    }

    /// Milliseconds per GET, one after another on one keep-alive connection, after up to
    /// 50 warm-up requests.
    static func latencies(_ client: PARAPIClient, paths: [String]) throws -> [Double] {
        for path in paths.prefix(50) { _ = try client.get(path) }
        return try paths.map { path in
            let t0 = Clock.now()
            let answer = try client.get(path)
            guard answer.status == 200 else { throw BenchError.failed("\(path): \(answer.status) \(answer.text)") }
            return (Clock.now() - t0) * 1000
        }
    }
}

/// Samples a process's RSS every 20 ms on its own thread and keeps the peak.
final class RSSWatcher: Sendable {
    private let peak = Mutex(0.0)
    private let done = Atomic<Bool>(false)

    init(pid: Int32) {
        let thread = Thread { [self] in
            while !self.done.load(ordering: .relaxed) {
                if let rss = try? ProcStat.rssKiB(pid) { self.peak.withLock { $0 = max($0, Double(rss) / 1024) } }
                usleep(20_000)
            }
        }
        thread.start()
    }

    var peakMiB: Double { peak.withLock { $0 } }
    func stop() { done.store(true, ordering: .relaxed) }
}
