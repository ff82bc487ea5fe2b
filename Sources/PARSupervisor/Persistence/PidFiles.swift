import Foundation
import Logging
import PARCore
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// Leftovers of a previous daemon: one pid file per live agent, so a daemon killed with -9
/// has its agents killed by the next one, which then starts them again.
extension Supervisor {
    /// One file per live agent (`run/<agent>.pid`: pid and kernel start time), so a
    /// daemon killed with -9 has its agents killed by the next one it is started as.
    /// Written in place with plain calls (once per start, so it is on the restart path): a
    /// file torn by a crash fails the start-time check below and is ignored.
    /// - Parameter suffix: names a second process of the agent (a rolling restart's next or
    ///   draining run), killed like the first by the next daemon if this one dies.
    func writePidFile(_ agentID: AgentID, pid: Int32, suffix: String? = nil) {
        let start = ProcTable.stat(of: pid)?.startTicks ?? 0
        let fd = open(pidFilePath(agentID, suffix: suffix), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let line = Array("\(pid) \(start)\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    func removePidFile(_ agentID: AgentID, suffix: String? = nil) {
        unlink(pidFilePath(agentID, suffix: suffix))
    }

    private func pidFilePath(_ agentID: AgentID, suffix: String?) -> String {
        config.pidDirectory.path + "/" + agentID.rawValue + (suffix.map { "+" + $0 } ?? "") + ".pid"
    }

    static func killLeftovers(in directory: URL, logger: Logger) {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var killed: [(pid: Int32, start: UInt64)] = []
        for file in files where file.hasSuffix(".pid") {
            let url = directory.appendingPathComponent(file)
            defer { try? FileManager.default.removeItem(at: url) }
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]),
                  let stat = ProcTable.stat(of: pid), stat.startTicks == start, stat.session == pid
            else { continue }
            logger.warning("killing agent left by a previous daemon", metadata: ["pid": "\(pid)", "file": "\(file)"])
            ProcessSignals.signalSession(pid, SIGKILL)
            killed.append((pid, start))
        }
        // Their ports are handed out again at once (restored agents ask for their old
        // ones): wait, briefly, until the kernel has torn the old processes down.
        let deadline = ResourceSampler.monotonicSeconds() + 2
        while ResourceSampler.monotonicSeconds() < deadline, killed.contains(where: { pid, start in
            guard let stat = ProcTable.stat(of: pid), stat.startTicks == start else { return false }
            return stat.state != "Z"
        }) {
            usleep(2_000)
        }
    }
}
