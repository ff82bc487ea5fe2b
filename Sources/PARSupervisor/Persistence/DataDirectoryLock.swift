import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per data dir: an exclusive `flock` on `<data>/daemon.lock`, held for the
/// daemon's life (the kernel drops it when the process ends, even on kill -9). A second
/// daemon would restore the same agents twice, kill the first one's agents as leftovers
/// and share its state database: it must stop before touching anything.
public final class DataDirectoryLock: Sendable {
    public let path: String
    private let fd: Int32

    public enum Failure: Error, CustomStringConvertible {
        case held(path: String, pid: Int32?)
        case unusable(path: String, reason: String)

        public var description: String {
            switch self {
            case .held(let path, let pid):
                "another par serve\(pid.map { " (pid \($0))" } ?? "") is running on this data dir (\(path) is locked); stop it first, or give this one another --data-dir"
            case .unusable(let path, let reason):
                "cannot lock \(path): \(reason)"
            }
        }
    }

    public init(dataDirectory: URL) throws(Failure) {
        path = dataDirectory.appendingPathComponent("daemon.lock").path
        // Never through a link, and only a regular file of our own: a lock planted by another
        // user must neither redirect our pid write nor hold the daemon off.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .unusable(path: path, reason: String(cString: strerror(errno)) + (errno == ELOOP ? " (it is a symbolic link; remove it)" : "")) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_uid == geteuid() else {
            close(fd)
            throw .unusable(path: path, reason: "it is not a regular file owned by this user; remove it")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readPID(fd)
            close(fd)
            if code == EWOULDBLOCK { throw .held(path: path, pid: holder) }
            throw .unusable(path: path, reason: String(cString: strerror(code)))
        }
        // Who holds it, for the next daemon's message.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { close(fd) }
}
