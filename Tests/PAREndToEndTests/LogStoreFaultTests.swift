import Foundation
import PARClient
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The log store on a full disk: no line is dropped (agents wait), health says so, the API
/// and SIGTERM keep answering, and the store writes again by itself when space returns.
@Suite("Log store faults", .serialized, .enabled(if: getuid() == 0, "mounting a small tmpfs for the log database needs root"))
struct LogStoreFaultTests {
    static let lines = 3000

    /// A daemon whose log folder is a small tmpfs, and a filler file that leaves it almost no room.
    private struct FullDisk {
        let root: URL
        let logs: URL
        let daemon: DaemonHarness
        var filler: String { logs.appendingPathComponent("filler").path }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("par-test-\(UUID().uuidString)")
            logs = root.appendingPathComponent("data/logs")
            try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
            guard mountTmpfs(at: logs.path, kilobytes: 16 * 1024) else {
                try? FileManager.default.removeItem(at: root)
                throw DaemonHarness.HarnessError.didNotStart("cannot mount a tmpfs at \(logs.path)")
            }
            daemon = try DaemonHarness(root: root)
        }

        func fill() {
            runCommand("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k"])
        }

        func free() throws {
            try FileManager.default.removeItem(atPath: filler)
        }

        func tearDown() {
            daemon.keepFiles = true
            daemon.stop()
            runCommand("/bin/umount", ["-l", logs.path])
            try? FileManager.default.removeItem(at: root)
        }
    }

    /// Prints `lines` numbered lines of about 1 KB, then says so and sleeps.
    private func flood(_ daemon: DaemonHarness) throws {
        let script = """
        pad=$(printf '%01000d' 0)
        i=0
        while [ $i -lt \(Self.lines) ]; do i=$((i+1)); echo "line $i $pad"; done
        echo "all printed"
        exec sleep 1000
        """
        let answer = try daemon.spawn("flood", package: try daemon.install(.commandPackage(script: script)))
        #expect(answer.status == 200, "\(answer.text)")
    }

    private func storeStatus(_ daemon: DaemonHarness) throws -> String? {
        (try daemon.client().get("/supervisor/health").json["log_store"] as? [String: Any])?["status"] as? String
    }

    /// Seconds one request takes.
    private func timed(_ request: () throws -> HTTPAnswer) rethrows -> (HTTPAnswer, Double) {
        let start = Date()
        let answer = try request()
        return (answer, Date().timeIntervalSince(start))
    }

    @Test func aFullDiskLosesNoLineAndTheStoreRecoversByItself() throws {
        let disk = try FullDisk()
        defer { disk.tearDown() }
        let daemon = disk.daemon
        disk.fill()
        try flood(daemon)
        let degraded = ProcessInspection.eventually(timeout: 15) { (try? storeStatus(daemon)) == "degraded" }
        #expect(degraded, "health says the log store cannot write")
        let health = try daemon.client().get("/supervisor/health").json
        #expect(health["status"] as? String == "degraded")

        // The control plane answers while the store cannot write.
        let (status, statusSeconds) = try timed { try daemon.client().get("/supervisor/status") }
        #expect(status.status == 200 && statusSeconds < 1, "status took \(statusSeconds) s")
        let (cleared, clearSeconds) = try timed { try daemon.client().delete("/supervisor/logs?process_id=par-nobody") }
        #expect([200, 503].contains(cleared.status) && clearSeconds < 2, "DELETE answered \(cleared.status) in \(clearSeconds) s: \(cleared.text)")
        let (query, querySeconds) = try timed { try daemon.client().get("/supervisor/logs?process_id=par-flood&limit=10") }
        #expect(query.status == 200 && querySeconds < 1, "a query answers with what is stored, in \(querySeconds) s")
        let metrics = try daemon.client().get("/metrics").text
        #expect(metrics.contains("par_log_store_write_failing 1"), "\(metrics.split(separator: "\n").filter { $0.contains("log_store") })")

        // Space returns: the store writes again by itself, and every line is there.
        try disk.free()
        let back = ProcessInspection.eventually(timeout: 5) { (try? storeStatus(daemon)) == "ok" }
        #expect(back, "the store writes again within seconds of space returning")
        var stored: [String] = []
        let complete = ProcessInspection.eventually(timeout: 30) {
            let page = (try? daemon.client().get("/supervisor/logs?process_id=par-flood&limit=10000&order=asc").json["logs"] as? [[String: Any]]) ?? []
            stored = page.compactMap { $0["message"] as? String }
            return stored.contains("all printed")
        }
        #expect(complete, "the agent went on once the store could write (\(stored.count) lines stored)")
        let numbers = stored.compactMap { $0.split(separator: " ").dropFirst().first.flatMap { Int($0) } }
        #expect(numbers == Array(1...Self.lines), "every line, once, in order: \(numbers.count) of \(Self.lines)")

        // The database is whole.
        #expect(daemon.terminate() == 0)
        let check = try runPython("import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", disk.logs.appendingPathComponent("logs.sqlite").path)
        #expect(check == "ok", "integrity_check: \(check)")
    }

    @Test func sigtermEndsTheDaemonWhileTheDiskIsFull() throws {
        let disk = try FullDisk()
        defer { disk.tearDown() }
        let daemon = disk.daemon
        disk.fill()
        try flood(daemon)
        #expect(ProcessInspection.eventually(timeout: 15) { (try? storeStatus(daemon)) == "degraded" })
        let start = Date()
        let exit = daemon.terminate(timeoutSeconds: 20)
        #expect(exit == 0, "the daemon ended by itself")
        #expect(Date().timeIntervalSince(start) < 10, "SIGTERM took \(Date().timeIntervalSince(start)) s")
        #expect(daemon.log.contains("were never stored"), "the lines that could not be written are counted: \(daemon.log.suffix(600))")
    }
}

/// Runs a line of Python with the machine's interpreter and returns what it printed.
func runPython(_ code: String, _ arguments: String...) throws -> String {
    try runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", code] + arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
}
