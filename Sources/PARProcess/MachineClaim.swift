import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A name held machine-wide for as long as the holder keeps a socket: an abstract Unix
/// socket bound to it (Linux; one namespace per network namespace). The kernel lets it go
/// when the holder exits, `kill -9` included, so nothing is ever left to clean up; two
/// daemons (or two test processes) coordinate through it without a shared file.
public enum MachineClaim {
    /// The socket holding `name`, or nil when another process holds it.
    public static func hold(_ name: String) -> Int32? {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0
            for (index, byte) in bytes.enumerated() where index + 1 < raw.count { raw[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + min(bytes.count, 107))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    public static func release(_ fd: Int32) {
        close(fd)
    }

    /// The name under which a daemon holds an agent uid, so two daemons as root never hand
    /// the same uid to two agents (their default ranges are the same).
    public static func agentUID(_ uid: UInt32) -> String { "par-agent-uid-\(uid)" }
}
