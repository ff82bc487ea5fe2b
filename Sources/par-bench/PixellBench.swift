import Foundation
import PARClient
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

/// PX: the pixell-kit demo (REST, UI, A2A; fastapi, uvicorn and watchdog as dependencies)
/// spawned cold (its environment installed) and warm (environment reused), each against a
/// reference measured in the same round: the bare `python -m venv` plus `pip install` of
/// the same requirements from the same wheelhouse, and a bare uvicorn app in the same
/// environment started until it answers.
extension Bench {
    func pixellStarts(_ report: inout Report) throws {
        let wheelhouse = try PythonFixtures.wheelhouse()
        let demo = try PythonFixtures.pixellDemo()
        let python = TinyAgent.resolvedPython()
        var cold: [Double] = [], warm: [Double] = [], bareInstall: [Double] = [], bareStart: [Double] = []
        for _ in 0..<max(1, pxRounds) {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("par-bench-px-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let venv = scratch.appendingPathComponent("venv").path
            let installStart = Clock.now()
            try Self.runToEnd([python, "-m", "venv", venv])
            try Self.runToEnd(["\(venv)/bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index", "--find-links", wheelhouse.path] + PythonFixtures.demoRequirements)
            bareInstall.append(Clock.now() - installStart)
            bareStart.append(try Self.secondsUntilBareUvicornAnswers(python: "\(venv)/bin/python", scratch: scratch))

            let daemon = try DaemonHarness(agentPorts: 10, extraArguments: ["--wheelhouse", wheelhouse.path])
            defer { daemon.stop() }
            let package = daemon.packageDirectory.appendingPathComponent("demo-0.1.0.apkg").path
            try FileManager.default.copyItem(atPath: demo.path, toPath: package)
            let client = daemon.client()
            for (agent, into) in [("demo", 0), ("demo2", 1)] {
                let start = Clock.now()
                let answer = try client.post("/supervisor/spawn", json: ["agent_id": agent, "package_path": package])
                guard answer.status == 200 else { throw BenchError.failed("spawn \(agent): \(answer.text)") }
                while true {
                    let state = try client.get("/supervisor/processes/par-\(agent)").json["state"] as? String
                    if state == "running" { break }
                    if state == "failed" || Clock.now() - start > 300 { throw BenchError.failed("\(agent) ended \(state ?? "?")") }
                    usleep(10_000)
                }
                let seconds = Clock.now() - start
                if into == 0 { cold.append(seconds) } else { warm.append(seconds) }
            }
        }
        func range(_ values: [Double]) -> String { String(format: "%.2f-%.2f", values.min() ?? .nan, values.max() ?? .nan) }
        let coldRatios = zip(cold, bareInstall).map { $0 / $1 }
        let warmRatios = zip(warm, bareStart).map { $0 / $1 }
        report.add("PX", "pixell demo cold start to running, install included (range \(range(cold)) s)", agents: 1, value: percentile(cold, 50), unit: "s", bar: nil)
        report.add("PX", "reference: bare venv + pip install of the same requirements, same wheelhouse (range \(range(bareInstall)) s)", agents: 1, value: percentile(bareInstall, 50), unit: "s", bar: nil)
        report.add("PX", "cold start / bare install (range \(range(coldRatios)))", agents: 1, value: percentile(coldRatios, 50), unit: "x", bar: nil)
        report.add("PX", "pixell demo warm start to running, environment reused (range \(range(warm)) s)", agents: 1, value: percentile(warm, 50), unit: "s", bar: 1.5)
        report.add("PX", "reference: bare uvicorn app in the same environment until it answers (range \(range(bareStart)) s)", agents: 1, value: percentile(bareStart, 50), unit: "s", bar: nil)
        report.add("PX", "warm start / bare uvicorn start (range \(range(warmRatios)))", agents: 1, value: percentile(warmRatios, 50), unit: "x", bar: nil)
    }

    static func runToEnd(_ argv: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BenchError.failed("\(argv.joined(separator: " ")) exited \(process.terminationStatus)") }
    }

    /// A port the kernel just handed out and took back: free for the next moment.
    static func unusedLoopbackPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw BenchError.failed("cannot bind a loopback port") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A FastAPI app with one route under uvicorn, from process start to its first answer.
    static func secondsUntilBareUvicornAnswers(python: String, scratch: URL) throws -> Double {
        let port = try Self.unusedLoopbackPort()
        let script = scratch.appendingPathComponent("bare_app.py")
        try """
        from fastapi import FastAPI
        import uvicorn
        app = FastAPI()
        @app.get("/health")
        async def health():
            return {"ok": True}
        uvicorn.run(app, host="127.0.0.1", port=\(port), log_level="warning")
        """.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = Clock.now()
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let client = PARAPIClient(port: port, token: nil, timeoutSeconds: 2)
        while Clock.now() - start < 30 {
            if (try? client.get("/health"))?.status == 200 { return Clock.now() - start }
            usleep(10_000)
        }
        throw BenchError.failed("the bare uvicorn app never answered")
    }
}
