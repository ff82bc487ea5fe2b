import Foundation
import PARCore
import PARSupervisor

#if canImport(Glibc)
import Glibc
#endif

/// Health probes over loopback, a batch at a time, on raw non-blocking sockets and one
/// `poll` loop on a thread of the batch's own (a shared pool's few threads could be held
/// by one agent that never answers, delaying every other agent's probes).
///
/// Written by hand rather than through AsyncHTTPClient: a probe through the client (a
/// request object, a pooled channel, event-loop hops, a timeout task) cost about 1.7 ms
/// of the daemon's CPU, so 100 idle agents probed every 10 s kept it at 2% of a core. A
/// probe is four syscalls and a status line to read; this does only that.
public struct LoopbackProber: AgentProber {
    public init() {}

    public func probe(_ batch: [ProbeRequest]) -> AsyncStream<[(Int, ProbeResult)]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [(Int, ProbeResult)].self)
        guard !batch.isEmpty else {
            continuation.finish()
            return stream
        }
        // The thread ends with its batch: at most the batch's longest timeout.
        let thread = Thread {
            var run = LoopbackProbeRun(batch)
            run.run { results in continuation.yield(results) }
            continuation.finish()
        }
        thread.name = "par-probe"
        thread.start()
        return stream
    }
}

/// One batch: every probe in flight at once. What is decided in one turn of the poll loop
/// is reported together (one hop to the supervisor), and at once: a slow agent never
/// holds back the others' answers.
struct LoopbackProbeRun {
    private enum Phase { case connecting, writing, reading, done }

    private struct Probe {
        var request: ProbeRequest
        var fd: Int32 = -1
        var phase: Phase = .connecting
        var started: Double
        var deadline: Double
        var outgoing: [UInt8] = []
        var written = 0
        var answer = AnswerReader()
    }

    /// Enough for any status line and head; a longer answer is judged by its status.
    static let readLimit = 64 * 1024
    private static let requestStart = Array("GET ".utf8)
    private static let requestHost = Array(" HTTP/1.1\r\nHost: 127.0.0.1:".utf8)
    private static let requestEnd = Array("\r\nUser-Agent: par-health\r\nAccept: */*\r\nConnection: close\r\n\r\n".utf8)

    private var probes: [Probe]

    init(_ batch: [ProbeRequest]) {
        let now = Self.now()
        probes = batch.map { Probe(request: $0, started: now, deadline: now + $0.timeoutSeconds) }
    }

    mutating func run(_ deliver: ([(Int, ProbeResult)]) -> Void) {
        var decided: [(Int, ProbeResult)] = []
        let report = { (index: Int, result: ProbeResult) in decided.append((index, result)) }
        for index in probes.indices { open(index, report) }
        var pollSet: [pollfd] = []
        var owners: [Int] = []
        while true {
            if !decided.isEmpty {
                deliver(decided)
                decided.removeAll(keepingCapacity: true)
            }
            pollSet.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            var nearest = Double.infinity
            for (index, probe) in probes.enumerated() where probe.phase != .done {
                let events: Int16 = probe.phase == .reading ? Int16(POLLIN) : Int16(POLLOUT)
                pollSet.append(pollfd(fd: probe.fd, events: events, revents: 0))
                owners.append(index)
                nearest = min(nearest, probe.deadline)
            }
            guard !pollSet.isEmpty else { return }
            let wait = max(0, Int32(((nearest - Self.now()) * 1000).rounded(.up)))
            let ready = poll(&pollSet, nfds_t(pollSet.count), wait)
            if ready < 0 && errno != EINTR {
                for index in owners { finish(index, healthy: false, error: "poll failed: \(String(cString: strerror(errno)))", report) }
                deliver(decided)
                return
            }
            for (slot, entry) in pollSet.enumerated() where entry.revents != 0 {
                step(owners[slot], revents: entry.revents, report)
            }
            // Every probe's deadline, busy or not: an agent trickling bytes cannot outlast it.
            let now = Self.now()
            for index in owners where probes[index].phase != .done && now >= probes[index].deadline {
                finish(index, healthy: false, error: "no complete answer within \(probes[index].request.timeoutSeconds) s", report)
            }
        }
    }

    private mutating func open(_ index: Int, _ report: (Int, ProbeResult) -> Void) {
        let request = probes[index].request
        if case .none = request.kind {
            probes[index].phase = .done
            report(index, ProbeResult(healthy: true, latencySeconds: 0, error: nil))
            return
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            finish(index, healthy: false, error: "cannot open a socket: \(String(cString: strerror(errno)))", report)
            return
        }
        probes[index].fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: request.port).bigEndian)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected == 0 {
            connectionEstablished(index, report)
        } else if errno != EINPROGRESS {
            let code = errno
            finish(index, healthy: false, error: Self.connectError(code), refused: code == ECONNREFUSED, report)
        }
    }

    private mutating func step(_ index: Int, revents: Int16, _ report: (Int, ProbeResult) -> Void) {
        switch probes[index].phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(probes[index].fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 {
                finish(index, healthy: false, error: Self.connectError(error), refused: error == ECONNREFUSED, report)
            } else {
                connectionEstablished(index, report)
            }
        case .writing:
            write(index, report)
        case .reading:
            read(index, report)
        case .done:
            break
        }
    }

    private mutating func connectionEstablished(_ index: Int, _ report: (Int, ProbeResult) -> Void) {
        guard case .http(let path) = probes[index].request.kind else {
            finish(index, healthy: true, error: nil, report)
            return
        }
        var head = Self.requestStart
        head.append(contentsOf: path.utf8)
        head.append(contentsOf: Self.requestHost)
        head.append(contentsOf: String(probes[index].request.port).utf8)
        head.append(contentsOf: Self.requestEnd)
        probes[index].outgoing = head
        probes[index].phase = .writing
        write(index, report)
    }

    private mutating func write(_ index: Int, _ report: (Int, ProbeResult) -> Void) {
        let sent = probes[index].outgoing.withUnsafeBytes { bytes in
            send(probes[index].fd, bytes.baseAddress! + probes[index].written, bytes.count - probes[index].written, Int32(MSG_NOSIGNAL))
        }
        if sent < 0 {
            if errno == EAGAIN || errno == EINTR { return }
            finish(index, healthy: false, error: "the connection failed while sending: \(String(cString: strerror(errno)))", report)
            return
        }
        probes[index].written += sent
        if probes[index].written == probes[index].outgoing.count {
            probes[index].phase = .reading
            read(index, report)
        }
    }

    private mutating func read(_ index: Int, _ report: (Int, ProbeResult) -> Void) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(probes[index].fd, &chunk, chunk.count, 0)
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
                answerEnded(index, error: "the connection failed: \(String(cString: strerror(errno)))", report)
                return
            }
            if count == 0 {
                answerEnded(index, error: nil, report)
                return
            }
            if probes[index].answer.append(chunk[0..<count]) || probes[index].answer.count >= Self.readLimit {
                answerEnded(index, error: nil, report)
                return
            }
        }
    }

    /// The answer is whole (or the agent closed or failed): its status line decides.
    private mutating func answerEnded(_ index: Int, error: String?, _ report: (Int, ProbeResult) -> Void) {
        guard case .http(let path) = probes[index].request.kind else { return }
        guard let status = probes[index].answer.status else {
            finish(index, healthy: false, error: "GET \(path): \(error ?? "the agent closed the connection without an answer")", report)
            return
        }
        let healthy = (200..<400).contains(status)
        finish(index, healthy: healthy, error: healthy ? nil : "GET \(path) answered \(status)", answeredStatus: status, report)
    }

    private mutating func finish(
        _ index: Int, healthy: Bool, error: String?, answeredStatus: Int? = nil, refused: Bool = false, _ report: (Int, ProbeResult) -> Void
    ) {
        guard probes[index].phase != .done else { return }
        if probes[index].fd >= 0 {
            close(probes[index].fd)
            probes[index].fd = -1
        }
        probes[index].phase = .done
        probes[index].answer = AnswerReader()
        var message = error
        if let error, case .tcp = probes[index].request.kind { message = "TCP connect: \(error)" }
        report(index, ProbeResult(
            healthy: healthy, latencySeconds: Self.now() - probes[index].started, error: message, answeredStatus: answeredStatus, refused: refused
        ))
    }

    private static func connectError(_ code: Int32) -> String {
        code == ECONNREFUSED ? "connection refused (nothing listens on the agent's port yet)" : "cannot connect: \(String(cString: strerror(code)))"
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Follows one HTTP/1.x answer as its bytes arrive, looking at each byte about once:
/// interim `1xx` heads are skipped, the final head is read once for its status and how
/// its body is framed (`Content-Length`, chunked, or the agent's close).
struct AnswerReader {
    private(set) var bytes: [UInt8] = []
    /// The final answer's status, once its head is whole.
    private(set) var finalStatus: Int?
    private var headStart = 0
    private var scanFrom = 0
    private var bodyStart = 0
    private var framing: HTTPAnswerScan.Framing?
    private var malformed = false

    var count: Int { bytes.count }

    /// The final status, or at least the first status line seen (a head cut by the read limit).
    var status: Int? { malformed ? nil : finalStatus ?? HTTPAnswerScan.status(bytes[headStart...]) }

    /// Adds what was read; true once the answer is whole (or cannot be an HTTP answer).
    mutating func append(_ chunk: ArraySlice<UInt8>) -> Bool {
        bytes.append(contentsOf: chunk)
        while finalStatus == nil {
            guard let end = HTTPAnswerScan.headEnd(bytes, from: max(scanFrom, headStart)) else {
                scanFrom = max(headStart, bytes.count - 3)
                return false
            }
            guard let code = HTTPAnswerScan.status(bytes[headStart..<end]) else {
                malformed = true
                return true
            }
            if (100..<200).contains(code) && code != 101 {
                headStart = end + 4
                scanFrom = headStart
                continue
            }
            finalStatus = code
            bodyStart = end + 4
            framing = code == 204 || code == 304 || code == 101 ? .none : HTTPAnswerScan.framing(bytes[headStart..<end])
        }
        switch framing {
        case .none?: return true
        case .length(let length)?: return bytes.count - bodyStart >= length
        case .chunked?: return bytes.count >= bodyStart + 5 && bytes.suffix(5).elementsEqual("0\r\n\r\n".utf8)
        case .untilClose?, nil: return false
        }
    }
}

/// Just enough of HTTP/1.x heads for a probe, on bytes. Pure.
enum HTTPAnswerScan {
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        /// The answer ends when the agent closes (asked for by Connection: close).
        case untilClose
    }

    /// "HTTP/1.1 200 ...": the three digits after the first space.
    static func status(_ head: ArraySlice<UInt8>) -> Int? {
        let line = Array(head.prefix(12))
        guard line.count == 12, line.starts(with: Array("HTTP/1.".utf8)), line[8] == UInt8(ascii: " ") else { return nil }
        let digits = line[9..<12]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }

    static func status(_ bytes: [UInt8]) -> Int? { status(bytes[...]) }

    /// Whether `bytes` hold a whole answer (for tests and one-shot checks).
    static func isComplete(_ bytes: [UInt8]) -> Bool {
        var reader = AnswerReader()
        return reader.append(bytes[...])
    }

    /// Where the head ends (the index of its blank line's CR), searching from `start`.
    static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= 4 else { return nil }
        var index = max(0, start)
        while index + 3 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// How the body after `head` (without its blank line) is framed.
    static func framing(_ head: ArraySlice<UInt8>) -> Framing {
        var lineStart = head.startIndex
        var first = true
        var result = Framing.untilClose
        while lineStart < head.endIndex {
            let lineEnd = nextLineEnd(head, from: lineStart) ?? head.endIndex
            defer { lineStart = lineEnd + 2; first = false }
            guard !first, let colon = head[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = head[lineStart..<colon]
            let value = head[(colon + 1)..<lineEnd].drop { $0 == 32 || $0 == 9 }
            if equalsIgnoringCase(name, "transfer-encoding"), contains(value, "chunked") {
                // Transfer-Encoding wins over Content-Length.
                return .chunked
            }
            if equalsIgnoringCase(name, "content-length") {
                var length = 0
                for byte in value where byte != 32 && byte != 9 {
                    guard byte >= 48, byte <= 57, length < 1 << 40 else { return .untilClose }
                    length = length * 10 + Int(byte - 48)
                }
                result = .length(length)
            }
        }
        return result
    }

    private static func nextLineEnd(_ bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.endIndex {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    private static func equalsIgnoringCase(_ bytes: ArraySlice<UInt8>, _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        return zip(bytes, UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)).allSatisfy { ($0 | 0x20) == $1 }
    }

    private static func contains(_ bytes: ArraySlice<UInt8>, _ word: StaticString) -> Bool {
        let needle = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count >= needle.count else { return false }
        var start = bytes.startIndex
        while start + needle.count <= bytes.endIndex {
            if zip(bytes[start..<(start + needle.count)], needle).allSatisfy({ ($0 | 0x20) == $1 }) { return true }
            start += 1
        }
        return false
    }
}
