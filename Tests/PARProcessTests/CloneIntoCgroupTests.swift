import Foundation
import PARProcess
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The v2 spawn path against the real kernel: wherever a cgroup2 hierarchy is mounted
/// and writable (here the hybrid's /sys/fs/cgroup/unified), a child is born inside the
/// agent's cgroup.
@Suite("clone3 into a cgroup v2 folder")
struct CloneIntoCgroupTests {
    /// The cgroup2 mount and this process's folder in it, if both are writable.
    static let hierarchy: (mount: String, path: String)? = {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return nil }
        let path = String(line.dropFirst(3))
        for mount in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"] {
            let base = mount + (path == "/" ? "" : path)
            guard FileManager.default.fileExists(atPath: base + "/cgroup.procs") else { continue }
            let probe = base + "/par-clone-probe-\(getpid())"
            if mkdir(probe, 0o755) == 0 {
                rmdir(probe)
                return (mount, path == "/" ? "" : path)
            }
        }
        return nil
    }()

    @Test(.enabled(if: hierarchy != nil, "needs a writable cgroup2 hierarchy"))
    func childIsBornInsideTheCgroup() throws {
        let (mount, path) = try #require(Self.hierarchy)
        let name = "par-clone-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let directory = mount + path + "/" + name
        #expect(mkdir(directory, 0o755) == 0)
        defer { rmdir(directory) }

        let process = try Spawner.spawn(
            executable: "/bin/sh", argv: ["/bin/sh", "-c", "cat /proc/self/cgroup"], environment: ["PATH": "/usr/bin:/bin"],
            workingDirectory: "/", confinement: SpawnConfinement(cgroupDirectory: directory, nice: 3)
        )
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        let flags = fcntl(process.stdoutFD, F_GETFL)
        _ = fcntl(process.stdoutFD, F_SETFL, flags & ~O_NONBLOCK)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(process.stdoutFD, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            output += buffer[0..<count]
        }
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)
        close(process.pidfd); close(process.stdoutFD); close(process.stderrFD)
        let text = String(decoding: output, as: UTF8.self)
        #expect(text.contains("0::\(path)/\(name)"), "\(text)")
    }

    @Test(.enabled(if: hierarchy != nil, "needs a writable cgroup2 hierarchy"))
    func missingCgroupFolderIsASetupError() {
        #expect(throws: SpawnError.self) {
            _ = try Spawner.spawn(
                executable: "/bin/true", argv: ["/bin/true"], environment: [:], workingDirectory: "/",
                confinement: SpawnConfinement(cgroupDirectory: "/sys/fs/cgroup/unified/does-not-exist-\(getpid())")
            )
        }
    }
}
