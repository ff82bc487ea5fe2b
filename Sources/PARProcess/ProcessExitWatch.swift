import CPARSys
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Waits for another process (not a child) to end, by its pidfd: the kernel wakes the
/// waiter at the exit itself, whatever ended it (`kill -9` included), with no polling.
public final class ProcessExitWatch: Sendable {
    public let pid: pid_t
    private let pidfd: Int32
    /// A pipe: its write end wakes the waiter early (`cancel()`).
    private let wake: Int32
    private let wakeWriter: Int32

    public enum WatchError: Error, CustomStringConvertible {
        case gone(pid_t)
        case cannotWatch(pid_t, errno: Int32)
        public var description: String {
            switch self {
            case .gone(let pid): "process \(pid) has already ended"
            case .cannotWatch(let pid, let code): "cannot watch process \(pid): \(String(cString: strerror(code)))"
            }
        }
    }

    public init(pid: pid_t) throws(WatchError) {
        let fd = par_pidfd_open(pid)
        guard fd >= 0 else {
            let code = errno
            throw code == ESRCH ? .gone(pid) : .cannotWatch(pid, errno: code)
        }
        var ends: [Int32] = [-1, -1]
        guard par_pipe(&ends) == 0 else {
            let code = errno
            close(fd)
            throw .cannotWatch(pid, errno: code)
        }
        self.pid = pid
        self.pidfd = fd
        self.wake = ends[0]
        self.wakeWriter = ends[1]
    }

    deinit {
        close(pidfd)
        close(wake)
        close(wakeWriter)
    }

    /// Returns true when the process ended, false when `cancel()` came first. The wait
    /// blocks a thread of its own (a pidfd is not something the async runtime can await).
    public func exited() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let thread = Thread { [self] in
                var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
                while poll(&fds, 2, -1) < 0, errno == EINTR {}
                continuation.resume(returning: fds[0].revents != 0)
            }
            thread.name = "par-exit-watch"
            thread.start()
        }
    }

    public func cancel() {
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
    }
}
