import CPARSys
import Foundation
import PARCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public enum OutputStreamKind: String, Sendable, Codable {
    case stdout
    case stderr
}

/// How a watched child ended.
public struct ChildExit: Sendable {
    public let pid: Int32
    public let termination: Termination
    public let at: Date
}

/// Callbacks for one watched child. They run on the reactor thread: keep them short
/// and hand work on (append to a buffer, yield to a stream).
public struct ChildHandlers: Sendable {
    /// Returns false when the receiver is full: the child's pipes are then not read
    /// (it blocks on write, nothing is dropped) until `ProcessReactor.resume` is called.
    public var onLines: @Sendable (OutputStreamKind, [LineSplitter.Line]) -> Bool
    public var onExit: @Sendable (ChildExit) -> Void

    public init(onLines: @escaping @Sendable (OutputStreamKind, [LineSplitter.Line]) -> Bool, onExit: @escaping @Sendable (ChildExit) -> Void) {
        self.onLines = onLines
        self.onExit = onExit
    }
}

/// One thread, one epoll set: sees every child's exit the moment its pidfd becomes
/// readable and drains every output pipe. Hand-written because no package here
/// watches pidfds; swift-subprocess needs a task per child and has no pre-exec hook.
///
/// Before an exit is reported, the child's pipes are drained, so the lines it printed
/// just before dying are delivered first.
public final class ProcessReactor: Sendable {
    private let epollFD: Int32
    private let wakeFD: Int32
    private let watches = Mutex<[UInt64: ChildWatch]>([:])
    private let nextSerial = Atomic<UInt64>(1)
    /// Watches whose reader asked to be read again (see `resume`).
    private let resumeRequests = Mutex<[UInt64]>([])
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let maxLineBytes: Int

    private static let wakeToken: UInt64 = 0

    public init(maxLineBytes: Int = 64 * 1024) throws(SpawnError) {
        let epollFD = par_epoll_create()
        guard epollFD >= 0 else { throw .pidfd(errno: errno) }
        let wakeFD = par_eventfd()
        guard wakeFD >= 0 else { close(epollFD); throw .pidfd(errno: errno) }
        _ = par_epoll_add(epollFD, wakeFD, Self.wakeToken)
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        self.maxLineBytes = maxLineBytes
        let thread = Thread { [self] in self.loop() }
        thread.name = "par-reactor"
        thread.start()
    }

    /// Stops the thread and closes every fd it still watches. Children are not signalled.
    public func shutdown() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = par_eventfd_signal(wakeFD)
        finished.wait()
        let remaining = watches.withLock { all in
            defer { all.removeAll() }
            return Array(all.values)
        }
        var unique: [ObjectIdentifier: ChildWatch] = [:]
        for watch in remaining { unique[ObjectIdentifier(watch)] = watch }
        for watch in unique.values { watch.closeAll() }
        close(epollFD)
        close(wakeFD)
    }

    /// Output pipes not yet at their end (two per watched child until each is read out).
    public var openPipes: Int {
        watches.withLock { all in all.keys.count { $0 & 3 == 2 || $0 & 3 == 3 } }
    }

    /// Waits until every pipe has been read to its end, or `timeout` passes. For shutdown,
    /// after the children exited: what they printed last is still in their pipes (a paused
    /// pipe is read once the receiver has room), and `shutdown()` closes what is left.
    /// Checks every 10 ms; it runs once per daemon, so a wake-up channel is not worth it.
    public func waitForOutputToEnd(timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while openPipes > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Names a watch before it starts, so its handlers can refer to it (for `resume`).
    public func reserveWatchID() -> WatchID {
        WatchID(serial: nextSerial.wrappingAdd(1, ordering: .relaxed).oldValue)
    }

    /// Reads a paused child's pipes again. Safe from any thread.
    public func resume(_ id: WatchID) {
        resumeRequests.withLock { $0.append(id.serial) }
        _ = par_eventfd_signal(wakeFD)
    }

    /// Starts watching a spawned child. Takes ownership of its pidfd and pipe fds.
    public func watch(_ process: SpawnedProcess, id: WatchID? = nil, handlers: ChildHandlers) {
        let serial = (id ?? reserveWatchID()).serial
        let watch = ChildWatch(process: process, handlers: handlers, maxLineBytes: maxLineBytes)
        let base = serial << 2
        watches.withLock { all in
            all[base | 1] = watch
            all[base | 2] = watch
            all[base | 3] = watch
        }
        _ = par_epoll_add(epollFD, process.pidfd, base | 1)
        _ = par_epoll_add(epollFD, process.stdoutFD, base | 2)
        _ = par_epoll_add(epollFD, process.stderrFD, base | 3)
    }

    private func loop() {
        var tokens = [UInt64](repeating: 0, count: 256)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopping.load(ordering: .acquiring) {
            let count = par_epoll_wait(epollFD, &tokens, Int32(tokens.count), -1)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let token = tokens[index]
                if token == Self.wakeToken {
                    _ = par_eventfd_drain(wakeFD)
                    continue
                }
                guard let watch = watches.withLock({ $0[token] }) else { continue }
                let base = token & ~3
                switch token & 3 {
                case 1:
                    handleExit(watch, base: base, buffer: &buffer)
                case 2:
                    settle(watch, .stdout, watch.drain(.stdout, buffer: &buffer), base: base)
                default:
                    settle(watch, .stderr, watch.drain(.stderr, buffer: &buffer), base: base)
                }
            }
            applyResumes()
        }
        finished.signal()
    }

    private func settle(_ watch: ChildWatch, _ stream: OutputStreamKind, _ result: ChildWatch.DrainResult, base: UInt64) {
        let fd = stream == .stdout ? watch.process.stdoutFD : watch.process.stderrFD
        switch result {
        case .open: break
        case .closed: retire(watch, fd: fd, token: base | (stream == .stdout ? 2 : 3), base: base)
        case .full: pause(watch, base: base)
        }
    }

    /// Stops reading both pipes of a child whose reader is full. The fds leave the epoll
    /// set (rather than being masked), so a hang-up cannot spin the loop meanwhile.
    private func pause(_ watch: ChildWatch, base: UInt64) {
        guard !watch.paused else { return }
        watch.paused = true
        for fd in [watch.process.stdoutFD, watch.process.stderrFD] where !watch.isClosed(fd) {
            _ = par_epoll_del(epollFD, fd)
        }
    }

    private func applyResumes() {
        let serials = resumeRequests.withLock { requests in
            defer { requests.removeAll() }
            return requests
        }
        for serial in serials {
            let base = serial << 2
            guard let watch = watches.withLock({ $0[base | 2] ?? $0[base | 3] ?? $0[base | 1] }) else { continue }
            // A resume always follows the pause it ends: the pause happens on this thread
            // right after the handler said "full", and resumes are applied only here, later.
            guard watch.paused else { continue }
            watch.paused = false
            if !watch.isClosed(watch.process.stdoutFD) { _ = par_epoll_add(epollFD, watch.process.stdoutFD, base | 2) }
            if !watch.isClosed(watch.process.stderrFD) { _ = par_epoll_add(epollFD, watch.process.stderrFD, base | 3) }
        }
    }

    private func handleExit(_ watch: ChildWatch, base: UInt64, buffer: inout [UInt8]) {
        // Lines written just before the exit are still in the pipes: deliver them first.
        // Bounded (4 MiB a stream), so a descendant that keeps writing cannot hold the
        // exit back; the rest is read on later turns.
        // A paused child's pipes stay unread: its lines follow once the store has room.
        let all = 64
        if !watch.paused { settle(watch, .stdout, watch.drain(.stdout, buffer: &buffer, maxReads: all), base: base) }
        if !watch.paused { settle(watch, .stderr, watch.drain(.stderr, buffer: &buffer, maxReads: all), base: base) }
        var code: Int32 = 0
        var status: Int32 = 0
        let reaped = par_waitid_pidfd(watch.process.pidfd, 1, &code, &status)
        guard reaped > 0 else {
            if reaped == 0 { return } // spurious wake: still running
            // ECHILD: someone else reaped it; report an unknown end rather than hang.
            return finishExit(watch, base: base, termination: .signaled(signal: SIGKILL))
        }
        let termination: Termination = code == Int32(CLD_EXITED) ? .exited(code: status) : .signaled(signal: status)
        finishExit(watch, base: base, termination: termination)
    }

    private func finishExit(_ watch: ChildWatch, base: UInt64, termination: Termination) {
        retire(watch, fd: watch.process.pidfd, token: base | 1, base: base)
        watch.handlers.onExit(ChildExit(pid: watch.process.pid, termination: termination, at: Date()))
    }

    private func retire(_ watch: ChildWatch, fd: Int32, token: UInt64, base: UInt64) {
        guard watch.markClosed(fd) else { return }
        _ = par_epoll_del(epollFD, fd) // ENOENT for a paused pipe, which is out of the set already
        close(fd)
        watches.withLock { _ = $0.removeValue(forKey: token) }
    }
}

/// Names one watched child, for `ProcessReactor.resume`.
public struct WatchID: Sendable, Hashable {
    let serial: UInt64
}

/// One child's fds and partial lines. Touched only by the reactor thread after `watch`.
private final class ChildWatch: @unchecked Sendable {
    enum DrainResult {
        case open
        case closed
        /// The receiver asked to stop reading.
        case full
    }

    /// Its pipes are out of the epoll set until resumed.
    var paused = false

    let process: SpawnedProcess
    let handlers: ChildHandlers
    private var stdoutSplitter: LineSplitter
    private var stderrSplitter: LineSplitter
    private var closedFDs: Set<Int32> = []

    init(process: SpawnedProcess, handlers: ChildHandlers, maxLineBytes: Int) {
        self.process = process
        self.handlers = handlers
        self.stdoutSplitter = LineSplitter(maxLineBytes: maxLineBytes)
        self.stderrSplitter = LineSplitter(maxLineBytes: maxLineBytes)
    }

    /// Returns false if it was already closed.
    func markClosed(_ fd: Int32) -> Bool {
        closedFDs.insert(fd).inserted
    }

    func isClosed(_ fd: Int32) -> Bool { closedFDs.contains(fd) }

    func closeAll() {
        for fd in [process.pidfd, process.stdoutFD, process.stderrFD] where markClosed(fd) {
            close(fd)
        }
    }

    /// Reads until the pipe is empty (EAGAIN) or closed, handing out complete lines.
    /// `maxReads` bounds one turn so a chatty child cannot starve the others; epoll is
    /// level-triggered, so what is left is read on the next turn.
    func drain(_ stream: OutputStreamKind, buffer: inout [UInt8], maxReads: Int = 16) -> DrainResult {
        let fd = stream == .stdout ? process.stdoutFD : process.stderrFD
        guard !closedFDs.contains(fd) else { return .closed }
        var lines: [LineSplitter.Line] = []
        var result = DrainResult.open
        var reads = 0
        var unsentBytes = 0
        var wantsMore = true
        reading: while reads < maxReads && wantsMore {
            reads += 1
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                buffer.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<count])
                    if stream == .stdout {
                        stdoutSplitter.feed(chunk, into: &lines)
                    } else {
                        stderrSplitter.feed(chunk, into: &lines)
                    }
                }
                unsentBytes += count
                // Handed over in batches small enough that the store's memory bound
                // (checked per batch) is overshot by at most one batch per agent.
                if lines.count >= 4096 || unsentBytes >= 256 << 10 {
                    wantsMore = handlers.onLines(stream, lines)
                    lines.removeAll(keepingCapacity: true)
                    unsentBytes = 0
                }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break reading }
            // EOF or a read error: the stream is over.
            if stream == .stdout { stdoutSplitter.finish(into: &lines) } else { stderrSplitter.finish(into: &lines) }
            result = .closed
            break reading
        }
        if !lines.isEmpty { wantsMore = handlers.onLines(stream, lines) && wantsMore }
        if result == .open && !wantsMore { return .full }
        return result
    }
}
