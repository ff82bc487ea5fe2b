import Foundation
import PARPackages
import Testing

func context(host: [String: String] = ["PATH": "/usr/bin:/bin", "HOME": "/home/sup", "SECRET_TOKEN": "s3cret"]) -> LaunchContext {
    LaunchContext(
        agentID: "agent-1", packageID: "com.example.a@1.0", packagePath: "/pkgs/a.apkg", port: 8123,
        supervisorURL: "http://127.0.0.1:9000", pythonWorkerPath: "/opt/par/par_worker.py",
        pythonExecutable: "/usr/bin/python3", hostEnvironment: host
    )
}

/// A package directory with an executable `bin/agent` and a plain `README`.
struct PackageDirectory {
    let directory: TemporaryDirectory
    var url: URL { directory.url }

    init() throws {
        directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(at: directory.path("bin"), withIntermediateDirectories: true)
        try Data("#!/bin/sh\n".utf8).write(to: directory.path("bin/agent"))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path("bin/agent").path)
        try Data("readme".utf8).write(to: directory.path("README"))
    }

    func remove() { directory.remove() }

    func plan(_ yaml: String, request: [String: String] = [:], context: LaunchContext = context()) throws(PackageError) -> LaunchPlan {
        try LaunchPlan.make(manifest: try Manifest(yaml: yaml), packageDirectory: url, requestEnvironment: request, context: context)
    }

    func error(_ yaml: String) -> PackageError? {
        do {
            _ = try plan(yaml)
            return nil
        } catch {
            return error
        }
    }
}

@Suite("LaunchPlan.make")
struct LaunchPlanTests {
    // MARK: command

    @Test func aRelativeCommandProgramResolvesInsideThePackage() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"./bin/agent\", \"--flag\", \"x\"]")
        #expect(plan.executable == package.url.appendingPathComponent("bin/agent").path)
        #expect(plan.arguments == ["--flag", "x"])
        #expect(plan.argv == [plan.executable, "--flag", "x"])
    }

    @Test func theWorkingDirectoryIsThePackageDirectory() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"./bin/agent\"]")
        #expect(plan.workingDirectory == package.url.path)
    }

    @Test(arguments: ["../bin/agent", "./../outside", "bin/../../outside", "./bin/../../../etc/passwd"])
    func aCommandProgramThatLeavesThePackageIsRefused(program: String) throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let error = package.error("name: a\ncommand: [\"\(program)\"]")
        #expect(isInvalidManifest(error), "\(String(describing: error))")
    }

    @Test(arguments: ["./README", "./bin/missing"])
    func aCommandProgramThatIsNotAnExecutableFileIsRefused(program: String) throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let error = package.error("name: a\ncommand: [\"\(program)\"]")
        #expect(isInvalidManifest(error), "\(String(describing: error))")
    }

    @Test
    func aCommandProgramThatIsADirectoryIsRefused() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let error = package.error("name: a\ncommand: [\"./bin\"]")
        #expect(isInvalidManifest(error), "\(String(describing: error))")
    }

    @Test func aBareProgramNameIsLeftForThePATHSearch() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"python3\", \"-m\", \"agent\"]")
        #expect(plan.executable == "python3")
        #expect(plan.arguments == ["-m", "agent"])
    }

    @Test func anAbsoluteProgramIsKept() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        #expect(try package.plan("name: a\ncommand: [\"/bin/sh\", \"-c\", \"true\"]").executable == "/bin/sh")
    }

    @Test func aCommandRunsWhateverTheRuntime() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\nruntime: node18\ncommand: [\"./bin/agent\"]")
        #expect(plan.executable == package.url.appendingPathComponent("bin/agent").path)
    }

    // MARK: python entrypoint

    @Test func aPythonEntrypointRunsTheBundledWorker() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\nruntime: python3.11\nentrypoint: src.main:handler")
        #expect(plan.executable == "/usr/bin/python3")
        #expect(plan.arguments == [
            "/opt/par/par_worker.py", "--port", "8123", "--agent-id", "agent-1",
            "--package-path", "/pkgs/a.apkg", "--package-dir", package.url.path, "--entrypoint", "src.main:handler",
        ])
        #expect(plan.workingDirectory == package.url.path)
    }

    @Test func aPythonPlanRunsUnbuffered() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\nruntime: python3.11\nentrypoint: src.main:handler")
        #expect(plan.environment["PYTHONUNBUFFERED"] == "1")
    }

    @Test func withoutARuntimeAnEntrypointMeansPython() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        #expect(try package.plan("name: a\nentrypoint: main:run").executable == "/usr/bin/python3")
    }

    @Test func anUnsupportedRuntimeWithoutACommandIsUnsupported() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let error = package.error("name: a\nruntime: node18\nentrypoint: index:handler")
        guard case .unsupported = error else {
            Issue.record("expected unsupported, got \(String(describing: error))")
            return
        }
    }

    @Test(arguments: ["name: a\nruntime: python3", "name: a\nentrypoint: main", "name: a\nentrypoint: \":handler\"", "name: a\nentrypoint: \"main:\"", "name: a\nentrypoint: a:b:c", "name: a\nentrypoint: \"main:run; rm -rf /\""])
    func aPythonPackageWithoutAValidEntrypointIsAnInvalidManifest(yaml: String) throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let error = package.error(yaml)
        #expect(isInvalidManifest(error), "\(String(describing: error))")
    }

    // MARK: environment

    @Test func theRequestOverridesTheManifest() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"/bin/true\"]\nenvironment:\n  MODE: manifest\n  KEEP: kept", request: ["MODE": "request"])
        #expect(plan.environment["MODE"] == "request")
        #expect(plan.environment["KEEP"] == "kept")
    }

    @Test func theSupervisorsVariablesAlwaysWin() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let yaml = """
        name: a
        command: ["/bin/true"]
        environment:
          PAR_PORT: "1"
          PORT: "2"
          PAR_AGENT_ID: manifest
          PAR_MODE: manifest
        """
        let plan = try package.plan(yaml, request: ["PAR_AGENT_ID": "request", "PAR_SUPERVISOR_URL": "http://evil", "PAR_PACKAGE_ID": "x", "PAR_PACKAGE_PATH": "/x"])
        #expect(plan.environment["PAR_PORT"] == "8123")
        #expect(plan.environment["PORT"] == "8123")
        #expect(plan.environment["PAR_AGENT_ID"] == "agent-1")
        #expect(plan.environment["PAR_PACKAGE_ID"] == "com.example.a@1.0")
        #expect(plan.environment["PAR_PACKAGE_PATH"] == "/pkgs/a.apkg")
        #expect(plan.environment["PAR_MODE"] == "worker")
        #expect(plan.environment["PAR_SUPERVISOR_URL"] == "http://127.0.0.1:9000")
    }

    @Test func manifestValuesExpandOnlyFromTheRequestTheSupervisorsOwnAndTheAllowList() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let yaml = "name: a\ncommand: [\"/bin/true\"]\nenvironment:\n  SECRET: ${SECRET_TOKEN:-none}\n  LEVEL: ${LOG_LEVEL:-info}\n  FROM_REQUEST: ${KEY}\n  PORT_TOO: x${PAR_PORT}\n  HOME_DIR: ${HOME}"
        let plan = try package.plan(yaml, request: ["KEY": "k1"])
        #expect(plan.environment["SECRET"] == "none", "a package never reads the daemon's variables")
        #expect(plan.environment["LEVEL"] == "info")
        #expect(plan.environment["FROM_REQUEST"] == "k1")
        #expect(plan.environment["PORT_TOO"] == "x8123")
        #expect(plan.environment["HOME_DIR"] == "")
        var allowed = context()
        allowed.expansionAllowList = ["SECRET_TOKEN"]
        #expect(try package.plan(yaml, context: allowed).environment["SECRET"] == "s3cret", "unless the operator allows that one")
    }

    @Test func aWorkDirectoryIsTheAgentsHomeAndTemp() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        var launch = context()
        launch.workDirectory = "/data/agents/a"
        let plan = try package.plan("name: a\ncommand: [\"/bin/true\"]", request: ["HOME": "/elsewhere"], context: launch)
        #expect(plan.environment["HOME"] == "/data/agents/a" && plan.environment["TMPDIR"] == "/data/agents/a/tmp")
        #expect(plan.environment["PAR_WORK_DIR"] == "/data/agents/a")
    }

    @Test func requestValuesAreNotExpanded() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"/bin/true\"]", request: ["RAW": "${HOME}"])
        #expect(plan.environment["RAW"] == "${HOME}")
    }

    @Test func onlyAFewOfTheSupervisorsOwnVariablesAreInherited() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"/bin/true\"]")
        #expect(plan.environment["PATH"] == "/usr/bin:/bin")
        #expect(plan.environment["HOME"] == "/home/sup")
        #expect(plan.environment["SECRET_TOKEN"] == nil)
    }

    @Test func aDefaultPATHIsSetWhenTheSupervisorHasNone() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        let plan = try package.plan("name: a\ncommand: [\"/bin/true\"]", context: context(host: [:]))
        #expect(plan.environment["PATH"] == "/usr/local/bin:/usr/bin:/bin")
    }
}
