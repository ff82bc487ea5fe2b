import Foundation
import PARPackages
import Testing

func manifestError(_ yaml: String) -> PackageError? {
    do {
        _ = try Manifest(yaml: yaml)
        return nil
    } catch {
        return error
    }
}

func isInvalidManifest(_ error: PackageError?) -> Bool {
    if case .invalidManifest = error { return true }
    return false
}

@Suite("Manifest")
struct ManifestTests {
    @Test func readsTheFieldsOfAPythonPackage() throws {
        let manifest = try Manifest(yaml: """
        name: weather-agent
        version: 1.2.3
        runtime: python3.11
        entrypoint: src.main:handler
        environment:
          API_URL: https://example.com
          RETRIES: "3"
        """)
        #expect(manifest.name == "weather-agent")
        #expect(manifest.version == "1.2.3")
        #expect(manifest.runtime == "python3.11")
        #expect(manifest.entrypoint == "src.main:handler")
        #expect(manifest.command == nil)
        #expect(manifest.environment == ["API_URL": "https://example.com", "RETRIES": "3"])
    }

    @Test func readsExitRules() throws {
        let manifest = try Manifest(yaml: """
        name: batch
        command: ["./run.sh"]
        success_exit_codes: [0, 3, SIGTERM]
        no_restart_exit_codes: [78, sigabrt]
        """)
        #expect(manifest.exitRules.success == [.code(0), .code(3), .signal(15)])
        #expect(manifest.exitRules.noRestart == [.code(78), .signal(6)])
        #expect(try Manifest(yaml: "name: plain").exitRules.isEmpty)
    }

    @Test(arguments: ["success_exit_codes: 3", "success_exit_codes: [300]", "no_restart_exit_codes: [SIGNOPE]", "no_restart_exit_codes: {a: 1}"])
    func refusesBadExitRulesSayingWhich(line: String) {
        let error = manifestError("name: bad\n" + line)
        #expect(isInvalidManifest(error))
        #expect("\(error.map { "\($0)" } ?? "")".contains(String(line.prefix(while: { $0 != ":" }))))
    }

    @Test func packageIDIsNameAtVersion() throws {
        #expect(try Manifest(yaml: "name: a\nversion: 2.0.1").packageID == "a@2.0.1")
    }

    @Test func aMissingVersionIsZeroZeroZero() throws {
        #expect(try Manifest(yaml: "name: a").version == "0.0.0")
    }

    @Test func anIntegerVersionIsTakenAsText() throws {
        #expect(try Manifest(yaml: "name: a\nversion: 3").version == "3")
    }

    @Test
    func anUnquotedDecimalVersionKeepsItsDigits() throws {
        #expect(try Manifest(yaml: "name: a\nversion: 1.10").version == "1.10")
    }

    @Test func commandIsReadAsAnArgv() throws {
        let manifest = try Manifest(yaml: "name: a\ncommand: [\"./bin/agent\", \"--flag\", \"value with space\"]")
        #expect(manifest.command == ["./bin/agent", "--flag", "value with space"])
    }

    @Test func integersInCommandBecomeText() throws {
        let manifest = try Manifest(yaml: "name: a\ncommand:\n  - ./serve\n  - --workers\n  - 4")
        #expect(manifest.command == ["./serve", "--workers", "4"])
    }

    @Test func environmentValuesThatAreNumbersOrBooleansBecomeText() throws {
        let manifest = try Manifest(yaml: "name: a\nenvironment:\n  WORKERS: 4\n  DEBUG: true")
        #expect(manifest.environment == ["WORKERS": "4", "DEBUG": "true"])
    }

    @Test func anEmptyEnvironmentValueIsTheEmptyString() throws {
        let manifest = try Manifest(yaml: "name: a\nenvironment:\n  EMPTY: \"\"")
        #expect(manifest.environment == ["EMPTY": ""])
    }

    @Test
    func anEnvironmentVariableWithNoValueIsEmpty() throws {
        let manifest = try Manifest(yaml: "name: a\nenvironment:\n  EMPTY:\n")
        #expect(manifest.environment == ["EMPTY": ""])
    }

    @Test func noEnvironmentIsAnEmptyMap() throws {
        #expect(try Manifest(yaml: "name: a").environment.isEmpty)
    }

    @Test(arguments: [
        "version: 1.0.0",                         // no name
        "name: \"\"",                             // empty name
        "name: [a, b]",                           // name not a string
        "- name: a",                              // top level is a list
        "just text",                              // top level is a scalar
        "",                                       // empty document
        "name: a\ncommand: []",                   // empty argv
        "name: a\ncommand: ./run.sh",             // argv not a list
        "name: a\ncommand: [[\"nested\"]]",       // argv item not a string
        "name: a\ncommand: [{x: 1}]",             // argv item a mapping
        "name: a\nenvironment: [A, B]",           // environment not a mapping
        "name: a\nentrypoint: {module: x}",       // entrypoint not a string
        "name: a\n  bad: indentation\n - x",      // not YAML
    ])
    func aMalformedManifestIsAnInvalidManifest(yaml: String) {
        let error = manifestError(yaml)
        #expect(isInvalidManifest(error), "\(String(describing: error))")
    }

    @Test func loadReadsAgentYAMLFromADirectory() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data("name: from-disk\nversion: 9.9.9\n".utf8).write(to: directory.path("agent.yaml"))
        #expect(try Manifest.load(fromDirectory: directory.url).packageID == "from-disk@9.9.9")
    }

    @Test func loadFromADirectoryWithoutAgentYAMLIsAnInvalidManifest() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        do {
            _ = try Manifest.load(fromDirectory: directory.url)
            Issue.record("expected invalidManifest")
        } catch {
            #expect(isInvalidManifest(error), "\(error)")
        }
    }
}

@Suite("expandVariables")
struct ExpandVariablesTests {
    let variables = ["HOME": "/home/agent", "EMPTY": "", "REGION": "eu-west-1"]

    func expand(_ text: String) -> String {
        expandVariables(text) { variables[$0] }
    }

    @Test func aSetVariableIsReplaced() {
        #expect(expand("${HOME}/data") == "/home/agent/data")
    }

    @Test func anUnsetVariableBecomesEmpty() {
        #expect(expand("[${MISSING}]") == "[]")
    }

    @Test func anUnsetVariableUsesItsDefault() {
        #expect(expand("${MISSING:-fallback}") == "fallback")
    }

    @Test func anEmptyVariableUsesItsDefault() {
        #expect(expand("${EMPTY:-fallback}") == "fallback")
    }

    @Test func aSetVariableIgnoresItsDefault() {
        #expect(expand("${REGION:-us-east-1}") == "eu-west-1")
    }

    @Test func anEmptyDefaultGivesEmpty() {
        #expect(expand("a${MISSING:-}b") == "ab")
    }

    @Test func theDefaultMayContainColonDash() {
        #expect(expand("${MISSING:-a:-b}") == "a:-b")
    }

    @Test func severalReferencesInOneValueAreAllReplaced() {
        #expect(expand("${HOME}:${REGION}:${MISSING:-x}") == "/home/agent:eu-west-1:x")
    }

    @Test func anUnterminatedReferenceIsKeptAsText() {
        #expect(expand("prefix ${HOME") == "prefix ${HOME")
    }

    @Test func textAfterTheLastReferenceIsKept() {
        #expect(expand("${REGION} and more ${UNTERMINATED") == "eu-west-1 and more ${UNTERMINATED")
    }

    @Test(arguments: ["$HOME", "plain text", "", "cost: $5 {not a ref}", "{${"])
    func textWithoutReferencesIsUnchanged(text: String) {
        #expect(expand(text) == text)
    }
}
