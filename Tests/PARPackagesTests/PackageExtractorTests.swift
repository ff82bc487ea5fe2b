import Foundation
import PARPackages
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Each test gets its own temp dir: `input/` for archives, `cache/` as the extractor's cache root.
struct ExtractionSandbox {
    let directory: TemporaryDirectory
    var cacheRoot: URL { directory.path("cache") }
    var input: URL { directory.path("input") }

    init() throws {
        directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
    }

    func remove() { directory.remove() }

    func write(_ builder: APKGBuilder, name: String = "package.apkg") throws -> String {
        let url = input.appendingPathComponent(name)
        try builder.write(to: url)
        return url.path
    }

    func extractor(_ limits: PackageExtractor.Limits = .init()) -> PackageExtractor {
        PackageExtractor(cacheRoot: cacheRoot, limits: limits)
    }

    /// What the cache root holds (nothing, or not even the folder, after a refused archive).
    func cacheContents() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: cacheRoot.path))?.sorted() ?? []
    }

    /// Every path under the sandbox outside `input/` and the cache: where an escaping entry would land.
    func strayPaths() -> [String] {
        directory.allRelativePaths().filter { $0 != "input" && !$0.hasPrefix("input/") && $0 != "cache" && !$0.hasPrefix("cache/") }
    }
}

let manifestYAML = "name: demo\nversion: 1.0.0\ncommand: [\"./run.sh\"]\n"

func demoPackage(_ extra: [APKGBuilder.Item] = []) -> APKGBuilder {
    APKGBuilder(items: [
        .file(path: "agent.yaml", contents: manifestYAML),
        .file(path: "run.sh", contents: "#!/bin/sh\necho hi\n", permissions: 0o755),
        .directory(path: "data"),
        .file(path: "data/config.json", contents: "{\"a\": 1}"),
        .file(path: "src/deep/module.py", contents: "x = 1\n"),
    ] + extra)
}

/// Runs `body` and returns the PackageError it threw (nil if it threw nothing; any other error is recorded).
func packageError(_ body: () throws -> Void) -> PackageError? {
    do {
        try body()
        return nil
    } catch let error as PackageError {
        return error
    } catch {
        Issue.record("expected a PackageError, got \(error)")
        return nil
    }
}

func isInvalidArchive(_ error: PackageError?) -> Bool {
    if case .invalidArchive = error { return true }
    return false
}

@Suite("PackageExtractor")
struct PackageExtractorTests {
    // MARK: normal packages

    @Test func aNormalPackageIsExtractedWithAllItsFiles() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage())
        let result = try sandbox.extractor().extract(archivePath: archive)
        #expect(try String(contentsOf: result.directory.appendingPathComponent("agent.yaml"), encoding: .utf8) == manifestYAML)
        #expect(try String(contentsOf: result.directory.appendingPathComponent("data/config.json"), encoding: .utf8) == "{\"a\": 1}")
        #expect(try String(contentsOf: result.directory.appendingPathComponent("src/deep/module.py"), encoding: .utf8) == "x = 1\n")
    }

    @Test func theDirectoryIsNamedByTheArchivesSHA256UnderTheCacheRoot() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage())
        let result = try sandbox.extractor().extract(archivePath: archive)
        #expect(result.sha256 == (try SHA256.hex(ofFileAt: archive)))
        #expect(result.directory.standardizedFileURL.path == sandbox.cacheRoot.appendingPathComponent(result.sha256).standardizedFileURL.path)
    }

    @Test func aSecondExtractionReusesTheSameDirectory() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage())
        let extractor = sandbox.extractor()
        let first = try extractor.extract(archivePath: archive)
        let marker = first.directory.appendingPathComponent("marker-left-by-test")
        try Data().write(to: marker)
        let second = try extractor.extract(archivePath: archive)
        #expect(second.directory == first.directory)
        #expect(second.sha256 == first.sha256)
        #expect(FileManager.default.fileExists(atPath: marker.path), "the second extraction unpacked again instead of reusing")
    }

    @Test func noStagingDirectoryIsLeftAfterSuccess() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let result = try sandbox.extractor().extract(archivePath: try sandbox.write(demoPackage()))
        #expect(sandbox.cacheContents() == [result.sha256])
    }

    @Test func theExecutableBitIsKept() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let result = try sandbox.extractor().extract(archivePath: try sandbox.write(demoPackage()))
        let script = result.directory.appendingPathComponent("run.sh")
        #expect(try posixPermissions(script) & 0o777 == 0o755)
        #expect(FileManager.default.isExecutableFile(atPath: script.path))
    }

    @Test func anOrdinaryFileStaysNonExecutable() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let result = try sandbox.extractor().extract(archivePath: try sandbox.write(demoPackage()))
        #expect(try posixPermissions(result.directory.appendingPathComponent("data/config.json")) & 0o111 == 0)
    }

    @Test(arguments: [UInt16(0o4755), 0o2755, 0o1755, 0o7755])
    func setuidSetgidAndStickyBitsAreDropped(mode: UInt16) throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: "bin/tool", contents: "#!/bin/sh\n", permissions: mode)]))
        let result = try sandbox.extractor().extract(archivePath: archive)
        #expect(try posixPermissions(result.directory.appendingPathComponent("bin/tool")) == 0o755)
    }

    @Test func aLinkInsideThePackageIsKept() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.symlink(path: "src/config-link.json", target: "../data/config.json")]))
        let result = try sandbox.extractor().extract(archivePath: archive)
        let link = result.directory.appendingPathComponent("src/config-link.json")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link.path) == "../data/config.json")
        #expect(try String(contentsOf: link, encoding: .utf8) == "{\"a\": 1}")
    }

    // MARK: escapes

    @Test(arguments: ["../evil.txt", "data/../../evil.txt", "./../evil.txt"])
    func anEntryThatClimbsOutWithDotDotIsRefused(path: String) throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: path, contents: "pwned")]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [], "a staging or package directory was left behind")
        #expect(sandbox.strayPaths() == [], "something was written outside the cache root")
    }

    @Test func anAbsoluteEntryPathIsRefused() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let target = sandbox.directory.path("absolute-evil.txt")
        let archive = try sandbox.write(demoPackage([.file(path: target.path, contents: "pwned")]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: target.path))
        #expect(sandbox.cacheContents() == [])
    }

    @Test(arguments: ["../../etc/passwd", "/etc/passwd", "../outside", "a/../../outside", "src/../../outside"])
    func aLinkPointingOutsideThePackageIsRefused(target: String) throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.symlink(path: "link", target: target)]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [])
    }

    @Test func aNestedLinkMayClimbOnlyAsFarAsThePackageRoot() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.symlink(path: "src/deep/up", target: "../../../outside")]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
    }

    /// `self -> .` passes the lexical check, and so does `up -> self/..`; but the kernel
    /// resolves `self/..` to the parent of the package directory: the cache root.
    @Test
    func aLinkThatLeavesThroughAnotherLinkIsRefused() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([
            .symlink(path: "self", target: "."),
            .symlink(path: "up", target: "self/.."),
        ]))
        do {
            let result = try sandbox.extractor().extract(archivePath: archive)
            let package = result.directory.resolvingSymlinksInPath().path
            let resolved = result.directory.appendingPathComponent("up").resolvingSymlinksInPath().path
            #expect(resolved == package || resolved.hasPrefix(package + "/"), "up resolves to \(resolved), outside \(package)")
        } catch {
            #expect(isInvalidArchive(error), "\(error)")
        }
    }

    // MARK: limits

    @Test func moreEntriesThanTheLimitIsRefused() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let items: [APKGBuilder.Item] = [.file(path: "agent.yaml", contents: manifestYAML)] + (1...5).map { .file(path: "f\($0).txt", contents: "x") }
        let archive = try sandbox.write(APKGBuilder(items: items))
        let error = packageError { _ = try sandbox.extractor(.init(maxEntries: 5)).extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [])
    }

    @Test func exactlyTheEntryLimitIsAccepted() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let items: [APKGBuilder.Item] = [.file(path: "agent.yaml", contents: manifestYAML)] + (1...5).map { .file(path: "f\($0).txt", contents: "x") }
        let archive = try sandbox.write(APKGBuilder(items: items))
        let result = try sandbox.extractor(.init(maxEntries: 6)).extract(archivePath: archive)
        #expect(FileManager.default.fileExists(atPath: result.directory.appendingPathComponent("f5.txt").path))
    }

    @Test func anArchiveThatUnpacksBeyondMaxTotalBytesIsRefused() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: "bomb.txt", contents: String(repeating: "a", count: 5_000_000))]))
        let archiveSize = try #require(try FileManager.default.attributesOfItem(atPath: archive)[.size] as? NSNumber).intValue
        try #require(archiveSize < 100_000, "the test archive should be a small zip bomb, is \(archiveSize) bytes")
        let error = packageError { _ = try sandbox.extractor(.init(maxTotalBytes: 1 << 20)).extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [])
    }

    @Test func aZipBombIsRefusedFromItsDeclaredSizesBeforeAnythingIsWritten() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let url = sandbox.input.appendingPathComponent("bomb.apkg")
        try ZipBomb.write(to: url, uncompressedMiB: 64)
        let started = Date()
        let error = packageError { _ = try sandbox.extractor(.init(maxTotalBytes: 1 << 20)).extract(archivePath: url.path) }
        #expect(error?.description.contains("declare more than 1048576 bytes") == true, "\(String(describing: error))")
        #expect(Date().timeIntervalSince(started) < 2, "refused without inflating anything")
        #expect(sandbox.cacheContents() == [])
    }

    @Test(arguments: [(UInt16(0o666), 0o644), (0o777, 0o755), (0o600, 0o644), (0o700, 0o755), (0o646, 0o644)])
    func filesAreReadOnlyToEveryoneButTheDaemon(zipMode: UInt16, expected: Int) throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: "data/file", contents: "x", permissions: zipMode)]))
        let result = try sandbox.extractor().extract(archivePath: archive)
        #expect(try posixPermissions(result.directory.appendingPathComponent("data/file")) & 0o7777 == expected)
        #expect(try posixPermissions(result.directory.appendingPathComponent("data")) & 0o7777 == 0o755)
    }

    @Test func anArchiveWithinMaxTotalBytesIsAccepted() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: "big.txt", contents: String(repeating: "a", count: 500_000))]))
        let result = try sandbox.extractor(.init(maxTotalBytes: 1 << 20)).extract(archivePath: archive)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: result.directory.appendingPathComponent("big.txt").path)[.size] as? NSNumber)
        #expect(size.intValue == 500_000)
    }

    // MARK: not a package

    @Test func aFileThatIsNotAZipIsAnInvalidArchive() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let path = sandbox.input.appendingPathComponent("fake.apkg")
        try Data("this is not a zip file, just text\n".utf8).write(to: path)
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: path.path) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [])
    }

    @Test func anArchiveWithoutAgentYAMLIsAnInvalidManifest() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(APKGBuilder(items: [.file(path: "src/main.py", contents: "x = 1\n")]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        guard case .invalidManifest = error else {
            Issue.record("expected invalidManifest, got \(String(describing: error))")
            return
        }
        #expect(sandbox.cacheContents() == [])
    }

    @Test func agentYAMLOnlyInASubfolderDoesNotCount() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(APKGBuilder(items: [.file(path: "inner/agent.yaml", contents: manifestYAML)]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        guard case .invalidManifest = error else {
            Issue.record("expected invalidManifest, got \(String(describing: error))")
            return
        }
    }

    @Test func aMissingArchiveIsUnreadable() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: sandbox.input.appendingPathComponent("missing.apkg").path) }
        guard case .unreadable = error else {
            Issue.record("expected unreadable, got \(String(describing: error))")
            return
        }
    }

    @Test func aDuplicateFileEntryIsRefused() throws {
        let sandbox = try ExtractionSandbox()
        defer { sandbox.remove() }
        let archive = try sandbox.write(demoPackage([.file(path: "run.sh", contents: "#!/bin/sh\necho replaced\n", permissions: 0o755)]))
        let error = packageError { _ = try sandbox.extractor().extract(archivePath: archive) }
        #expect(isInvalidArchive(error), "\(String(describing: error))")
        #expect(sandbox.cacheContents() == [])
    }
}

/// An unpacked package is checked against the fingerprint taken when it was unpacked
/// before each reuse: a changed one is set aside and unpacked again.
@Suite("Unpacked packages are verified before reuse")
struct TamperCheckTests {
    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [String] = []
        func add(_ message: String) { lock.withLock { messages.append(message) } }
        var all: [String] { lock.withLock { messages } }
    }

    private func setUp() throws -> (ExtractionSandbox, PackageExtractor, String, Reports) {
        let sandbox = try ExtractionSandbox()
        let archive = try sandbox.write(demoPackage([.file(path: "tool.sh", contents: "#!/bin/sh\necho original\n", permissions: 0o755)]))
        let reports = Reports()
        let extractor = PackageExtractor(cacheRoot: sandbox.cacheRoot, fingerprints: sandbox.directory.path("fingerprints"), onTampered: { reports.add($0) })
        return (sandbox, extractor, archive, reports)
    }

    @Test func anUnchangedFolderIsReusedAsItIs() throws {
        let (sandbox, extractor, archive, reports) = try setUp()
        defer { sandbox.remove() }
        let first = try extractor.extract(archivePath: archive)
        let second = try extractor.extract(archivePath: archive)
        #expect(first.directory == second.directory)
        #expect(reports.all.isEmpty)
        #expect(extractor.isIntact(directory: first.directory, digest: first.sha256))
    }

    @Test(arguments: ["append", "add", "remove", "chmod"])
    func aChangedFolderIsSetAsideAndUnpackedAgain(change: String) throws {
        let (sandbox, extractor, archive, reports) = try setUp()
        defer { sandbox.remove() }
        let first = try extractor.extract(archivePath: archive)
        let script = first.directory.appendingPathComponent("tool.sh").path
        switch change {
        case "append":
            let handle = try #require(FileHandle(forWritingAtPath: script))
            handle.seekToEndOfFile()
            handle.write(Data("echo TAMPERED\n".utf8))
            handle.closeFile()
        case "add": try Data("x".utf8).write(to: first.directory.appendingPathComponent("evil.py"))
        case "remove": try FileManager.default.removeItem(atPath: script)
        default: chmod(script, 0o777)
        }
        #expect(!extractor.isIntact(directory: first.directory, digest: first.sha256))
        let again = try extractor.extract(archivePath: archive)
        #expect(again.directory == first.directory, "the same content address")
        #expect(try String(contentsOfFile: script, encoding: .utf8) == "#!/bin/sh\necho original\n")
        #expect(extractor.isIntact(directory: again.directory, digest: again.sha256))
        #expect(reports.all.count == 1 && reports.all[0].contains("set aside"), "\(reports.all)")
        #expect(sandbox.cacheContents().contains { $0.hasPrefix(".tampered-") })
        extractor.removeSetAside()
        #expect(!sandbox.cacheContents().contains { $0.hasPrefix(".tampered-") })
    }
}
