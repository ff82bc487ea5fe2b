import Foundation
import PARCore
import Testing

/// Parses a spawn (or, with `base`, a restart) body the way the API does.
func parseSpec(_ json: String, defaults: AgentSpecDefaults = AgentSpecDefaults(), base: AgentSpec? = nil) throws(ValidationError) -> AgentSpec {
    var fields = try JSONFields(body: Data(json.utf8))
    return try AgentSpec.parse(&fields, defaults: defaults, base: base)
}

/// A minimal valid body with `field` set to the raw JSON `value` (replacing a required field of that name).
func body(with field: String, _ value: String) -> String {
    var parts = [("agent_id", "\"agent-1\""), ("package_path", "\"/pkgs/a.apkg\"")].filter { $0.0 != field }
    parts.append((field, value))
    return "{" + parts.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
}

@Suite("AgentSpec.parse")
struct AgentSpecParseTests {
    @Test func aMinimalBodyGetsTheSupervisorDefaults() throws {
        let defaults = AgentSpecDefaults(restart: RestartConfig(policy: .always, maxRestarts: 9), stopTimeoutSeconds: 4)
        let spec = try parseSpec(#"{"agent_id": "agent-1", "package_path": "/pkgs/a.apkg"}"#, defaults: defaults)
        #expect(spec == AgentSpec(
            agentID: try AgentID(validating: "agent-1"), packageID: nil, packagePath: "/pkgs/a.apkg", env: [:],
            restart: defaults.restart, stopTimeoutSeconds: 4, limits: ResourceLimits(), enforceLimits: true
        ))
    }

    @Test func everyFieldIsRead() throws {
        let spec = try parseSpec("""
        {"agent_id": "agent-1", "package_id": "com.example.a@1.0", "package_path": "/pkgs/a.apkg",
         "env_vars": {"A": "1", "B": "two"}, "restart_policy": "never", "max_restarts": 7,
         "restart_delay_seconds": 1.5, "backoff_multiplier": 3, "max_restart_delay_seconds": 30,
         "stable_seconds": 12, "stop_timeout_seconds": 2.5, "memory_limit_mb": 256, "cpu_limit": 0.5,
         "enforce_limits": false}
        """)
        #expect(spec == AgentSpec(
            agentID: try AgentID(validating: "agent-1"), packageID: "com.example.a@1.0", packagePath: "/pkgs/a.apkg",
            env: ["A": "1", "B": "two"],
            restart: RestartConfig(policy: .never, maxRestarts: 7, delaySeconds: 1.5, backoffMultiplier: 3, maxDelaySeconds: 30, stableSeconds: 12),
            stopTimeoutSeconds: 2.5, limits: ResourceLimits(memoryMB: 256, cpu: 0.5), enforceLimits: false
        ))
    }

    @Test func nullCountsAsLeavingAFieldOut() throws {
        let spec = try parseSpec(#"{"agent_id": "agent-1", "package_path": "/pkgs/a.apkg", "memory_limit_mb": null, "restart_policy": null}"#)
        #expect(spec.limits.memoryMB == nil)
        #expect(spec.restart.policy == RestartConfig().policy)
    }

    @Test(arguments: [
        ("agent_id", "5"),
        ("agent_id", "\"Not Valid\""),
        ("agent_id", "\"\""),
        ("package_id", "7"),
        ("package_id", "\"a\\nb\""),
        ("package_id", "\"\(String(repeating: "p", count: 201))\""),
        ("package_path", "\"relative/a.apkg\""),
        ("package_path", "true"),
        ("package_path", "\"\""),
        ("env_vars", "\"A=1\""),
        ("env_vars", "[\"A=1\"]"),
        ("restart_policy", "\"sometimes\""),
        ("restart_policy", "1"),
        ("max_restarts", "-1"),
        ("max_restarts", "1.5"),
        ("max_restarts", "\"3\""),
        ("max_restarts", "true"),
        ("max_restarts", "1000001"),
        ("restart_delay_seconds", "-0.1"),
        ("restart_delay_seconds", "\"5\""),
        ("restart_delay_seconds", "86401"),
        ("backoff_multiplier", "0.5"),
        ("backoff_multiplier", "101"),
        ("backoff_multiplier", "false"),
        ("max_restart_delay_seconds", "86401"),
        ("max_restart_delay_seconds", "{}"),
        ("stable_seconds", "-5"),
        ("stop_timeout_seconds", "3601"),
        ("stop_timeout_seconds", "\"10\""),
        ("memory_limit_mb", "3"),
        ("memory_limit_mb", "1048577"),
        ("memory_limit_mb", "64.5"),
        ("cpu_limit", "0"),
        ("cpu_limit", "4097"),
        ("cpu_limit", "\"1\""),
        ("enforce_limits", "1"),
        ("enforce_limits", "\"yes\""),
    ])
    func aWrongValueIsRefusedNamingItsField(field: String, value: String) throws {
        let error = try #require(throws: ValidationError.self) { try parseSpec(body(with: field, value)) }
        #expect(error.field == field, "\(error)")
    }

    @Test(arguments: ["agent_id", "package_path"])
    func aMissingRequiredFieldIsRefusedNamingIt(field: String) throws {
        let json = field == "agent_id" ? #"{"package_path": "/pkgs/a.apkg"}"# : #"{"agent_id": "agent-1"}"#
        let error = try #require(throws: ValidationError.self) { try parseSpec(json) }
        #expect(error.field == field)
    }

    @Test func anUnknownFieldIsRefusedNamingIt() throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(#"{"agent_id": "agent-1", "package_path": "/pkgs/a.apkg", "restart_polcy": "always"}"#)
        }
        #expect(error.field == "restart_polcy")
    }

    @Test func theUnknownFieldErrorListsTheAcceptedFields() throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(#"{"agent_id": "agent-1", "package_path": "/pkgs/a.apkg", "zzz": 1}"#)
        }
        #expect(error.reason.contains("restart_policy"))
    }

    @Test func maxDelayBelowTheDelayIsRefused() throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(#"{"agent_id": "a", "package_path": "/p", "restart_delay_seconds": 10, "max_restart_delay_seconds": 5}"#)
        }
        #expect(error.field == "max_restart_delay_seconds")
    }

    @Test func integersAreAcceptedWhereNumbersAreExpected() throws {
        let spec = try parseSpec(#"{"agent_id": "a", "package_path": "/p", "stop_timeout_seconds": 3, "cpu_limit": 2}"#)
        #expect(spec.stopTimeoutSeconds == 3)
        #expect(spec.limits.cpu == 2)
    }

    @Test func aWholeNumberWrittenWithAFractionIsAnInteger() throws {
        let spec = try parseSpec(#"{"agent_id": "a", "package_path": "/p", "max_restarts": 4.0}"#)
        #expect(spec.restart.maxRestarts == 4)
    }

    // MARK: environment

    @Test(arguments: AgentSpec.reservedEnvironment.sorted())
    func aReservedVariableIsRefused(name: String) throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(body(with: "env_vars", "{\"\(name)\": \"1\"}"))
        }
        #expect(error.field == "env_vars.\(name)")
    }

    @Test func theReservedVariablesIncludeThePortAndIdentity() {
        #expect(AgentSpec.reservedEnvironment.isSuperset(of: ["PAR_PORT", "PORT", "PAR_AGENT_ID", "PAR_PACKAGE_ID", "PAR_PACKAGE_PATH", "PAR_MODE", "PAR_SUPERVISOR_URL"]))
    }

    @Test(arguments: ["A=B", "A\\u0000B", ""])
    func aVariableNameWithEqualsOrNULOrEmptyIsRefused(escapedName: String) throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(body(with: "env_vars", "{\"\(escapedName)\": \"1\"}"))
        }
        #expect(error.field.hasPrefix("env_vars."))
    }

    @Test func aValueWithNULIsRefused() throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(body(with: "env_vars", #"{"A": "x\u0000y"}"#))
        }
        #expect(error.field == "env_vars.A")
    }

    @Test func aNumericValueIsTakenAsItsText() throws {
        let spec = try parseSpec(body(with: "env_vars", #"{"N": 5, "F": 2.5}"#))
        #expect(spec.env == ["N": "5", "F": "2.5"])
    }

    @Test(arguments: ["true", "null", "[1]", "{\"x\": 1}"])
    func aNonStringValueIsRefusedNamingTheVariable(value: String) throws {
        let error = try #require(throws: ValidationError.self) {
            try parseSpec(body(with: "env_vars", "{\"A\": \(value)}"))
        }
        #expect(error.field == "env_vars.A")
    }

    @Test func ordinaryVariablesArePassedThrough() throws {
        let spec = try parseSpec(body(with: "env_vars", #"{"PAR_CUSTOM": "ok", "path_like": "/a:/b", "EMPTY": ""}"#))
        #expect(spec.env == ["PAR_CUSTOM": "ok", "path_like": "/a:/b", "EMPTY": ""])
    }

    // MARK: body

    @Test(arguments: ["", "   ", "{not json", "[1, 2]", "\"text\"", "42", "null"])
    func aBodyThatIsNotAJSONObjectIsRefusedAsBody(text: String) throws {
        let error = try #require(throws: ValidationError.self) { try JSONFields(body: Data(text.utf8)) }
        #expect(error.field == "body")
    }

    /// An unknown field is named with what the request takes; a request that takes none says so.
    @Test func anUnknownFieldIsRefusedWithWhatIsAccepted() throws {
        var fields = try JSONFields(body: Data(#"{"name": "a", "x": 1}"#.utf8))
        _ = try fields.string("name")
        let named = try #require(throws: ValidationError.self) { try fields.rejectUnknown() }
        #expect(named.field == "x" && named.reason.hasSuffix("accepted fields are name"), "\(named)")
        let none = try #require(throws: ValidationError.self) { try JSONFields(body: Data(#"{"x": 1}"#.utf8)).rejectUnknown() }
        #expect(none.field == "x" && none.reason.contains("takes no fields: send {} or no body"), "\(none)")
    }
}

@Suite("AgentSpec.parse for restart")
struct AgentSpecRestartTests {
    let base = AgentSpec(
        agentID: try! AgentID(validating: "worker"), packageID: "com.example.w@1", packagePath: "/pkgs/w.apkg",
        env: ["A": "1"],
        restart: RestartConfig(policy: .always, maxRestarts: 5, delaySeconds: 2, backoffMultiplier: 3, maxDelaySeconds: 60, stableSeconds: 30),
        stopTimeoutSeconds: 7, limits: ResourceLimits(memoryMB: 128, cpu: 1.5), enforceLimits: false
    )

    @Test func anEmptyBodyKeepsTheCurrentSpec() throws {
        #expect(try parseSpec("{}", base: base) == base)
    }

    @Test func theBaseWinsOverTheSupervisorDefaults() throws {
        let defaults = AgentSpecDefaults(restart: RestartConfig(policy: .never, maxRestarts: 0), stopTimeoutSeconds: 99)
        #expect(try parseSpec("{}", defaults: defaults, base: base) == base)
    }

    @Test func onlyTheNamedFieldsChange() throws {
        let spec = try parseSpec(#"{"max_restarts": 9, "memory_limit_mb": 512}"#, base: base)
        var expected = base
        expected.restart.maxRestarts = 9
        expected.limits.memoryMB = 512
        #expect(spec == expected)
    }

    @Test func givenEnvVarsReplaceTheWholeEnvironment() throws {
        let spec = try parseSpec(#"{"env_vars": {"B": "2"}}"#, base: base)
        #expect(spec.env == ["B": "2"])
    }

    @Test func theSameAgentIDIsAccepted() throws {
        #expect(try parseSpec(#"{"agent_id": "worker"}"#, base: base) == base)
    }

    @Test func aDifferentAgentIDIsRefused() throws {
        let error = try #require(throws: ValidationError.self) { try parseSpec(#"{"agent_id": "other"}"#, base: base) }
        #expect(error.field == "agent_id")
    }

    @Test func unknownFieldsAreRefusedOnRestartToo() throws {
        let error = try #require(throws: ValidationError.self) { try parseSpec(#"{"max_restart": 1}"#, base: base) }
        #expect(error.field == "max_restart")
    }

    @Test func aReservedVariableIsRefusedOnRestartToo() throws {
        let error = try #require(throws: ValidationError.self) { try parseSpec(#"{"env_vars": {"PORT": "1"}}"#, base: base) }
        #expect(error.field == "env_vars.PORT")
    }

    /// Every field a spawn takes, none at its default.
    static let everyField: [String: String] = [
        "package_id": #""com.example.w@2""#, "env_vars": #"{"B": "2"}"#,
        "restart_policy": #""on-failure""#, "max_restarts": "9", "restart_delay_seconds": "3",
        "backoff_multiplier": "4", "max_restart_delay_seconds": "90", "stable_seconds": "45",
        "backoff_jitter": "0.5", "start_limit_burst": "7", "start_limit_interval_seconds": "20",
        "success_exit_codes": "[3]", "no_restart_exit_codes": "[4]", "stop_timeout_seconds": "8",
        "memory_limit_mb": "256", "memory_swap_mb": "64", "cpu_limit": "0.5", "pids_limit": "100",
        "nice": "5", "enforce_limits": "false", "health_check": #"{"path": "/ready"}"#,
        "log_retention": #"{"max_entries": 1000}"#, "depends_on": #"["db"]"#,
    ]

    static func spawnBody(without removed: Set<String>) -> String {
        let fields = everyField.filter { !removed.contains($0.key) }.map { "\"\($0.key)\": \($0.value)" }
        return "{" + (["\"agent_id\": \"worker\"", "\"package_path\": \"/pkgs/w.apkg\""] + fields).joined(separator: ", ") + "}"
    }

    /// `null` on restart gives what a spawn without the field gets, for every field (so a
    /// limit can be lifted); clearing the memory limit clears the swap on top of it.
    @Test(arguments: everyField.keys.sorted())
    func nullOnRestartIsWhatASpawnWithoutTheFieldGets(field: String) throws {
        let defaults = AgentSpecDefaults(restart: RestartConfig(policy: .never, maxRestarts: 1), stopTimeoutSeconds: 99)
        let current = try parseSpec(Self.spawnBody(without: []), defaults: defaults)
        let restarted = try parseSpec("{\"\(field)\": null}", defaults: defaults, base: current)
        let removed: Set<String> = field == "memory_limit_mb" ? [field, "memory_swap_mb"] : [field]
        #expect(restarted == (try parseSpec(Self.spawnBody(without: removed), defaults: defaults)))
        #expect(restarted != current, "\(field): null changed nothing")
    }

    @Test func nullLeavesTheAgentAndItsPackageAndAnUnknownNullIsStillRefused() throws {
        #expect(try parseSpec(#"{"agent_id": null, "package_path": null}"#, base: base) == base)
        let error = try #require(throws: ValidationError.self) { try parseSpec(#"{"memory_limit": null}"#, base: base) }
        #expect(error.field == "memory_limit")
    }

    @Test func aRestartDelayAboveTheBasesMaxDelayIsRefused() throws {
        let error = try #require(throws: ValidationError.self) { try parseSpec(#"{"restart_delay_seconds": 61}"#, base: base) }
        #expect(error.field == "max_restart_delay_seconds")
    }
}
