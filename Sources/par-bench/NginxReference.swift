import Foundation
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

/// W6's peer: nginx (the distribution's package) as a reverse proxy in front of the same
/// agent, with a keep-alive upstream as a tuned deployment would have it. Run from a
/// temporary prefix with its own config, in the foreground, so the bench owns the process.
final class NginxReference {
    let port: Int
    let workers: Int
    private let process: Process
    private let prefix: URL

    static var executable: String? {
        ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(executable: String, targetPort: Int, workers: Int) throws {
        self.workers = workers
        prefix = FileManager.default.temporaryDirectory.appendingPathComponent("par-bench-nginx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: prefix, withIntermediateDirectories: true)
        // Workers drop to `nobody`: the prefix must be theirs to enter.
        chmod(prefix.path, 0o777)
        port = try Self.freePort()
        let p = prefix.path
        let config = """
        worker_processes \(workers);
        error_log \(p)/error.log warn;
        pid \(p)/nginx.pid;
        events { worker_connections 4096; }
        http {
            access_log off;
            client_body_temp_path \(p)/body;
            proxy_temp_path \(p)/proxy;
            fastcgi_temp_path \(p)/fastcgi;
            uwsgi_temp_path \(p)/uwsgi;
            scgi_temp_path \(p)/scgi;
            upstream agent {
                server 127.0.0.1:\(targetPort);
                keepalive 256;
            }
            server {
                listen 127.0.0.1:\(port) reuseport;
                location / {
                    proxy_pass http://agent;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                }
            }
        }
        """
        try config.write(to: prefix.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-p", p, "-c", "\(p)/nginx.conf", "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        try Self.waitUntilListening(port: port, process: process, errorLog: "\(p)/error.log")
    }

    /// CPU seconds of the master and every worker, for CPU per request.
    func cpuSeconds() throws -> Double {
        let master = process.processIdentifier
        var total = try ProcStat.cpuSeconds(master)
        for pid in Self.children(of: master) {
            total += (try? ProcStat.cpuSeconds(pid)) ?? 0
        }
        return total
    }

    private static func children(of parent: Int32) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: prefix)
    }

    private static func freePort() throws -> Int {
        for _ in 0..<50 {
            let candidate = Int.random(in: 20_000...29_999)
            if ProcessInspection.portIsFree(candidate) { return candidate }
        }
        throw BenchError.failed("no free port for nginx")
    }

    private static func waitUntilListening(port: Int, process: Process, errorLog: String) throws {
        let deadline = Clock.now() + 5
        while Clock.now() < deadline {
            if ProcessInspection.isListening(port) { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
        process.terminate()
        throw BenchError.failed("nginx did not listen on \(port): \(log)")
    }
}
