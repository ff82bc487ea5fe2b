import Foundation
import PARPackages
import Testing

@Suite("Requirements")
struct RequirementsTests {
    @Test func manifestAndFileMergeIntoOneCanonicalSortedSet() throws {
        let requirements = try Requirements(
            dependencies: ["uvicorn>=0.30.0", "fastapi>=0.112.0"],
            requirementsFile: "# pinned\nfastapi>=0.112.0\n\n  watchdog >= 4.0.0   # file watching\nrequests[socks] ; python_version >= '3.8'\n"
        )
        #expect(requirements.lines == ["fastapi>=0.112.0", "requests[socks] ; python_version >= '3.8'", "uvicorn>=0.30.0", "watchdog >= 4.0.0"])
        #expect(requirements.names == ["fastapi", "requests", "uvicorn", "watchdog"])
        #expect(requirements.fileText.hasSuffix("watchdog >= 4.0.0\n"))
    }

    @Test func orderAndDuplicatesDoNotChangeTheSet() throws {
        let a = try Requirements(dependencies: ["b", "a", "a"], requirementsFile: nil)
        let b = try Requirements(dependencies: [], requirementsFile: "a\nb\n")
        #expect(a == b)
    }

    @Test func emptyWhenNothingIsListed() throws {
        #expect(try Requirements(dependencies: [], requirementsFile: "# nothing\n\n").isEmpty)
    }

    @Test(arguments: [
        ("-e .", "pip option"), ("--index-url https://evil.example/simple", "pip option"), ("-r other.txt", "pip option"),
        ("git+https://example.com/x.git", "URL"), ("pkg @ https://example.com/pkg.whl", "URL"), ("./vendor/pkg", "project name"),
        ("/abs/path.whl", "project name"), ("pkg$(id)", "no named requirement"), ("pkg\\", "no named requirement"),
    ])
    func optionsPathsAndURLsAreRefusedWithTheirPlace(line: String, phrase: String) {
        do {
            _ = try Requirements(dependencies: [], requirementsFile: "fastapi\n" + line + "\n")
            Issue.record("\(line) was accepted")
        } catch {
            #expect(error.description.contains("requirements.txt line 2"), "\(error)")
            #expect(error.description.contains(phrase), "\(error)")
        }
    }

    @Test func manifestEntriesAreNamedByIndex() {
        #expect(throws: PackageError.self) { try Requirements(dependencies: ["ok", "-e ."], requirementsFile: nil) }
        do {
            _ = try Requirements(dependencies: ["ok", "-e ."], requirementsFile: nil)
        } catch {
            #expect(error.description.contains("dependencies[1]"))
        }
    }

    @Test func projectNamesAreNormalisedAsPEP503Says() {
        #expect(Requirements.projectName(of: "Typing_Extensions>=4") == "typing-extensions")
        #expect(Requirements.projectName(of: "zope.interface") == "zope-interface")
        #expect(Requirements.projectName(of: "a__-.b[x]") == "a-b")
    }
}

@Suite("Interpreter choice")
struct InterpreterChoiceTests {
    let installed = [
        PythonInterpreter(path: "/p/3.11.7", major: 3, minor: 11, micro: 7),
        PythonInterpreter(path: "/usr/bin/python3.11", major: 3, minor: 11, micro: 2),
        PythonInterpreter(path: "/p/3.9.18", major: 3, minor: 9, micro: 18),
        PythonInterpreter(path: "/p/3.13.0", major: 3, minor: 13, micro: 0),
    ]

    @Test func theSameMinorWinsAndTheFirstOnPathAmongEquals() {
        #expect(InterpreterChoice.choose(runtime: "python3.11", installed: installed)?.path == "/p/3.11.7")
    }

    @Test func elseTheNearestMinorAndTheNewerOnATie() {
        #expect(InterpreterChoice.choose(runtime: "python3.10", installed: installed)?.path == "/p/3.11.7")
        #expect(InterpreterChoice.choose(runtime: "python3.12", installed: installed)?.path == "/p/3.13.0")
        #expect(InterpreterChoice.choose(runtime: "python3.6", installed: installed)?.path == "/p/3.9.18")
    }

    @Test func aBareRuntimeTakesTheNewest() {
        #expect(InterpreterChoice.choose(runtime: "python3", installed: installed)?.minor == 13)
        #expect(InterpreterChoice.choose(runtime: nil, installed: installed)?.minor == 13)
        #expect(InterpreterChoice.choose(runtime: "python", installed: installed)?.minor == 13)
    }

    @Test func noneFitsAnotherMajorOrAnotherLanguage() {
        #expect(InterpreterChoice.choose(runtime: "python2.7", installed: installed) == nil)
        #expect(InterpreterChoice.choose(runtime: "node20", installed: installed) == nil)
        #expect(InterpreterChoice.choose(runtime: "python3.x", installed: installed) == nil)
        #expect(InterpreterChoice.choose(runtime: "python3.11", installed: []) == nil)
        #expect(InterpreterChoice.noneFits(runtime: "python2.7", installed: installed).contains("--python"))
    }
}

@Suite("Environment cache policy")
struct EnvironmentCachePolicyTests {
    let python = PythonInterpreter(path: "/p", major: 3, minor: 11, micro: 7)

    @Test func theKeyFollowsTheSetAndTheInterpreterVersion() throws {
        let a = try Requirements(dependencies: ["fastapi", "uvicorn"], requirementsFile: nil)
        let b = try Requirements(dependencies: [], requirementsFile: "uvicorn\nfastapi\n")
        let c = try Requirements(dependencies: ["fastapi"], requirementsFile: nil)
        #expect(EnvironmentCachePolicy.key(requirements: a, interpreter: python) == EnvironmentCachePolicy.key(requirements: b, interpreter: python))
        #expect(EnvironmentCachePolicy.key(requirements: a, interpreter: python) != EnvironmentCachePolicy.key(requirements: c, interpreter: python))
        var other = python
        other.micro = 8
        #expect(EnvironmentCachePolicy.key(requirements: a, interpreter: python) != EnvironmentCachePolicy.key(requirements: a, interpreter: other))
        #expect(EnvironmentCachePolicy.key(requirements: a, interpreter: python).hasPrefix("py311-"))
    }

    @Test func leastRecentlyUsedGoFirstUntilTheRestFit() {
        let entries = [
            EnvironmentCachePolicy.Entry(key: "new", bytes: 100, lastUsed: 30, inUse: false),
            EnvironmentCachePolicy.Entry(key: "old", bytes: 100, lastUsed: 10, inUse: false),
            EnvironmentCachePolicy.Entry(key: "mid", bytes: 100, lastUsed: 20, inUse: false),
        ]
        #expect(EnvironmentCachePolicy.evictions(entries, maxBytes: 300).isEmpty)
        #expect(EnvironmentCachePolicy.evictions(entries, maxBytes: 250) == ["old"])
        #expect(EnvironmentCachePolicy.evictions(entries, maxBytes: 100) == ["old", "mid"])
        #expect(EnvironmentCachePolicy.evictions(entries, maxBytes: 0) == ["old", "mid", "new"])
    }

    @Test func anEnvironmentInUseIsNeverRemoved() {
        let entries = [
            EnvironmentCachePolicy.Entry(key: "busy", bytes: 500, lastUsed: 1, inUse: true),
            EnvironmentCachePolicy.Entry(key: "idle", bytes: 100, lastUsed: 2, inUse: false),
        ]
        #expect(EnvironmentCachePolicy.evictions(entries, maxBytes: 100) == ["idle"])
    }
}

@Suite("Package .env")
struct DotEnvTests {
    @Test func readsKeysValuesQuotesAndComments() {
        let values = DotEnv.parse("""
        # comment
        export API_HOST=0.0.0.0
        QUOTED="a b # not a comment"
        SINGLE='x=y'
        PLAIN=value # trailing comment
        EMPTY=
        1BAD=no
        BAD-NAME=no
        NOEQUALS
        """)
        #expect(values == ["API_HOST": "0.0.0.0", "QUOTED": "a b # not a comment", "SINGLE": "x=y", "PLAIN": "value", "EMPTY": ""])
    }

    @Test func nothingIsExpandedOrRun() {
        #expect(DotEnv.parse("A=$(whoami)\nB=${HOME}\n") == ["A": "$(whoami)", "B": "${HOME}"])
    }
}

@Suite("Pixell surfaces in the manifest and launch plan")
struct SurfacePlanTests {
    let demo = """
    name: demo
    version: '1.0'
    entrypoint: src.main:handler
    runtime: python3.11
    environment: {FROM_MANIFEST: manifest}
    dependencies:
    - fastapi>=0.112.0
    - uvicorn>=0.30.0
    a2a:
      service: src.a2a.server:serve
    rest:
      entry: src.rest.index:mount
    ui:
      path: ui
    """

    @Test func theManifestReadsEverySurface() throws {
        let manifest = try Manifest(yaml: demo)
        #expect(manifest.surfaces == Manifest.Surfaces(restEntry: "src.rest.index:mount", uiPath: "ui", a2aService: "src.a2a.server:serve"))
        #expect(manifest.dependencies == ["fastapi>=0.112.0", "uvicorn>=0.30.0"])
    }

    @Test(arguments: ["rest: src.rest:mount", "rest: {entry: 'not an entry'}", "ui: {}", "dependencies: fastapi"])
    func malformedSurfacesAreRefused(extra: String) {
        #expect(throws: PackageError.self) { try Manifest(yaml: "name: x\nentrypoint: a:b\n" + extra) }
    }

    @Test func thePlanPassesSurfacesPortsAndDotEnvUnderTheManifest() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        try FileManager.default.createDirectory(at: package.directory.path("dist/ui"), withIntermediateDirectories: true)
        try Data("FROM_MANIFEST=dotenv\nONLY_DOTENV=yes\nFROM_REQUEST=dotenv\n".utf8).write(to: package.directory.path(".env"))
        var launch = context()
        launch.a2aPort = 8124
        let plan = try package.plan(demo, request: ["FROM_REQUEST": "request"], context: launch)
        let arguments = plan.arguments
        #expect(arguments.contains("--rest") && arguments.contains("src.rest.index:mount"))
        let uiIndex = try #require(arguments.firstIndex(of: "--ui-dir"))
        #expect(arguments[uiIndex + 1].hasSuffix("/dist/ui"), "pixell build puts ui under dist/")
        let a2aIndex = try #require(arguments.firstIndex(of: "--a2a-port"))
        #expect(arguments[a2aIndex + 1] == "8124")
        #expect(plan.environment["A2A_PORT"] == "8124" && plan.environment["PAR_A2A_PORT"] == "8124")
        #expect(plan.environment["REST_PORT"] == "8123")
        #expect(plan.environment["ONLY_DOTENV"] == "yes")
        #expect(plan.environment["FROM_MANIFEST"] == "manifest", ".env is under the manifest's environment")
        #expect(plan.environment["FROM_REQUEST"] == "request", ".env is under the spawn's env_vars")
    }

    @Test func aUIFolderMustExistInsideThePackage() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        #expect(package.error("name: x\nentrypoint: a:b\nui: {path: missing}")?.description.contains("not a folder") == true)
        #expect(package.error("name: x\nentrypoint: a:b\nui: {path: ../..}")?.description.contains("leaves the package") == true)
    }

    @Test func restNeedsFastAPIAndUvicornAmongTheRequirements() throws {
        let manifest = try Manifest(yaml: demo)
        #expect(throws: Never.self) { try LaunchPlan.checkSurfaceDependencies(manifest, requirements: try Requirements(dependencies: manifest.dependencies, requirementsFile: nil)) }
        do {
            try LaunchPlan.checkSurfaceDependencies(manifest, requirements: try Requirements(dependencies: ["fastapi"], requirementsFile: nil))
            Issue.record("accepted without uvicorn")
        } catch {
            #expect(error.description.contains("uvicorn"))
        }
    }

    @Test func onlySurfacesWithoutAnEntrypointIsEnough() throws {
        let package = try PackageDirectory()
        defer { package.remove() }
        try FileManager.default.createDirectory(at: package.directory.path("ui"), withIntermediateDirectories: true)
        let plan = try package.plan("name: x\nruntime: python3.11\nui: {path: ui}")
        #expect(!plan.arguments.contains("--entrypoint"))
        #expect(package.error("name: x\nruntime: python3.11")?.description.contains("or a rest:, ui: or a2a: surface") == true)
    }

    @Test func otherRuntimesWithoutACommandAreRefusedByName() {
        let package = try? PackageDirectory()
        defer { package?.remove() }
        let error = package?.error("name: x\nruntime: node18\nentrypoint: index.js")
        guard case .unsupported(let reason)? = error else {
            Issue.record("expected unsupported, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("\"node18\"") && reason.contains("command:"))
    }
}
