import Foundation
import PARClient
import PARProcess
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real pixell-kit packages, whole: dependencies installed into a shared environment,
/// the REST routes, the UI folder and the A2A port, all through the router. Installs come
/// from a wheelhouse made once per checkout, so no test depends on the index being up.
@Suite("pixell surfaces", .serialized)
struct PixellSurfacesTests {
    private func daemon(_ extra: [String] = [], root: URL? = nil, portRange: ClosedRange<Int>? = nil) throws -> DaemonHarness {
        try DaemonHarness(extraArguments: ["--wheelhouse", try PythonFixtures.wheelhouse().path] + extra, root: root, portRange: portRange)
    }

    private func install(_ daemon: DaemonHarness, demo: URL) throws -> String {
        let path = daemon.packageDirectory.appendingPathComponent("demo-0.1.0.apkg").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: demo.path, toPath: path)
        return path
    }

    private func installLines(_ daemon: DaemonHarness, _ processID: String) throws -> [String] {
        let answer = try daemon.client().get("/supervisor/logs?process_id=\(processID)&stream=install&limit=1000&order=asc")
        return (answer.json["logs"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
    }

    private func environments(_ daemon: DaemonHarness) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: daemon.dataDirectory.appendingPathComponent("envs").path)) ?? []
        return names.sorted()
    }

    @Test("the pixell-kit demo runs whole: install once, REST, UI, invoke, health with surfaces, A2A port")
    func demoRunsWhole() throws {
        let demo = try PythonFixtures.pixellDemo()
        let daemon = try daemon()
        defer { daemon.stop() }
        let package = try install(daemon, demo: demo)

        // Two agents of one package asked for at once: one install, both wait for it.
        let first = try daemon.spawn("demo", package: package)
        #expect(first.status == 200, "\(first.text)")
        #expect(first.json["state"] as? String == "preparing", "the spawn answers at once while dependencies install: \(first.text)")
        let second = try daemon.spawn("demo2", package: package)
        #expect(second.status == 200, "\(second.text)")
        let status = try daemon.waitFor("par-demo", timeout: 240) { state($0) == "running" || state($0) == "failed" }
        #expect(state(status) == "running", "\(status)")
        try daemon.waitFor("par-demo2", timeout: 60) { state($0) == "running" || state($0) == "failed" }
        #expect(environments(daemon).count == 1, "one environment for one requirement set: \(environments(daemon))")
        let firstInstall = try installLines(daemon, "par-demo")
        #expect(firstInstall.contains { $0.hasPrefix("Successfully installed") && $0.contains("fastapi") }, "pip's output is in the install stream: \(firstInstall)")
        let secondInstall = try installLines(daemon, "par-demo2")
        #expect(secondInstall.contains { $0.contains("already under way") || $0.contains("reusing") }, "\(secondInstall)")
        #expect(!secondInstall.contains { $0.hasPrefix("installing ") }, "no second install: \(secondInstall)")

        // The package's REST route, its UI and its entrypoint, through the router.
        let hello = try daemon.client().get("/agents/demo/api/hello")
        #expect(hello.status == 200)
        #expect(hello.json["message"] as? String == "Hello from REST", "\(hello.text)")
        let page = try daemon.client().get("/agents/demo/ui/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"]?.hasPrefix("text/html") == true, "\(page.headers)")
        #expect(page.text.contains("Pixell Agent UI"), "\(page.text)")
        #expect(page.headers["etag"] != nil && page.headers["cache-control"] == "no-cache", "\(page.headers)")
        let redirect = try daemon.client().get("/agents/demo/ui")
        #expect(redirect.status == 308 && redirect.headers["location"] == "/agents/demo/ui/", "links built from X-Forwarded-Prefix: \(redirect.status) \(redirect.headers)")
        let invoked = try daemon.client().post("/agents/demo/invoke", json: ["question": "hi"])
        #expect(invoked.status == 200)
        #expect(invoked.json["message"] as? String == "Hello from handler", "\(invoked.text)")
        #expect((invoked.json["received"] as? [String: Any])?["question"] as? String == "hi", "\(invoked.text)")
        let health = try daemon.client().get("/agents/demo/health")
        #expect(health.status == 200, "\(health.text)")
        let surfaces = health.json["surfaces"] as? [String: Bool]
        #expect(surfaces?["rest"] == true && surfaces?["ui"] == true, "\(health.text)")
        // The template's a2a service is a stub that returns at once: said so, not hidden.
        #expect(surfaces?["a2a"] == false, "\(health.text)")
        #expect(((health.json["detail"] as? [String: Any])?["a2a"] as? String)?.contains("returned without listening") == true, "\(health.text)")
        let a2aPort = try #require((status["a2a_port"] as? NSNumber)?.intValue, "status lists the second port: \(status)")
        #expect(a2aPort != (status["port"] as? NSNumber)?.intValue && daemon.portRange.contains(a2aPort))
        #expect((health.json["a2a_port"] as? NSNumber)?.intValue == a2aPort)

        // Nothing outside the UI folder is served, however the path is spelled.
        let agentPort = try #require((status["port"] as? NSNumber)?.intValue)
        let direct = HTTPConnection(port: agentPort, timeoutSeconds: 10)
        defer { direct.close() }
        for path in ["/ui/..%2Fagent.yaml", "/ui/%2e%2e/%2e%2e/agent.yaml", "/ui/../agent.yaml", "/ui/%2Fetc%2Fpasswd"] {
            let answer = try direct.request("GET", path)
            #expect(answer.status == 404 || answer.status == 400, "\(path) answered \(answer.status): \(answer.text.prefix(200))")
            #expect(!answer.text.contains("entrypoint") && !answer.text.contains("root:"), "\(path) leaked a file")
        }
        let cached = try direct.request("GET", "/ui/index.html", headers: ["If-None-Match": page.headers["etag"] ?? ""])
        #expect(cached.status == 304, "a cached page is revalidated, not resent")

        // A third agent after the install: the environment is reused, the start is warm.
        let started = Date()
        #expect(try daemon.spawn("demo3", package: package).status == 200)
        try daemon.waitFor("par-demo3", timeout: 30) { state($0) == "running" }
        let warm = Date().timeIntervalSince(started)
        print("pixell demo warm start to running: \(String(format: "%.2f", warm)) s")
        #expect(try installLines(daemon, "par-demo3").contains { $0.contains("reusing environment") })
        #expect(environments(daemon).count == 1)

        // The environment outlives the daemon: a new one brings the agents back without installing.
        let (root, range) = (daemon.root, daemon.portRange)
        daemon.keepFiles = true
        #expect(daemon.terminate() == 0)
        let again = try self.daemon(root: root, portRange: range)
        defer { again.stop() }
        for agent in ["par-demo", "par-demo2", "par-demo3"] {
            let back = try again.waitFor(agent, timeout: 30) { state($0) == "running" }
            #expect(state(back) == "running", "\(back)")
        }
        #expect(try again.client().get("/agents/demo2/api/hello").json["message"] as? String == "Hello from REST")
        #expect(environments(again).count == 1)
    }

    @Test("with agent users the demo runs as its own uid, on an interpreter that uid can run",
          .enabled(if: getuid() == 0, "agent users need the daemon to run as root"))
    func demoRunsAsAnAgentUser() throws {
        let demo = try PythonFixtures.pixellDemo()
        let daemon = try daemon(["--agent-users", "61184-61283"])
        defer { daemon.stop() }
        let package = try install(daemon, demo: demo)
        #expect(try daemon.spawn("demo", package: package).status == 200)
        let status = try daemon.waitFor("par-demo", timeout: 240) { state($0) == "running" || state($0) == "failed" }
        #expect(state(status) == "running", "\(status)")
        #expect(try daemon.client().get("/agents/demo/api/hello").json["message"] as? String == "Hello from REST")
        let owner = AgentIsolationTests.processOwner(try #require(pid(status)))
        #expect(owner.map { (61184...61283).contains($0) } == true, "runs as an agent uid, not root: \(String(describing: owner))")
        let key = try #require(status["environment"] as? String)
        let marker = try Data(contentsOf: daemon.dataDirectory.appendingPathComponent("envs/\(key)/par-env.json"))
        let python = try #require((try JSONSerialization.jsonObject(with: marker) as? [String: Any])?["python"] as? String)
        #expect(!python.hasPrefix("/root/"), "an interpreter under /root cannot be run by agent uids: \(python)")
        // Built as an agent uid, then handed to the daemon: read-only to every agent.
        let environment = daemon.dataDirectory.appendingPathComponent("envs/\(key)").path
        var writable: [String] = []
        var notTheDaemons: [String] = []
        let inside = (try? FileManager.default.subpathsOfDirectory(atPath: environment)) ?? []
        for path in [environment] + inside.map({ environment + "/" + $0 }) {
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            if info.st_uid != getuid() { notTheDaemons.append(path) }
            if (info.st_mode & S_IFMT) != S_IFLNK, info.st_mode & 0o022 != 0 { writable.append(path) }
        }
        #expect(notTheDaemons.isEmpty, "owned by the daemon once built: \(notTheDaemons.prefix(3))")
        #expect(writable.isEmpty, "no agent may write the environment: \(writable.prefix(3))")
        #expect(!FileManager.default.fileExists(atPath: environment + "/.par-home"), "the install's HOME is gone")
    }

    /// A package's requirements run code while they install (an sdist's setup.py): as root
    /// that code would own the machine. As root the install runs as a uid of the agents'
    /// range, held only while it runs, and everything it started dies with it.
    @Test("installs run as an unprivileged uid, never as root",
          .enabled(if: getuid() == 0, "only a root daemon changes uids"))
    func installsDoNotRunAsRoot() throws {
        let (listener, indexPort) = Self.hangingIndex()
        defer { close(listener) }
        let daemon = try DaemonHarness(extraArguments: ["--pip-index-url", "http://127.0.0.1:\(indexPort)/simple", "--install-timeout", "30"])
        defer { daemon.stop() }
        let package = try daemon.install(APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n").setting("requirements.txt", "some-project==1.0\n"))
        #expect(try daemon.spawn("builder", package: package).status == 200)
        var pip: Int32?
        #expect(ProcessInspection.eventually(timeout: 30) {
            pip = Self.processes(mentioning: daemon.dataDirectory.path).first {
                $0 != daemon.process.processIdentifier && (try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8))?.contains("-m\u{0}pip\u{0}install") == true
            }
            return pip != nil
        }, "pip runs, hanging on the index")
        let pipPID = try #require(pip)
        let uid = try #require(AgentIsolationTests.processOwner(pipPID))
        #expect(uid != 0 && (61184...65519).contains(uid), "pip runs as an agent uid: \(uid)")
        let statusText = try String(contentsOfFile: "/proc/\(pipPID)/status", encoding: .utf8)
        let status = try #require(statusText.split(separator: "\n").first { $0.hasPrefix("Uid:") })
        #expect(!status.split(whereSeparator: \.isWhitespace).dropFirst().contains("0"), "no uid of it is root: \(status)")
        #expect(try daemon.client().post("/supervisor/stop/par-builder").status == 200)
        #expect(daemon.terminate(timeoutSeconds: 15) == 0)
        #expect(ProcessInspection.eventually(timeout: 5) { ProcTable.processes(ofUID: uid).isEmpty }, "nothing of the install's uid is left")
    }

    @Test("a requirement that does not exist fails the agent with reason dependencies, never a restart loop")
    func missingRequirementFails() throws {
        let daemon = try daemon()
        defer { daemon.stop() }
        let package = try daemon.install(APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n").setting("requirements.txt", "par-no-such-project-7c1e==1.0\n"))
        let answer = try daemon.spawn("nodeps", package: package, ["restart_policy": "always", "restart_delay_seconds": 0.1])
        #expect(answer.status == 200, "\(answer.text)")
        let status = try daemon.waitFor("par-nodeps", timeout: 120) { state($0) == "failed" }
        let exit = status["last_exit"] as? [String: Any]
        #expect(exit?["reason"] as? String == "dependencies", "\(status)")
        let error = status["error"] as? String ?? ""
        #expect(error.contains("pip install") && error.contains("par-no-such-project-7c1e"), "pip's last lines are in the error: \(error)")
        Thread.sleep(forTimeInterval: 1)
        let later = try daemon.process("par-nodeps")
        #expect(state(later) == "failed" && (later["restart_count"] as? NSNumber)?.intValue == 0, "not restarted: \(later)")
        #expect(environments(daemon).isEmpty, "a failed build leaves no environment: \(environments(daemon))")
    }

    @Test("an install that outlives its limit is killed; a stop while preparing stops at once; no pip outlives the daemon")
    func installLimitAndStopWhilePreparing() throws {
        let (listener, indexPort) = Self.hangingIndex()
        defer { close(listener) }

        let daemon = try DaemonHarness(extraArguments: ["--pip-index-url", "http://127.0.0.1:\(indexPort)/simple", "--install-timeout", "4"])
        defer { daemon.stop() }
        let builder = APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n")
        let slow = try daemon.install(builder.setting("requirements.txt", "some-project==1.0\n"))
        let started = Date()
        #expect(try daemon.spawn("slow", package: slow).status == 200)
        let failed = try daemon.waitFor("par-slow", timeout: 60) { state($0) == "failed" }
        #expect(Date().timeIntervalSince(started) < 30, "killed at the install limit")
        #expect((failed["error"] as? String)?.contains("install limit of 4 s") == true, "\(failed)")
        #expect((failed["last_exit"] as? [String: Any])?["reason"] as? String == "dependencies")

        // Stopped while preparing: stopped at once, its port free again, nothing left running.
        let other = try daemon.install(builder.setting("requirements.txt", "other-project==2.0\n"))
        let spawned = try daemon.spawn("waiting", package: other)
        #expect(spawned.json["state"] as? String == "preparing")
        let stopped = try daemon.client().post("/supervisor/stop/par-waiting")
        #expect(stopped.status == 200, "\(stopped.text)")
        #expect(state(try daemon.process("par-waiting")) == "stopped")
        // A spawn of the same package meanwhile shares the running install; the daemon's
        // shutdown kills it.
        #expect(try daemon.spawn("waiting2", package: other).status == 200)
        #expect(daemon.terminate(timeoutSeconds: 15) == 0)
        let leftovers = ProcessInspection.eventually(timeout: 5) { !Self.processExists(mentioning: daemon.dataDirectory.path) }
        #expect(leftovers, "no pip or venv process outlives the daemon")
    }

    @Test("bad requirements and unsupported runtimes are refused with a clear error, and nothing is kept")
    func refusedPackages() throws {
        let daemon = try DaemonHarness()
        defer { daemon.stop() }
        let base = APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n")
        let cases: [(String, APKGBuilder, Int, String)] = [
            ("editable", base.setting("requirements.txt", "-e .\n"), 400, "pip option"),
            ("url", base.setting("requirements.txt", "evil @ https://example.invalid/evil.whl\n"), 400, "URL"),
            ("path", base.setting("requirements.txt", "./local-dir\n"), 400, "requirements.txt line 1"),
            ("restnofastapi", APKGBuilder(items: [
                .file(path: "agent.yaml", contents: "name: r\nversion: 1.0.0\nruntime: python3.11\nentrypoint: src.main:handler\nrest: {entry: src.rest:mount}\n"),
                .file(path: "src/__init__.py", contents: ""), .file(path: "src/main.py", contents: "def handler(c):\n    return {}\n"),
            ]), 422, "fastapi and uvicorn"),
            ("node", APKGBuilder(items: [
                .file(path: "agent.yaml", contents: "name: n\nversion: 1.0.0\nruntime: node20\nentrypoint: index.js\n"),
                .file(path: "package.json", contents: "{\"dependencies\": {}}"),
            ]), 422, "node20"),
            ("nopython", base.setting("agent.yaml", "name: p\nversion: 1.0.0\nruntime: python2.7\nentrypoint: src.main:handler\ndependencies: [six]\n"), 422, "python2.7"),
        ]
        for (agent, builder, expected, phrase) in cases {
            let answer = try daemon.spawn(agent, package: try daemon.install(builder))
            #expect(answer.status == expected, "\(agent): \(answer.status) \(answer.text)")
            #expect(answer.text.contains(phrase), "\(agent): the error says what is wrong: \(answer.text)")
            #expect(try daemon.client().get("/supervisor/processes/par-\(agent)").status == 404, "\(agent) was not kept")
        }
        #expect(environments(daemon).isEmpty, "no environment was started")
    }

    @Test("an install cut short by kill -9 is killed and started over by the next daemon")
    func installSurvivesNoDaemonCrash() throws {
        let (listener, indexPort) = Self.hangingIndex()
        defer { close(listener) }
        let index = ["--pip-index-url", "http://127.0.0.1:\(indexPort)/simple"]
        let first = try DaemonHarness(extraArguments: index + ["--install-timeout", "120"])
        let package = try first.install(APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n").setting("requirements.txt", "some-project==1.0\n"))
        #expect(try first.spawn("slow", package: package).json["state"] as? String == "preparing")
        let envs = first.dataDirectory.appendingPathComponent("envs").path
        #expect(ProcessInspection.eventually(timeout: 20) { !Self.processes(mentioning: envs).isEmpty }, "the install runs")
        let old = Self.processes(mentioning: envs)
        first.crash()
        let second = try DaemonHarness(extraArguments: index + ["--install-timeout", "3"], root: first.root, portRange: first.portRange)
        defer { second.stop() }
        #expect(ProcessInspection.eventually(timeout: 5) { Set(Self.processes(mentioning: envs)).isDisjoint(with: old) }, "the old install \(old) was killed")
        // The agent is still wanted: its install starts over, under the new limit.
        let failed = try second.waitFor("par-slow", timeout: 60) { state($0) == "failed" }
        #expect((failed["error"] as? String)?.contains("install limit of 3 s") == true, "\(failed)")
    }

    @Test("unused environments beyond the cache cap are removed, least recently used first; one in use stays")
    func environmentsAreEvicted() throws {
        let daemon = try daemon(["--env-cache-mb", "1"])
        defer { daemon.stop() }
        let base = APKGBuilder.pythonPackage(source: "def handler(c):\n    return {}\n")
        let first = try daemon.install(base.setting("requirements.txt", "idna\n"))
        let second = try daemon.install(base.setting("requirements.txt", "h11\n"))
        #expect(try daemon.spawn("first", package: first).status == 200)
        try daemon.waitFor("par-first", timeout: 180) { state($0) == "running" }
        #expect(environments(daemon).count == 1, "in use, so kept over the cap")
        let firstKey = try #require(environments(daemon).first)
        #expect(try daemon.client().post("/supervisor/stop/par-first").status == 200)
        #expect(try daemon.spawn("second", package: second).status == 200)
        let running = try daemon.waitFor("par-second", timeout: 180) { state($0) == "running" }
        let secondKey = try #require(running["environment"] as? String)
        #expect(ProcessInspection.eventually(timeout: 10) { environments(daemon) == [secondKey] }, "the unused \(firstKey) went: \(environments(daemon))")
        // The stopped agent comes back by building its environment again.
        #expect(try daemon.client().post("/supervisor/restart/par-first").status == 200)
        try daemon.waitFor("par-first", timeout: 180) { state($0) == "running" }
    }

    /// A package index on loopback that accepts connections and never answers: pip waits on it.
    static func hangingIndex() -> (Int32, Int) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        _ = listen(listener, 64)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        return (listener, Int(UInt16(bigEndian: address.sin_port)))
    }

    static func processExists(mentioning text: String) -> Bool {
        !processes(mentioning: text).isEmpty
    }

    /// Pids whose command line contains `text`.
    static func processes(mentioning text: String) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [Int32] = []
        for entry in entries where entry.allSatisfy(\.isNumber) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"), let pid = Int32(entry) else { continue }
            let command = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if command.contains(text) { found.append(pid) }
        }
        return found
    }
}
