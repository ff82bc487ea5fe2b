import Foundation
import PARClient
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

/// W7's peer, with `--w7-peers`: supervisord (installed from PyPI into `.build/bench-peers`
/// once) running the same 50 crashing programs, restarted at once (`autorestart`,
/// `startsecs=0`), in the same run. Its CPU per restart, and the p99 of its status call
/// (`getAllProcessInfo` over XML-RPC on a loopback port) while the storm lasts.
extension Bench {
    func supervisordStorm(_ report: inout Report) throws {
        let venv = URL(fileURLWithPath: ".build/bench-peers").standardizedFileURL
        let supervisord = venv.appendingPathComponent("bin/supervisord").path
        if !FileManager.default.isExecutableFile(atPath: supervisord) {
            try Self.runToEnd([TinyAgent.resolvedPython(), "-m", "venv", venv.path])
            try Self.runToEnd([venv.appendingPathComponent("bin/pip").path, "install", "-q", "--disable-pip-version-check", "supervisor"])
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("par-bench-supervisord-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let port = try Self.unusedLoopbackPort()
        let log = scratch.appendingPathComponent("supervisord.log")
        try """
        [supervisord]
        nodaemon=true
        logfile=\(log.path)
        loglevel=info
        pidfile=\(scratch.path)/supervisord.pid
        childlogdir=\(scratch.path)

        [inet_http_server]
        port=127.0.0.1:\(port)

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [program:storm]
        command=/bin/sh -c "sleep 0.05; exit 1"
        process_name=%(program_name)s_%(process_num)02d
        numprocs=50
        autorestart=true
        startsecs=0
        startretries=1000000
        """.write(to: scratch.appendingPathComponent("supervisord.conf"), atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: supervisord)
        process.arguments = ["-c", scratch.appendingPathComponent("supervisord.conf").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let pid = process.processIdentifier
        func spawned() -> Int {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").components(separatedBy: "spawned: ").count - 1
        }
        Thread.sleep(forTimeInterval: 2)
        let before = spawned()
        let cpuBefore = try ProcStat.cpuSeconds(pid)
        let start = Clock.now()
        Thread.sleep(forTimeInterval: w7Seconds / 2)
        let elapsed = Clock.now() - start
        let cpu = try ProcStat.cpuSeconds(pid) - cpuBefore
        let restarts = spawned() - before
        // Status while it goes on: one XML-RPC call on a keep-alive connection, as a dashboard would.
        let call = Array("<?xml version=\"1.0\"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>".utf8)
        let connection = HTTPConnection(port: port, timeoutSeconds: 30)
        var status: [Double] = []
        let second = Clock.now()
        while Clock.now() - second < w7Seconds / 2 {
            let t0 = Clock.now()
            let answer = try connection.request("POST", "/RPC2", headers: ["Content-Type": "text/xml"], body: call)
            guard answer.status == 200 else { throw BenchError.failed("supervisord status: \(answer.status)") }
            status.append((Clock.now() - t0) * 1000)
        }
        report.add("W7", "supervisord (same run): restarts per second", agents: 50, value: Double(restarts) / elapsed, unit: "/s", bar: nil)
        report.add("W7", "supervisord: CPU per restart", agents: 50, value: restarts > 0 ? cpu * 1000 / Double(restarts) : .nan, unit: "ms", bar: nil)
        report.add("W7", "supervisord: status (getAllProcessInfo) p99", agents: 50, value: percentile(status, 99), unit: "ms", bar: nil)
    }
}
