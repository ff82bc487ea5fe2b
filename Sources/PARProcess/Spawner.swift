import CPARSys
import Foundation
import PARCore

#if canImport(Glibc)
import Glibc
#endif

/// A child just started: its pid, a pidfd to watch it by, and the read ends of its output pipes.
public struct SpawnedProcess: Sendable {
    public let pid: Int32
    public let pidfd: Int32
    public let stdoutFD: Int32
    public let stderrFD: Int32
}

public enum SpawnError: Error, Sendable, CustomStringConvertible {
    case pipe(errno: Int32)
    case exec(program: String, errno: Int32)
    case pidfd(errno: Int32)
    /// The child could not set itself up before exec (join its cgroup, take its nice value, ...).
    case setup(step: String, errno: Int32)

    public var description: String {
        switch self {
        case .pipe(let e): "cannot create output pipes: \(String(cString: strerror(e)))"
        case .exec(let program, let e): "cannot start \(program): \(String(cString: strerror(e)))"
        case .pidfd(let e): "cannot watch the new process: \(String(cString: strerror(e)))"
        case .setup(let step, let e): "cannot \(step): \(String(cString: strerror(e)))"
        }
    }
}

/// What the child does to itself between fork and exec.
public struct SpawnConfinement: Sendable, Equatable {
    /// `cgroup.procs` files the child writes itself into (cgroup v1).
    public var cgroupProcsFiles: [String]
    /// A cgroup v2 folder the child is created in (clone3 with CLONE_INTO_CGROUP).
    public var cgroupDirectory: String?
    public var nice: Int32
    /// The nice of the scheduling group the child's new session makes (autogroups; 0
    /// leaves it): how agents weigh less than the daemon where the daemon's own group is
    /// the kernel's default one and cannot be weighed (see `SchedulingGroup`).
    public var groupNice: Int32

    /// The user and group the agent runs as (supplementary groups cleared, no new
    /// privileges); nil runs it as the daemon's own.
    public var identity: AgentIdentity?

    public init(cgroupProcsFiles: [String] = [], cgroupDirectory: String? = nil, nice: Int32 = 0, groupNice: Int32 = 0, identity: AgentIdentity? = nil) {
        self.identity = identity
        self.groupNice = groupNice
        self.cgroupProcsFiles = cgroupProcsFiles
        self.cgroupDirectory = cgroupDirectory
        self.nice = nice
    }
}

/// Starts processes with posix_spawn (vfork speed) in a session of their own, so the
/// whole tree an agent starts can be signalled as one group.
public enum Spawner {
    public static func spawn(
        executable: String, argv: [String], environment: [String: String], workingDirectory: String,
        confinement: SpawnConfinement = SpawnConfinement()
    ) throws(SpawnError) -> SpawnedProcess {
        // A bare program name is looked up in the agent's own PATH, not the daemon's, and
        // as the agent's user would: a program only root can reach is passed over.
        let executable = try resolve(executable, path: environment["PATH"], forOtherUser: confinement.identity != nil)
        var out: [Int32] = [-1, -1]
        var err: [Int32] = [-1, -1]
        guard par_pipe(&out) == 0 else { throw .pipe(errno: errno) }
        guard par_pipe(&err) == 0 else {
            let e = errno
            close(out[0]); close(out[1])
            throw .pipe(errno: e)
        }
        let envStrings = environment.map { "\($0.key)=\($0.value)" }
        var stage: Int32 = 0
        var cgroupFD: Int32 = -1
        if let directory = confinement.cgroupDirectory {
            cgroupFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard cgroupFD >= 0 else {
                let e = errno
                close(out[0]); close(out[1]); close(err[0]); close(err[1])
                throw .setup(step: "open the agent's cgroup \(directory)", errno: e)
            }
        }
        defer { if cgroupFD >= 0 { close(cgroupFD) } }
        let pid: pid_t = withCStrings(argv) { cArgv in
            withCStrings(envStrings) { cEnv in
                withCStrings(confinement.cgroupProcsFiles) { cGroups in
                    par_spawn(executable, cArgv, cEnv, workingDirectory, out[1], err[1],
                              UnsafePointer(OpaquePointer(cGroups)), Int32(confinement.cgroupProcsFiles.count), cgroupFD, confinement.nice, confinement.groupNice,
                              confinement.identity.map { Int($0.uid) } ?? -1, confinement.identity.map { Int($0.gid) } ?? -1, &stage)
                }
            }
        }
        let spawnErrno = errno
        close(out[1])
        close(err[1])
        guard pid > 0 else {
            close(out[0]); close(err[0])
            switch stage {
            case 0 where cgroupFD >= 0: throw .setup(step: "start inside the agent's cgroup", errno: spawnErrno)
            case 1: throw .setup(step: "join the agent's cgroup", errno: spawnErrno)
            case 2: throw .setup(step: "set nice \(confinement.nice)", errno: spawnErrno)
            case 3: throw .setup(step: "connect stdin/stdout/stderr", errno: spawnErrno)
            case 4: throw .setup(step: "enter the working directory \(workingDirectory)", errno: spawnErrno)
            case 6: throw .setup(step: "become user \(confinement.identity.map { "\($0.uid):\($0.gid)" } ?? "?")", errno: spawnErrno)
            default: throw .exec(program: executable, errno: spawnErrno)
            }
        }
        let pidfd = par_pidfd_open(pid)
        guard pidfd >= 0 else {
            let e = errno
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            close(out[0]); close(err[0])
            throw .pidfd(errno: e)
        }
        return SpawnedProcess(pid: pid, pidfd: pidfd, stdoutFD: out[0], stderrFD: err[0])
    }

    static func resolve(_ program: String, path: String?, forOtherUser: Bool = false) throws(SpawnError) -> String {
        guard !program.contains("/") else { return program }
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            guard stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 else { continue }
            if !forOtherUser || runnableByOthers(candidate) { return candidate }
        }
        throw .exec(program: program, errno: ENOENT)
    }

    /// Whether a user that owns nothing on the machine (an agent's own uid) can run `path`:
    /// the program and every folder above it, links followed, allow others to execute.
    /// An interpreter under root's home (pyenv's shims) does not.
    public static func runnableByOthers(_ path: String) -> Bool {
        guard let resolved = realpath(path, nil) else { return false }
        let real = String(cString: resolved)
        free(resolved)
        var info = stat()
        guard stat(real, &info) == 0, info.st_mode & S_IXOTH != 0 else { return false }
        return folderClosedToOthers(above: real) == nil
    }

    /// The first existing folder above `path` (up to `/`) that users other than its owner
    /// cannot enter, if any: an agent of its own uid cannot reach `path` through it.
    public static func folderClosedToOthers(above path: String) -> String? {
        var current = (path as NSString).deletingLastPathComponent
        while !current.isEmpty {
            var info = stat()
            if stat(current, &info) == 0, info.st_mode & S_IXOTH == 0 { return current }
            if current == "/" { return nil }
            current = (current as NSString).deletingLastPathComponent
        }
        return nil
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
