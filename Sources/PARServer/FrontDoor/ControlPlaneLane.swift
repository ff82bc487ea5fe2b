import CPARSys
import NIOCore
import NIOPosix
import Synchronization

/// The control plane's own thread. A connection whose first request is a quick read of the
/// supervisor's state (status, health, metrics, one process) is served on an event loop of
/// its own, request handlers included, instead of on the event loops and cooperative threads
/// that also carry log streams, WebSockets, uploads and supervision. Under a log flood those
/// are busy, and an answer that takes a millisecond to build waited a scheduler period
/// behind them; a thread that sleeps until its request arrives is run at once.
///
/// One lane per process, as NIO's singleton group is: a task that prefers the lane may
/// outlive the server that started it, and a loop must not be shut down under it.
final class ControlPlaneLane: Sendable {
    static let shared = ControlPlaneLane()

    let eventLoop: any EventLoop
    let executor: EventLoopTaskExecutor

    /// Set once the lane exists: without the relay nothing is handed over and it never does.
    private static let started = Atomic<Bool>(false)

    /// Whether the caller runs on the lane's thread (false, and no lane made, if there is none).
    static var isCurrentThread: Bool {
        started.load(ordering: .acquiring) && shared.eventLoop.inEventLoop
    }

    private init() {
        Self.started.store(true, ordering: .releasing)
        eventLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
        executor = EventLoopTaskExecutor(eventLoop)
        // Named for `top -H` and for the test that checks the lane does the work.
        eventLoop.execute { _ = par_name_thread(Self.threadName) }
    }

    static let threadName = "par-control"

    /// Whether a connection whose bytes so far are `head` belongs on the lane: a GET or HEAD
    /// of an answer built from memory, without waiting for the supervisor's actor or the log
    /// store. Anything else, or a request line not yet whole, goes to the shared loops.
    /// Later requests on a kept-alive connection stay where its first went (NIO does not move
    /// a channel between loops): the management API is served there too, and a request for an
    /// agent is sent to a connection of its own (`agentRequestRefusal`).
    static func takes(_ head: UnsafeRawBufferPointer) -> Bool {
        var index: Int
        if has(head, at: 0, "GET ") {
            index = 4
        } else if has(head, at: 0, "HEAD ") {
            index = 5
        } else {
            return false
        }
        let start = index
        while index < head.count, head[index] != space, head[index] != question { index += 1 }
        guard index < head.count else { return false }
        let path = UnsafeRawBufferPointer(rebasing: head[start..<index])
        if quickReads.contains(where: { $0.elementsEqual(path) }) { return true }
        guard path.starts(with: processPrefix), path.count > processPrefix.count else { return false }
        return path[processPrefix.count...].allSatisfy(HeadScanner.isAgentIDByte)
    }

    /// The answer to a request for an agent on the lane (`AgentProxyHandler` gives it, then
    /// closes): 307 to the same target, so the client comes back through the front door,
    /// whose relay carries agents' traffic. Otherwise anyone could open a connection with a
    /// health check (no token) and then proxy a flood over the control plane's thread.
    static func agentRequestRefusal(target: String) -> APIError {
        var answer = APIError(
            .temporaryRedirect, "use a new connection",
            detail: "this connection began with a status, health or metrics read and is kept for those; send requests for agents on a connection of their own (a client that follows redirects does)"
        )
        answer.headers[.location] = target
        return answer
    }

    private static let space = UInt8(ascii: " ")
    private static let question = UInt8(ascii: "?")
    private static let quickReads: [[UInt8]] = ["/supervisor/status", "/supervisor/health", "/runtime/health", "/metrics"].map { Array($0.utf8) }
    private static let processPrefix = Array("/supervisor/processes/".utf8)

    private static func has(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ text: String) -> Bool {
        bytes.count >= offset + text.utf8.count && bytes[offset...].starts(with: text.utf8)
    }
}

/// Runs a task's jobs on one NIO event loop, so a handler that prefers it
/// (`addTask(executorPreference:)`) shares a thread with the channel it reads and writes.
/// Written here because this NIO version has no such executor.
final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
