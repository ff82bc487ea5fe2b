import Foundation
import PARClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A closed-loop HTTP load: one thread per keep-alive connection, each sending GETs back
/// to back for a fixed time (what `wrk -c N` does), recording every latency.
enum LoadGenerator {
    struct Result {
        var requestsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var errors: Int
        /// Of `errors`: answers other than 200, and requests that failed on the socket.
        var badStatus = 0
        var socketErrors = 0
    }

    /// The load from a process in a session of its own (`setsid`): where the kernel groups
    /// processes by session, the load then weighs as one more client, not as part of the
    /// bench process, whose session the daemon under test shares (and boosts).
    static func runInOwnSession(port: Int, path: String, connections: Int, seconds: Double) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["--wait", CommandLine.arguments[0], "--load-only", "\(port),\(path),\(connections),\(seconds)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try? JSONSerialization.jsonObject(with: output) as? [String: Double], let rate = json["requests_per_second"] else {
            throw BenchError.failed("the load generator's process printed no result: \(String(decoding: output, as: UTF8.self))")
        }
        return Result(
            requestsPerSecond: rate, p50Milliseconds: json["p50_ms"] ?? .nan, p99Milliseconds: json["p99_ms"] ?? .nan,
            errors: Int(json["errors"] ?? 0), badStatus: Int(json["bad_status"] ?? 0), socketErrors: Int(json["socket_errors"] ?? 0)
        )
    }

    /// `--load-only PORT,PATH,CONNECTIONS,SECONDS`: the other side of `runInOwnSession`.
    static func runAlone(_ text: String) throws {
        let parts = text.split(separator: ",").map(String.init)
        guard parts.count == 4, let port = Int(parts[0]), let connections = Int(parts[2]), let seconds = Double(parts[3]) else {
            throw BenchError.failed("--load-only takes PORT,PATH,CONNECTIONS,SECONDS, got \(text)")
        }
        let result = try run(port: port, path: parts[1], connections: connections, seconds: seconds)
        let json: [String: Double] = [
            "requests_per_second": result.requestsPerSecond, "p50_ms": result.p50Milliseconds, "p99_ms": result.p99Milliseconds,
            "errors": Double(result.errors), "bad_status": Double(result.badStatus), "socket_errors": Double(result.socketErrors),
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self))
    }

    static func run(port: Int, path: String, connections: Int, seconds: Double) throws -> Result {
        let latencies = Mutex<[Double]>([])
        let errors = Atomic<Int>(0)
        let badStatus = Atomic<Int>(0)
        let finished = DispatchGroup()
        let deadline = Clock.now() + seconds
        let start = Clock.now()
        for _ in 0..<connections {
            finished.enter()
            let thread = Thread {
                defer { finished.leave() }
                let connection = HTTPConnection(port: port, timeoutSeconds: 10)
                var local: [Double] = []
                local.reserveCapacity(100_000)
                while Clock.now() < deadline {
                    let t0 = Clock.now()
                    do {
                        let answer = try connection.request("GET", path)
                        if answer.status == 200 {
                            local.append((Clock.now() - t0) * 1000)
                        } else {
                            errors.add(1, ordering: .relaxed)
                            badStatus.add(1, ordering: .relaxed)
                        }
                    } catch {
                        errors.add(1, ordering: .relaxed)
                        usleep(1_000)
                    }
                }
                latencies.withLock { $0 += local }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        finished.wait()
        let elapsed = Clock.now() - start
        let all = latencies.withLock { $0 }
        return Result(
            requestsPerSecond: Double(all.count) / elapsed,
            p50Milliseconds: percentile(all, 50), p99Milliseconds: percentile(all, 99),
            errors: errors.load(ordering: .relaxed), badStatus: badStatus.load(ordering: .relaxed),
            socketErrors: errors.load(ordering: .relaxed) - badStatus.load(ordering: .relaxed)
        )
    }
}

/// Raw-socket streaming for P2: counts bytes without keeping them.
enum StreamingClient {
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard result == 0 else { throw BenchError.failed("connect to \(port): \(String(cString: strerror(errno)))") }
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            guard sent > 0 else { throw BenchError.failed("send: \(String(cString: strerror(errno)))") }
            offset += sent
        }
    }

    /// Returns the body bytes received (reads until the connection closes).
    static func download(port: Int, path: String) throws -> Int {
        let fd = try connect(port: port)
        defer { close(fd) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".utf8)
        try request.withUnsafeBytes { try sendAll(fd, $0) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total = 0
        var headerEnd: Int?
        var head: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            if headerEnd == nil {
                head += buffer[0..<count]
                if let range = findHeaderEnd(head) {
                    headerEnd = range
                    total += head.count - range
                    head = []
                }
            } else {
                total += count
            }
        }
        return total
    }

    /// Sends `bytes` as the body of a POST and returns the length the agent reports.
    static func upload(port: Int, path: String, bytes: Int) throws -> Int {
        let fd = try connect(port: port)
        defer { close(fd) }
        let head = Array("POST \(path) HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: \(bytes)\r\nConnection: close\r\n\r\n".utf8)
        try head.withUnsafeBytes { try sendAll(fd, $0) }
        let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
        var sent = 0
        while sent < bytes {
            let size = min(chunk.count, bytes - sent)
            try chunk.withUnsafeBytes { try sendAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<size])) }
            sent += size
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            answer += buffer[0..<count]
        }
        guard let end = findHeaderEnd(answer),
              let json = try? JSONSerialization.jsonObject(with: Data(answer[end...])) as? [String: Any],
              let length = json["body_length"] as? Int
        else { throw BenchError.failed("upload answer: \(String(decoding: answer.prefix(300), as: UTF8.self))") }
        return length
    }

    static func findHeaderEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index + 4
        }
        return nil
    }
}

/// `wrk -t2 -cN -dS --latency`, where installed: the load generator the bars were set with.
enum Wrk {
    static var isInstalled: Bool {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/wrk")
        }
    }

    static func run(port: Int, path: String, connections: Int, seconds: Double) throws -> LoadGenerator.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["wrk", "-t2", "-c\(connections)", "-d\(Int(seconds.rounded()))s", "--latency", "http://127.0.0.1:\(port)\(path)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        func number(after label: String) -> Double? {
            guard let line = output.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }) else { return nil }
            let text = line.trimmingCharacters(in: .whitespaces).dropFirst(label.count).trimmingCharacters(in: .whitespaces)
            let token = String(text.split(separator: " ").first ?? "")
            for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where token.hasSuffix(suffix) {
                return Double(token.dropLast(suffix.count)).map { $0 * scale }
            }
            return Double(token)
        }
        guard let rate = number(after: "Requests/sec:") else { throw BenchError.failed("wrk said: \(output)") }
        var errors = 0
        if let line = output.split(separator: "\n").first(where: { $0.contains("Non-2xx") || $0.contains("Socket errors") }) {
            errors = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.reduce(0, +)
        }
        return LoadGenerator.Result(requestsPerSecond: rate, p50Milliseconds: number(after: "50%") ?? .nan, p99Milliseconds: number(after: "99%") ?? .nan, errors: errors)
    }
}
