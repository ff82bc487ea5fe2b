import Foundation
import PARCore
import PARSupervisor
import Testing

@testable import PARServer

#if canImport(Glibc)
import Glibc
#endif

@Suite("Health probe answers: status and completeness")
struct HTTPAnswerScanTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func statusComesFromTheStatusLine() {
        #expect(HTTPAnswerScan.status(bytes("HTTP/1.1 200 OK\r\n")) == 200)
        #expect(HTTPAnswerScan.status(bytes("HTTP/1.0 503 Busy\r\n")) == 503)
        #expect(HTTPAnswerScan.status(bytes("HTTP/1.1 20")) == nil, "not complete yet")
        #expect(HTTPAnswerScan.status(bytes("SSH-2.0-OpenSSH_9.2\r\n")) == nil)
        #expect(HTTPAnswerScan.status(bytes("HTTP/1.1 2x0 OK\r\n")) == nil)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok", false),
        ("HTTP/1.1 200 OK\r\ncontent-length:0\r\n\r\n", true),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n", false),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true),
        ("HTTP/1.1 204 No Content\r\n\r\n", true),
        ("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close", false),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false),
        ("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        ("HTTP/1.1 100 Continue\r\n\r\n", false),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok", false),
        ("SSH-2.0-OpenSSH\r\n\r\n", true),
    ])
    func completeness(_ text: String, complete: Bool) {
        #expect(HTTPAnswerScan.isComplete(bytes(text)) == complete)
    }

    @Test func interimAnswersAreSkippedAndTheFinalStatusDecides() {
        var reader = AnswerReader()
        let whole = bytes("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy")
        var completedAt: Int?
        for (offset, byte) in whole.enumerated() where completedAt == nil {
            if reader.append([byte][...]) { completedAt = offset + 1 }
        }
        #expect(completedAt == whole.count, "fed a byte at a time, it completes on the last byte")
        #expect(reader.status == 503)
    }

    @Test func notHTTPIsNoStatus() {
        var reader = AnswerReader()
        let complete = reader.append(bytes("SSH-2.0-OpenSSH_9.2\r\n\r\n")[...])
        #expect(complete)
        #expect(reader.status == nil)
    }
}

/// The prober against real loopback sockets served by threads of this test.
@Suite("Loopback prober against real sockets")
struct LoopbackProberTests {
    /// A listening socket on 127.0.0.1 with an ephemeral port; `answer` (if any) is written
    /// to each accepted connection after the request head arrives, which is then held open.
    final class TinyServer: @unchecked Sendable {
        let fd: Int32
        let port: Int
        private var thread: Thread?

        init(answer: String?, accept: Bool = true, closeAfterAnswer: Bool = false) throws {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, listen(descriptor, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
            fd = descriptor
            port = Int(UInt16(bigEndian: address.sin_port))
            guard accept else { return }
            let listener = fd
            let thread = Thread {
                while true {
                    let client = Glibc.accept(listener, nil, nil)
                    if client < 0 { return }
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    _ = recv(client, &buffer, buffer.count, 0)
                    if let answer { _ = answer.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
                    // Otherwise held open: the prober must not need the agent to close.
                    if closeAfterAnswer { close(client) }
                }
            }
            thread.start()
            self.thread = thread
        }

        func stop() {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    func probe(_ requests: [ProbeRequest]) async -> [Int: (ProbeResult, Double)] {
        var results: [Int: (ProbeResult, Double)] = [:]
        let start = Date()
        for await answers in LoopbackProber().probe(requests) {
            for (index, result) in answers { results[index] = (result, Date().timeIntervalSince(start)) }
        }
        return results
    }

    @Test func healthySlowAndRefusedAgentsInOneBatch() async throws {
        let healthy = try TinyServer(answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let failing = try TinyServer(answer: "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
        let silent = try TinyServer(answer: nil)
        let refusedPort = try TinyServer(answer: nil, accept: false)
        let closedPort = refusedPort.port
        refusedPort.stop()
        defer { [healthy, failing, silent].forEach { $0.stop() } }

        let results = await probe([
            ProbeRequest(port: healthy.port, kind: .http(path: "/health"), timeoutSeconds: 2),
            ProbeRequest(port: failing.port, kind: .http(path: "/health"), timeoutSeconds: 2),
            ProbeRequest(port: silent.port, kind: .http(path: "/health"), timeoutSeconds: 0.5),
            ProbeRequest(port: closedPort, kind: .http(path: "/health"), timeoutSeconds: 2),
            ProbeRequest(port: silent.port, kind: .tcp, timeoutSeconds: 2),
            ProbeRequest(port: closedPort, kind: .tcp, timeoutSeconds: 2),
            ProbeRequest(port: 1, kind: .none, timeoutSeconds: 2),
        ])
        #expect(results.count == 7)
        #expect(results[0]?.0.healthy == true)
        #expect(results[0]!.1 < results[2]!.1, "a whole answer is enough: no wait for the agent to close or for the slow probe")
        #expect(results[1]?.0.healthy == false)
        #expect(results[1]?.0.error == "GET /health answered 503")
        #expect(results[2]?.0.healthy == false)
        #expect(results[2]?.0.error?.contains("no complete answer within 0.5 s") == true)
        #expect(results[2]!.1 >= 0.45, "it waited for its timeout")
        #expect(results[3]?.0.healthy == false)
        #expect(results[3]?.0.error?.contains("connection refused") == true)
        #expect(results[4]?.0.healthy == true, "TCP: a connection is enough")
        #expect(results[5]?.0.error?.hasPrefix("TCP connect: connection refused") == true)
        #expect(results[6]?.0.healthy == true)
    }

    @Test func everyProbeSocketIsClosed() async throws {
        let healthy = try TinyServer(answer: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", closeAfterAnswer: true)
        defer { healthy.stop() }
        for _ in 0..<20 {
            let results = await probe((0..<10).map { _ in ProbeRequest(port: healthy.port, kind: .http(path: "/"), timeoutSeconds: 1) })
            #expect(results.values.allSatisfy { $0.0.healthy })
        }
        // A socket the prober forgot would sit in CLOSE_WAIT (the server closed its end).
        let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
        let portHex = String(format: ":%04X", healthy.port)
        let leftOpen = table.split(separator: "\n").dropFirst().filter { line in
            let columns = line.split(separator: " ")
            return columns.count > 3 && columns[2].hasSuffix(portHex) && (columns[3] == "08" || columns[3] == "01")
        }
        #expect(leftOpen.isEmpty, "\(leftOpen)")
    }
}
