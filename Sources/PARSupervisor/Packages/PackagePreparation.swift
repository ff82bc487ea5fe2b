import Foundation
import PARCore
import PARPackages
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Checking a package path and unpacking it: slow work done before the table is touched.
extension Supervisor {
    struct Prepared: Sendable {
        var packageID: String
        var manifest: Manifest
        var directory: URL
        /// SHA-256 of the package file: equal bytes, equal digest.
        var digest: String
        /// What pip installs for it (empty: nothing; also for `command:` packages).
        var requirements: Requirements
    }

    /// Checks the path, unpacks and reads the manifest: slow work done before the table is touched.
    /// With `cache`, a package file that has not changed since it was last prepared is not
    /// read again (a reload of a file naming 100 agents, a daemon restoring them).
    nonisolated static func prepare(_ spec: AgentSpec, config: SupervisorConfig, extractor: PackageExtractor, cache: PreparedPackages? = nil) async throws(SupervisorError) -> Prepared {
        // Links are resolved in full before the check, so no link inside an allowed
        // directory can lead to a package outside it.
        let allowed = config.packageDirectories
        let lexical = URL(fileURLWithPath: spec.packagePath).standardizedFileURL.path
        guard allowed.contains(where: { lexical.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
            throw .package(.outsideAllowedDirectories(path: spec.packagePath, allowed: allowed))
        }
        guard let resolved = Self.realPath(spec.packagePath) else {
            throw .package(.unreadable(path: spec.packagePath, reason: "no such file"))
        }
        let inside = allowed.compactMap(Self.realPath).contains { dir in resolved.hasPrefix(dir == "/" ? "/" : dir + "/") }
        guard inside else { throw .package(.outsideAllowedDirectories(path: spec.packagePath, allowed: allowed)) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .package(.unreadable(path: spec.packagePath, reason: "it is a directory; give the .apkg file"))
        }
        // Taken before reading: if the file changes while it is read, the next prepare
        // sees another identity and reads it again.
        let identity = PreparedPackages.Identity(path: resolved)
        if let identity, let known = cache?.lookup(resolved, identity: identity), extractor.isIntact(directory: known.directory, digest: known.digest) {
            return Prepared(packageID: spec.packageID ?? known.manifest.packageID, manifest: known.manifest, directory: known.directory, digest: known.digest, requirements: known.requirements)
        }
        // Hashing and unpacking read and write whole files: done on a thread of its own so
        // a large package never holds one of the few cooperative-pool threads.
        let result = await onOwnThread { () -> Result<Prepared, PackageError> in
            do throws(PackageError) {
                let (directory, digest) = try extractor.extract(archivePath: resolved)
                let manifest = try Manifest.load(fromDirectory: directory)
                let requirements = try Self.requirements(of: manifest, in: directory)
                return .success(Prepared(packageID: spec.packageID ?? manifest.packageID, manifest: manifest, directory: directory, digest: digest, requirements: requirements))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let prepared):
            // A file changed within the last moments could change again without its times
            // moving (git's "racy" entries): only files that have settled are remembered.
            if let identity, identity.settled(before: Date().timeIntervalSince1970 - 2), PreparedPackages.Identity(path: resolved) == identity {
                cache?.store(resolved, identity: identity, prepared)
            }
            return prepared
        case .failure(let error): throw .package(error)
        }
    }

    /// For `par serve --check-config`: why the package of `spec` cannot run, or nil.
    /// It is unpacked into `scratch`, never into the daemon's cache.
    public nonisolated static func checkPackage(_ spec: AgentSpec, config: SupervisorConfig, scratch: URL) async -> String? {
        let extractor = PackageExtractor(cacheRoot: scratch, limits: config.extractionLimits)
        do {
            _ = try await prepare(spec, config: config, extractor: extractor)
            return nil
        } catch {
            return error.description
        }
    }

    /// A Python package's `dependencies:` and `requirements.txt` together, checked. A
    /// `command:` package runs as it is: its files are not read for requirements.
    nonisolated static func requirements(of manifest: Manifest, in directory: URL) throws(PackageError) -> Requirements {
        guard manifest.command == nil, (manifest.runtime ?? "python3").hasPrefix("python") else {
            return try Requirements(dependencies: [], requirementsFile: nil)
        }
        let file = directory.appendingPathComponent("requirements.txt")
        var text: String?
        if let attributes = try? FileManager.default.attributesOfItem(atPath: file.path), attributes[.type] as? FileAttributeType == .typeRegular {
            guard let size = attributes[.size] as? NSNumber, size.intValue <= 256 * 1024 else {
                throw .invalidManifest(reason: "requirements.txt is larger than 256 KiB")
            }
            do {
                text = try String(contentsOf: file, encoding: .utf8)
            } catch {
                throw .invalidManifest(reason: "requirements.txt is not readable UTF-8 text")
            }
        }
        let requirements = try Requirements(dependencies: manifest.dependencies, requirementsFile: text)
        try LaunchPlan.checkSurfaceDependencies(manifest, requirements: requirements)
        return requirements
    }

    nonisolated static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// Runs blocking work on a new thread and awaits its result. The caller stays suspended
/// until the thread finishes, so the work is owned like any child task.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: work()) }
        thread.name = "par-blocking"
        thread.start()
    }
}

/// Packages already hashed, unpacked and read, by path and file identity (device, inode,
/// size, modification and change times, as git's index does): an unchanged file is not
/// hashed and its manifest not parsed again. A rewritten or replaced file, or an unpacked
/// folder that is gone, is read again.
final class PreparedPackages: Sendable {
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64

        init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
            size = Int64(info.st_size)
            modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        }

        /// Neither modified nor changed after `seconds` (since the epoch).
        func settled(before seconds: Double) -> Bool {
            let limit = Int64(seconds * 1e9)
            return modified < limit && changed < limit
        }
    }

    /// Beyond this many paths the cache starts over (a deploy naming a new file each time).
    static let capacity = 1024

    private struct Entry {
        var identity: Identity
        var prepared: Supervisor.Prepared
    }

    private let entries = Mutex<[String: Entry]>([:])

    func lookup(_ path: String, identity: Identity) -> Supervisor.Prepared? {
        // The unpacked folder must still hold its manifest (a folder emptied or removed is unpacked again).
        guard let entry = entries.withLock({ $0[path] }), entry.identity == identity,
              FileManager.default.fileExists(atPath: entry.prepared.directory.appendingPathComponent("agent.yaml").path)
        else { return nil }
        return entry.prepared
    }

    func store(_ path: String, identity: Identity, _ prepared: Supervisor.Prepared) {
        entries.withLock { entries in
            if entries.count >= Self.capacity, entries[path] == nil { entries.removeAll() }
            entries[path] = Entry(identity: identity, prepared: prepared)
        }
    }
}
