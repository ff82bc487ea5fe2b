import Foundation
import PARClient
import PARTestKit

#if canImport(Glibc)
import Glibc
#endif

extension Bench {
    /// SL: `sl-connections` clients each sending one head line every 5 s (a slow-loris
    /// attack) against the public port, while a normal client uses the proxy. Reported: how
    /// long the slowest of them stayed open against the head timeout, and the normal
    /// client's p99 beside its value with no attack, measured in the same run.
    func slowloris(_ report: inout Report) throws {
        let headTimeout = slHeadTimeout
        let daemon = try DaemonHarness(agentPorts: 10, extraArguments: ["--request-head-timeout", String(headTimeout)])
        defer { daemon.stop() }
        let answer = try daemon.client().post("/supervisor/spawn", json: ["agent_id": "fast", "package_path": try daemon.install(FastAgent.package())])
        guard answer.status == 200 else { throw BenchError.failed("spawn fast agent: \(answer.text)") }
        try Self.waitUntilRunning(daemon.client(), count: 1)
        let loadSeconds = headTimeout + 2
        let quiet = try LoadGenerator.run(port: daemon.port, path: "/agents/fast/", connections: 2, seconds: loadSeconds)

        let attack = SlowClients(port: daemon.port, count: slConnections, lineInterval: 5)
        let attackDone = DispatchSemaphore(value: 0)
        let attackThread = Thread {
            attack.run(until: Clock.now() + headTimeout + 15)
            attackDone.signal()
        }
        attackThread.start()
        usleep(200_000)
        let loaded = try LoadGenerator.run(port: daemon.port, path: "/agents/fast/", connections: 2, seconds: loadSeconds)
        attackDone.wait()

        let lifetimes = attack.lifetimes.compactMap { $0 }.sorted()
        let stillOpen = attack.lifetimes.count - lifetimes.count
        report.add("SL", "slow clients opened (one head line per 5 s each)", agents: 1, value: Double(attack.opened), unit: "connections", bar: nil, floor: Double(slConnections))
        report.add("SL", "slow clients still open at head timeout + 15 s", agents: 1, value: Double(stillOpen), unit: "connections", bar: 0)
        report.add("SL", "slow clients answered 408 before the close", agents: 1, value: Double(attack.answered408), unit: "connections", bar: nil)
        report.add("SL", "slowest close after the first byte, over the head timeout (\(headTimeout) s)", agents: 1, value: (lifetimes.last ?? .infinity) - headTimeout, unit: "s", bar: 1)
        report.add("SL", "normal client's proxy p99 without the attack", agents: 1, value: quiet.p99Milliseconds, unit: "ms", bar: nil)
        report.add("SL", "normal client's proxy p99 during the attack", agents: 1, value: loaded.p99Milliseconds, unit: "ms", bar: nil)
        report.add("SL", "p99 added by the attack", agents: 1, value: loaded.p99Milliseconds - quiet.p99Milliseconds, unit: "ms", bar: 2)
        report.add("SL", "normal client's errors (both runs)", agents: 1, value: Double(quiet.errors + loaded.errors), unit: "requests", bar: 0)
    }
}

/// Slow-loris clients on one thread: each sends a request line, then one header line per
/// `lineInterval`, and never ends its head. Records when the server closed each.
final class SlowClients: @unchecked Sendable {
    private let port: Int
    private let count: Int
    private let lineInterval: Double
    /// Seconds from a connection's first byte to its close; nil while open.
    private(set) var lifetimes: [Double?] = []
    private(set) var opened = 0
    private(set) var answered408 = 0

    init(port: Int, count: Int, lineInterval: Double) {
        self.port = port
        self.count = count
        self.lineInterval = lineInterval
    }

    func run(until deadline: Double) {
        var fds: [Int32] = []
        var openedAt: [Double] = []
        var sawAnswer: [Bool] = []
        for _ in 0..<count {
            guard let fd = try? TCPSocket.connect(host: "127.0.0.1", port: port) else { continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            fds.append(fd)
            openedAt.append(Clock.now())
            sawAnswer.append(false)
            send(fd, "GET /agents/fast/ HTTP/1.1\r\nHost: bench\r\n")
        }
        opened = fds.count
        lifetimes = Array(repeating: nil, count: fds.count)
        var nextLine = Clock.now() + lineInterval
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Clock.now() < deadline, lifetimes.contains(where: { $0 == nil }) {
            var polls = fds.indices.filter { lifetimes[$0] == nil }.map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            let indices = fds.indices.filter { lifetimes[$0] == nil }
            _ = poll(&polls, nfds_t(polls.count), 100)
            let now = Clock.now()
            for (slot, entry) in polls.enumerated() where entry.revents != 0 {
                let index = indices[slot]
                while true {
                    let read = buffer.withUnsafeMutableBytes { recv(entry.fd, $0.baseAddress, $0.count, 0) }
                    if read > 0 {
                        if !sawAnswer[index], String(decoding: buffer[0..<min(read, 12)], as: UTF8.self).hasPrefix("HTTP/1.1 408") {
                            sawAnswer[index] = true
                            answered408 += 1
                        }
                        continue
                    }
                    if read < 0, errno == EAGAIN { break }
                    lifetimes[index] = now - openedAt[index]
                    close(entry.fd)
                    break
                }
            }
            if now >= nextLine {
                nextLine = now + lineInterval
                for index in fds.indices where lifetimes[index] == nil {
                    send(fds[index], "X-Slow: \(index)\r\n")
                }
            }
        }
        for index in fds.indices where lifetimes[index] == nil { close(fds[index]) }
    }

    private func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
}
