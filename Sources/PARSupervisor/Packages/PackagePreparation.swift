import Foundation
import PARCore
import PARPackages

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
    }

    /// Checks the path, unpacks and reads the manifest: slow work done before the table is touched.
    nonisolated static func prepare(_ spec: AgentSpec, config: SupervisorConfig, extractor: PackageExtractor) async throws(SupervisorError) -> Prepared {
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
        // Hashing and unpacking read and write whole files: done on a thread of its own so
        // a large package never holds one of the few cooperative-pool threads.
        let result = await onOwnThread { () -> Result<Prepared, PackageError> in
            do throws(PackageError) {
                let (directory, digest) = try extractor.extract(archivePath: resolved)
                let manifest = try Manifest.load(fromDirectory: directory)
                return .success(Prepared(packageID: spec.packageID ?? manifest.packageID, manifest: manifest, directory: directory, digest: digest))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let prepared): return prepared
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
