import Foundation
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// What a user would check with `ps`: read straight from /proc.
public enum ProcessInspection {
    /// True while `pid` exists and is not a zombie.
    public static func isAlive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Live pids whose environment has `name=value` (how agents of one daemon are found).
    public static func processes(withEnvironment name: String, value: String) -> [Int32] {
        let needle = Array("\(name)=\(value)".utf8)
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let variables = data.split(separator: 0)
            if variables.contains(where: { Array($0) == needle }), isAlive(pid) { found.append(pid) }
        }
        return found
    }

    /// Whether nothing listens on or holds `port` on loopback (a bind succeeds).
    public static func portIsFree(_ port: Int) -> Bool {
        PortProbe.isFree(port)
    }

    /// Whether something accepts TCP connections on loopback `port`.
    public static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
    /// For waiting on an observable outcome in tests, never as a timing assertion.
    public static func eventually(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(10_000)
        } while Date() < deadline
        return try condition()
    }
}
