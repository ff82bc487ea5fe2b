import Foundation
import PARCore
import PARProcess

#if canImport(Glibc)
import Glibc
#endif

/// What an agent may reach. With `--agent-users` (the daemon as root) each agent runs as
/// a uid of its own, in a folder of its own (`<data>/agents/<id>`: HOME, TMPDIR below it),
/// and the data dir is laid out so that is all it can write: its package and environment
/// are read-only to it, the token, the databases and other agents' folders are closed.
/// Without it agents share the daemon's user, and only the layout and the folder apply.
extension Supervisor {
    /// `<data>/agents/<id>`, kept across restarts.
    nonisolated func workDirectory(for agentID: AgentID) -> URL {
        config.agentsDirectory.appendingPathComponent(agentID.rawValue, isDirectory: true)
    }

    /// Takes the agent's uid (the one its folder already belongs to, when free) and readies
    /// the folder, owned by that uid and closed to everyone else.
    func takeIdentity(_ agentID: AgentID) throws(SupervisorError) -> (identity: AgentIdentity?, workDirectory: String) {
        let directory = workDirectory(for: agentID).path
        var identity: AgentIdentity?
        if let identities {
            guard let taken = identities.take(preferring: Self.owner(of: directory)) else {
                throw .internalFailure("every agent uid of \(identities.range.lowerBound)-\(identities.range.upperBound) is in use (by this daemon's agents and installs, or another daemon's) or named in the password database; widen par serve --agent-users, or give each daemon a range of its own")
            }
            identity = taken
        }
        do {
            try Self.makePrivateDirectory(directory, for: identity)
        } catch {
            if let identity { releaseIdentity(identity) }
            throw .internalFailure("cannot prepare the folder of \(agentID.processID): \(error)")
        }
        return (identity, directory)
    }

    func releaseIdentity(_ record: inout AgentRecord) {
        if let identity = record.identity { releaseIdentity(identity) }
        record.identity = nil
    }

    func releaseIdentity(_ identity: AgentIdentity) {
        identities?.release(identity)
    }

    nonisolated static func owner(of path: String) -> UInt32? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return info.st_uid
    }

    struct FolderError: Error, CustomStringConvertible {
        var path: String
        var step: String
        var code: Int32
        var description: String { "\(step) \(path): \(String(cString: strerror(code)))" }
    }

    /// The folder and its `tmp/`, mode 0700, owned by the agent (every file in it too, when
    /// it changed hands since the last run).
    nonisolated static func makePrivateDirectory(_ path: String, for identity: AgentIdentity?) throws(FolderError) {
        let parent = (path as NSString).deletingLastPathComponent
        if mkdir(parent, 0o711) != 0 && errno != EEXIST { throw FolderError(path: parent, step: "mkdir", code: errno) }
        for directory in [path, path + "/tmp"] {
            if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw FolderError(path: directory, step: "mkdir", code: errno) }
        }
        guard let identity else { return }
        if owner(of: path) != identity.uid || owner(of: path + "/tmp") != identity.uid {
            try changeOwner(below: path, to: identity)
        }
    }

    /// `chown -R` without following links (an agent's link to /etc must not hand it /etc).
    nonisolated static func changeOwner(below root: String, to identity: AgentIdentity) throws(FolderError) {
        var pending = [root]
        while let path = pending.popLast() {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if lchown(path, identity.uid, identity.gid) != 0 { throw FolderError(path: path, step: "chown", code: errno) }
            if (info.st_mode & S_IFMT) == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                pending.append(contentsOf: names.map { path + "/" + $0 })
            }
        }
    }

    /// Modes of the data dir's folders: agents may pass through the data dir, the package
    /// cache, the environments and the worker's folder (0711: no listing) and read what
    /// is inside; the token, the databases and the pid files are the daemon's alone.
    nonisolated static func layOutPermissions(_ config: SupervisorConfig) {
        let traversable = [config.dataDirectory, config.dataDirectory.appendingPathComponent("cache"), config.packageCache,
                           config.runtimeDirectory, config.environmentsDirectory, config.agentsDirectory]
        for directory in traversable {
            mkdir(directory.path, 0o711)
            chmod(directory.path, 0o711)
        }
        for closed in [config.pidDirectory, config.stateDatabase.deletingLastPathComponent(), config.logDatabase.deletingLastPathComponent(),
                       config.pipCacheDirectory, config.packageFingerprints] {
            mkdir(closed.path, 0o700)
            chmod(closed.path, 0o700)
        }
    }
}
