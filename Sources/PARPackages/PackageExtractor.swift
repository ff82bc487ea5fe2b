import Foundation
import ZIPFoundation

#if canImport(Glibc)
import Glibc
#endif

/// Unpacks APKG archives into a content-addressed cache (`<root>/<sha256>`), refusing
/// anything that could write outside it: absolute or `..` paths, links that lead out,
/// too many entries or bytes (zip bombs). Setuid, setgid and sticky bits are dropped;
/// other permission bits are kept so executables stay executable.
public struct PackageExtractor: Sendable {
    public struct Limits: Sendable {
        public var maxEntries: Int
        public var maxTotalBytes: UInt64
        public init(maxEntries: Int = 10_000, maxTotalBytes: UInt64 = 1 << 30) {
            self.maxEntries = maxEntries
            self.maxTotalBytes = maxTotalBytes
        }
    }

    public let cacheRoot: URL
    public let limits: Limits
    /// Where each unpacked folder's fingerprint is kept (a folder agents cannot write);
    /// nil keeps none and trusts the folder as found.
    public let fingerprints: URL?
    /// Told when an unpacked folder changed since it was unpacked and was set aside.
    public let onTampered: @Sendable (String) -> Void

    public init(cacheRoot: URL, limits: Limits = Limits(), fingerprints: URL? = nil, onTampered: @escaping @Sendable (String) -> Void = { _ in }) {
        self.cacheRoot = cacheRoot
        self.limits = limits
        self.fingerprints = fingerprints
        self.onTampered = onTampered
    }

    /// Extracts `archivePath` (or reuses an earlier extraction of the same bytes) and
    /// returns the directory. On any error nothing is left on disk.
    public func extract(archivePath: String) throws(PackageError) -> (directory: URL, sha256: String) {
        let digest: String
        do {
            digest = try SHA256.hex(ofFileAt: archivePath)
        } catch {
            throw .unreadable(path: archivePath, reason: Self.describe(error))
        }
        let destination = cacheRoot.appendingPathComponent(digest, isDirectory: true)
        if FileManager.default.fileExists(atPath: destination.appendingPathComponent("agent.yaml").path) {
            if isIntact(directory: destination, digest: digest) { return (destination, digest) }
            setAside(destination, digest: digest)
        }
        let staging = cacheRoot.appendingPathComponent(".staging-\(digest.prefix(16))-\(UUID().uuidString)", isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        } catch {
            throw .unreadable(path: cacheRoot.path, reason: "cannot create the package cache: \(Self.describe(error))")
        }
        do {
            try unpack(archivePath: archivePath, into: staging)
            guard FileManager.default.fileExists(atPath: staging.appendingPathComponent("agent.yaml").path) else {
                throw PackageError.invalidManifest(reason: "the archive has no agent.yaml at its root")
            }
            if rename(staging.path, destination.path) != 0 {
                // Another spawn of the same package won the race: use its copy.
                guard FileManager.default.fileExists(atPath: destination.appendingPathComponent("agent.yaml").path) else {
                    throw PackageError.unreadable(path: destination.path, reason: String(cString: strerror(errno)))
                }
                try? FileManager.default.removeItem(at: staging)
            }
            recordFingerprint(of: destination, digest: digest)
        } catch let error as PackageError {
            try? FileManager.default.removeItem(at: staging)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw .invalidArchive(reason: Self.describe(error))
        }
        return (destination, digest)
    }

    // MARK: Tamper checks

    /// Whether the unpacked folder is as it was unpacked: every path, type, mode, size and
    /// change time (which no write can leave unchanged) against the fingerprint taken then.
    /// A folder with no fingerprint yet (unpacked by an older daemon) gets one now.
    public func isIntact(directory: URL, digest: String) -> Bool {
        guard let fingerprints else { return true }
        let file = fingerprints.appendingPathComponent(digest)
        guard let stored = try? String(contentsOf: file, encoding: .utf8) else {
            recordFingerprint(of: directory, digest: digest)
            return true
        }
        return stored == Self.fingerprint(of: directory)
    }

    private func recordFingerprint(of directory: URL, digest: String) {
        guard let fingerprints else { return }
        try? FileManager.default.createDirectory(at: fingerprints, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? Self.fingerprint(of: directory).write(to: fingerprints.appendingPathComponent(digest), atomically: true, encoding: .utf8)
    }

    /// Moves a changed folder out of the way (agents still running in it keep it) and says so.
    private func setAside(_ directory: URL, digest: String) {
        let aside = cacheRoot.appendingPathComponent(".tampered-\(digest.prefix(16))-\(UUID().uuidString)")
        if rename(directory.path, aside.path) == 0 {
            onTampered("the unpacked package \(digest.prefix(16)) was changed after it was unpacked (an agent wrote into it?); it was set aside at \(aside.path) and is unpacked again from the archive")
        }
    }

    /// Removes folders set aside by `setAside` (at start, when no agent runs from them).
    public func removeSetAside() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cacheRoot.path)) ?? []
        for name in names where name.hasPrefix(".tampered-") {
            try? FileManager.default.removeItem(at: cacheRoot.appendingPathComponent(name))
        }
    }

    /// SHA-256 over each entry's relative path, type and mode, size and change time, in order.
    public static func fingerprint(of directory: URL) -> String {
        var lines: [String] = []
        var pending = [""]
        while let relative = pending.popLast() {
            let path = relative.isEmpty ? directory.path : directory.path + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            lines.append("\(relative)\t\(info.st_mode)\t\(info.st_size)\t\(info.st_ctim.tv_sec).\(info.st_ctim.tv_nsec)")
            if (info.st_mode & S_IFMT) == S_IFDIR, let names = try? FileManager.default.contentsOfDirectory(atPath: path) {
                pending.append(contentsOf: names.map { relative.isEmpty ? $0 : relative + "/" + $0 })
            }
        }
        return SHA256.hex(of: Array(lines.sorted().joined(separator: "\n").utf8))
    }

    private func unpack(archivePath: String, into root: URL) throws {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: archivePath), accessMode: .read)
        } catch {
            throw PackageError.invalidArchive(reason: "\(archivePath) is not a zip file (\(Self.describe(error)))")
        }
        try checkDeclaredSizes(archive)
        var entryCount = 0
        var totalBytes: UInt64 = 0
        var links: [(path: String, target: String)] = []
        for entry in archive {
            entryCount += 1
            guard entryCount <= limits.maxEntries else {
                throw PackageError.invalidArchive(reason: "more than \(limits.maxEntries) entries")
            }
            let relative = try Self.safeRelativePath(entry.path)
            guard !relative.isEmpty else { continue }
            let target = root.appendingPathComponent(relative)
            let mode = Self.safeMode(entry.fileAttributes[.posixPermissions] as? NSNumber, type: entry.type)
            switch entry.type {
            case .directory:
                try Self.makeDirectories(root: root, relative: relative, mode: mode)
            case .symlink:
                guard entry.uncompressedSize <= 4096 else {
                    throw PackageError.invalidArchive(reason: "link \(entry.path) has a target longer than 4096 bytes")
                }
                totalBytes += entry.uncompressedSize
                var data = Data()
                _ = try archive.extract(entry, skipCRC32: true) { data.append($0) }
                guard let destination = String(data: data, encoding: .utf8), !destination.isEmpty, !destination.contains("\0") else {
                    throw PackageError.invalidArchive(reason: "link \(entry.path) has an unreadable target")
                }
                try Self.checkLink(path: relative, target: destination)
                links.append((relative, destination))
            case .file:
                if let parent = Self.parent(of: relative) {
                    try Self.makeDirectories(root: root, relative: parent, mode: 0o755)
                }
                let fd = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(0o600))
                guard fd >= 0 else {
                    throw PackageError.invalidArchive(reason: "cannot write \(entry.path): \(String(cString: strerror(errno))) (duplicate entry?)")
                }
                defer { close(fd) }
                let limit = limits.maxTotalBytes
                _ = try archive.extract(entry) { chunk in
                    totalBytes += UInt64(chunk.count)
                    guard totalBytes <= limit else {
                        throw PackageError.invalidArchive(reason: "unpacks to more than \(limit) bytes (zip bomb?)")
                    }
                    try chunk.withUnsafeBytes { raw in
                        var offset = 0
                        while offset < raw.count {
                            let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                            guard written > 0 else {
                                throw PackageError.invalidArchive(reason: "cannot write \(entry.path): \(String(cString: strerror(errno)))")
                            }
                            offset += written
                        }
                    }
                }
                fchmod(fd, mode)
            }
        }
        // Links last, so no file above was written through one.
        for link in links {
            if let parent = Self.parent(of: link.path) {
                try Self.makeDirectories(root: root, relative: parent, mode: 0o755)
            }
            guard symlink(link.target, root.appendingPathComponent(link.path).path) == 0 else {
                throw PackageError.invalidArchive(reason: "cannot create link \(link.path): \(String(cString: strerror(errno)))")
            }
        }
        // The lexical check above cannot see links chained through other links
        // (`self -> .`, `up -> self/..`): ask the kernel where each one really leads.
        guard let realRoot = Self.realPath(root.path) else {
            throw PackageError.invalidArchive(reason: "cannot resolve the extraction folder")
        }
        for link in links {
            guard let target = Self.realPath(root.appendingPathComponent(link.path).path) else {
                throw PackageError.invalidArchive(reason: "link \(link.path) points to nothing inside the package (\(link.target))")
            }
            guard target == realRoot || target.hasPrefix(realRoot + "/") else {
                throw PackageError.invalidArchive(reason: "link \(link.path) points outside the package (\(link.target))")
            }
        }
    }

    /// Normalises an entry path; refuses absolute paths, `..` and NUL.
    static func safeRelativePath(_ path: String) throws -> String {
        guard !path.hasPrefix("/"), !path.contains("\0"), !path.contains("\\") else {
            throw PackageError.invalidArchive(reason: "entry \(path.debugDescription) has an absolute or unsafe path")
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            guard part != ".." else {
                throw PackageError.invalidArchive(reason: "entry \(path.debugDescription) leaves the package with '..'")
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// A link may only point, after resolving `..` lexically from its own folder, inside the package.
    static func checkLink(path: String, target: String) throws {
        guard !target.hasPrefix("/") else {
            throw PackageError.invalidArchive(reason: "link \(path) points to the absolute path \(target)")
        }
        var stack = path.split(separator: "/").dropLast().map(String.init)
        for part in target.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                guard !stack.isEmpty else {
                    throw PackageError.invalidArchive(reason: "link \(path) points outside the package (\(target))")
                }
                stack.removeLast()
            } else {
                stack.append(String(part))
            }
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func parent(of relative: String) -> String? {
        guard let slash = relative.lastIndex(of: "/") else { return nil }
        return String(relative[..<slash])
    }

    /// Creates each folder with mkdir (never following a link), so nothing lands outside `root`.
    private static func makeDirectories(root: URL, relative: String, mode: mode_t) throws {
        var current = root.path
        for part in relative.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 {
                guard errno == EEXIST else {
                    throw PackageError.invalidArchive(reason: "cannot create folder \(relative): \(String(cString: strerror(errno)))")
                }
                var info = stat()
                guard lstat(current, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
                    throw PackageError.invalidArchive(reason: "\(relative) is both a file and a folder in the archive")
                }
            }
        }
        chmod(current, mode | 0o700)
    }

    /// A zip bomb is refused from the central directory's declared sizes, before a byte is
    /// written; the sizes are checked again while writing (a lying archive stops there).
    private func checkDeclaredSizes(_ archive: Archive) throws {
        var entries = 0
        var declared: UInt64 = 0
        for entry in archive {
            entries += 1
            guard entries <= limits.maxEntries else {
                throw PackageError.invalidArchive(reason: "more than \(limits.maxEntries) entries")
            }
            declared += entry.uncompressedSize
            guard declared <= limits.maxTotalBytes else {
                throw PackageError.invalidArchive(reason: "its entries declare more than \(limits.maxTotalBytes) bytes unpacked (zip bomb?); nothing was written")
            }
        }
    }

    /// Owner read-write, everyone else read-only: an agent (another user when the daemon
    /// runs as root) can read and run its package but never change it. Executable bits
    /// are kept; setuid, setgid and sticky bits are dropped.
    static func safeMode(_ permissions: NSNumber?, type: Entry.EntryType) -> mode_t {
        if type == .directory { return 0o755 }
        guard let permissions else { return 0o644 }
        let bits = mode_t(permissions.uint16Value) & 0o777
        return bits & 0o111 != 0 ? 0o755 : 0o644
    }

    static func describe(_ error: Error) -> String {
        if let packageError = error as? PackageError { return packageError.description }
        return (error as NSError).localizedDescription
    }
}
