import Foundation
import PARClient
import PARTestKit
import Testing

/// Packages that are not what they claim are refused before anything runs or lands outside the data dir.
@Suite("Package checks")
struct PackageSafetyTests {
    private func expectRefused(_ answer: HTTPAnswer, _ status: Int, mentions: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(answer.status == status, "\(answer.text)", sourceLocation: sourceLocation)
        #expect((answer.json["detail"] as? String)?.contains(mentions) == true, "\(answer.text)", sourceLocation: sourceLocation)
    }

    /// Nothing is left in the package cache but completed extractions.
    private func cacheEntries(_ daemon: DaemonHarness) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: daemon.dataDirectory.appendingPathComponent("cache/packages").path)) ?? []
    }

    @Test func packageOutsideTheAllowedDirectoriesIs403() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID().uuidString).apkg")
        try sleeperPackage().write(to: outside)
        defer { try? FileManager.default.removeItem(at: outside) }
        let answer = try daemon.spawn("x", package: outside.path)
        expectRefused(answer, 403, mentions: daemon.packageDirectory.path)
        let sneaky = try daemon.spawn("x", package: daemon.packageDirectory.path + "/../../" + outside.lastPathComponent)
        #expect(sneaky.status == 403 || sneaky.status == 400, "\(sneaky.text)")
    }

    @Test func missingFileAndNonZipAreRefused() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        expectRefused(try daemon.spawn("x", package: daemon.packageDirectory.path + "/missing.apkg"), 400, mentions: "no such file")
        let junk = daemon.packageDirectory.appendingPathComponent("junk.apkg")
        try Data("definitely not a zip".utf8).write(to: junk)
        expectRefused(try daemon.spawn("x", package: junk.path), 400, mentions: "not a zip")
        #expect(cacheEntries(daemon).isEmpty)
    }

    @Test func manifestProblemsAreRefused() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let noManifest = try daemon.install(APKGBuilder(items: [.file(path: "README.md", contents: "hi")]))
        expectRefused(try daemon.spawn("x", package: noManifest), 400, mentions: "agent.yaml")
        let badYAML = try daemon.install(APKGBuilder(items: [.file(path: "agent.yaml", contents: "name: [unclosed")]))
        expectRefused(try daemon.spawn("x", package: badYAML), 400, mentions: "agent.yaml")
        let node = try daemon.install(APKGBuilder(items: [.file(path: "agent.yaml", contents: "name: n\nversion: 1.0.0\nruntime: node20\nentrypoint: index.js")]))
        expectRefused(try daemon.spawn("x", package: node), 422, mentions: "node20")
        #expect(cacheEntries(daemon).allSatisfy { !$0.hasPrefix(".staging") })
    }

    @Test func zipSlipIsRefusedWithNothingWrittenOutside() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let target = "escaped-\(UUID().uuidString).txt"
        let slip = try daemon.install(APKGBuilder(items: [
            .file(path: "agent.yaml", contents: "name: s\ncommand: [\"/bin/true\"]"),
            .file(path: "../../../../../../tmp/\(target)", contents: "pwned"),
        ]))
        expectRefused(try daemon.spawn("slip", package: slip), 400, mentions: "..")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/\(target)"))

        let link = try daemon.install(APKGBuilder(items: [
            .file(path: "agent.yaml", contents: "name: l\ncommand: [\"/bin/true\"]"),
            .symlink(path: "etc", target: "../../../../etc"),
        ]))
        expectRefused(try daemon.spawn("link", package: link), 400, mentions: "outside")
        #expect(cacheEntries(daemon).isEmpty, "\(cacheEntries(daemon))")
    }

    @Test func packageWithTooManyEntriesIsRefused() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-package-entries", "5"])
        defer { daemon.stop() }
        var builder = APKGBuilder(items: [.file(path: "agent.yaml", contents: "name: many\ncommand: [\"/bin/true\"]")])
        for index in 0..<10 { builder.add(.file(path: "f\(index).txt", contents: "x")) }
        expectRefused(try daemon.spawn("many", package: try daemon.install(builder)), 400, mentions: "more than 5 entries")
        #expect(cacheEntries(daemon).isEmpty)
    }

    @Test func zipBombIsRefusedWithNothingLeft() throws {
        let daemon = try DaemonHarness(extraArguments: ["--max-package-mb", "16"])
        defer { daemon.stop() }
        // 64 MiB of zeros compress to about 64 KiB.
        let url = daemon.packageDirectory.appendingPathComponent("bomb.apkg")
        try ZipBomb.write(to: url, uncompressedMiB: 64)
        let answer = try daemon.spawn("bomb", package: url.path)
        expectRefused(answer, 400, mentions: "bytes")
        #expect(cacheEntries(daemon).isEmpty, "\(cacheEntries(daemon))")
    }
}

extension PackageSafetyTests {
    @Test func linkInsideAnAllowedDirectoryCannotReachOutside() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let outsideDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("outside-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: outsideDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: outsideDirectory) }
        try sleeperPackage().write(to: outsideDirectory.appendingPathComponent("agent.apkg"))
        let link = daemon.packageDirectory.appendingPathComponent("sneaky")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: outsideDirectory)
        let answer = try daemon.spawn("x", package: link.path + "/agent.apkg")
        #expect(answer.status == 403, "\(answer.text)")
    }
}

/// A package is someone else's code: its manifest reads no daemon variable unless allowed.
@Suite("Manifest expansion")
struct ManifestExpansionTests {
    private func expanded(_ arguments: [String]) throws -> String? {
        let daemon = try DaemonHarness(extraArguments: arguments, environment: ["PAR_SECRET_TEST": "topsecret"])
        defer { daemon.stop() }
        let package = try daemon.install(sleeperPackage().setting("agent.yaml", """
        name: leak
        version: 1.0.0
        command: ["./run.sh"]
        health: {type: none}
        environment: {D: "${PAR_SECRET_TEST:-x}", PORT_SEEN: "${PAR_PORT}"}
        """))
        let answer = try daemon.spawn("leak", package: package)
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-leak") { state($0) == "running" }
        let environ = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "/proc/\(try #require(pid(status)))/environ")), as: UTF8.self)
        let values = environ.split(separator: "\0")
        #expect(values.contains { $0.hasPrefix("PORT_SEEN=") && $0 != "PORT_SEEN=" }, "the supervisor's own values expand")
        return values.first { $0.hasPrefix("D=") }.map { String($0.dropFirst(2)) }
    }

    @Test func aManifestCannotReadTheDaemonsEnvironment() throws {
        #expect(try expanded([]) == "x")
    }

    @Test func theOperatorCanAllowOneVariable() throws {
        #expect(try expanded(["--env-allow", "PAR_SECRET_TEST"]) == "topsecret")
    }
}

/// An agent that rewrites its package's files does not change what the next agent runs.
@Suite("Package tampering")
struct PackageTamperingTests {
    @Test func aRewrittenScriptIsNotRunByTheNextAgent() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let script = """
        echo "original $PAR_AGENT_ID"
        if [ "$TAMPER" = 1 ]; then printf '#!/bin/sh\\necho TAMPERED\\nexec sleep 1000\\n' > ./run.sh; fi
        exec sleep 1000
        """
        let package = try daemon.install(.commandPackage(script: script))
        #expect(try daemon.spawn("tamperer", package: package, ["env_vars": ["TAMPER": "1"], "restart_policy": "never"]).status == 200)
        let tampered = ProcessInspection.eventually(timeout: 10) {
            let text = (try? daemon.client().get("/supervisor/logs?process_id=par-tamperer&limit=10").text) ?? ""
            return text.contains("original tamperer")
        }
        #expect(tampered)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(try daemon.spawn("victim", package: package).status == 200)
        try daemon.waitFor("par-victim") { state($0) == "running" }
        var text = ""
        let ran = ProcessInspection.eventually(timeout: 10) {
            text = (try? daemon.client().get("/supervisor/logs?process_id=par-victim&limit=10").text) ?? ""
            return text.contains("original victim")
        }
        #expect(ran, "the victim ran the package as it was built: \(text)")
        #expect(!text.contains("TAMPERED"), "\(text)")
    }
}
