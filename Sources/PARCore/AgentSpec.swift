import Foundation

/// What the user asked for: the desired state of one agent (validated spawn request).
public struct AgentSpec: Sendable, Equatable {
    public var agentID: AgentID
    /// Nil when the request gave none: the package's `name@version` is used.
    public var packageID: String?
    public var packagePath: String
    public var env: [String: String]
    public var restart: RestartConfig
    public var stopTimeoutSeconds: Double
    public var limits: ResourceLimits
    /// Nil: the package's `health:` or the default (HTTP GET /health). Replaces the package's whole.
    public var healthCheck: HealthCheckConfig?
    /// False: run even where the limits cannot be enforced (status then says so).
    public var enforceLimits: Bool
    /// Nil: the daemon's default log retention.
    public var logRetention: LogRetentionPolicy?
    /// Exits that count as success (`success_exit_codes`); nil: the package's, else none.
    public var successExitStatuses: Set<ExitStatus>?
    /// Exits after which it is never restarted (`no_restart_exit_codes`); nil: the package's, else none.
    public var noRestartExitStatuses: Set<ExitStatus>?
    /// `depends_on`: agents that must be started (or healthy) before this one starts.
    public var dependencies: [Dependency]

    public var processID: String { agentID.processID }

    /// Variables the supervisor sets for every agent; a request may not override them.
    public static let reservedEnvironment: Set<String> = [
        "PAR_PORT", "PORT", "PAR_AGENT_ID", "PAR_PACKAGE_ID", "PAR_PACKAGE_PATH", "PAR_MODE", "PAR_SUPERVISOR_URL",
    ]

    public init(
        agentID: AgentID, packageID: String?, packagePath: String, env: [String: String] = [:],
        restart: RestartConfig = RestartConfig(), stopTimeoutSeconds: Double = 10,
        limits: ResourceLimits = ResourceLimits(), enforceLimits: Bool = true, healthCheck: HealthCheckConfig? = nil,
        logRetention: LogRetentionPolicy? = nil, successExitStatuses: Set<ExitStatus>? = nil,
        noRestartExitStatuses: Set<ExitStatus>? = nil, dependencies: [Dependency] = []
    ) {
        self.dependencies = dependencies
        self.successExitStatuses = successExitStatuses
        self.noRestartExitStatuses = noRestartExitStatuses
        self.agentID = agentID
        self.packageID = packageID
        self.packagePath = packagePath
        self.env = env
        self.restart = restart
        self.stopTimeoutSeconds = stopTimeoutSeconds
        self.limits = limits
        self.enforceLimits = enforceLimits
        self.healthCheck = healthCheck
        self.logRetention = logRetention
    }

    /// This spec with the fields a restart's body gives as `null` put back to what a spawn
    /// without them gets (the supervisor's defaults, no limit, no override), so a restart
    /// can lift a limit as well as change one. `agent_id` and `package_path` cannot be
    /// cleared: `null` leaves them. Clearing `memory_limit_mb` clears the swap on top of it.
    public func clearing(_ fields: Set<String>, defaults: AgentSpecDefaults) -> AgentSpec {
        var spec = self
        for field in fields {
            switch field {
            case "package_id": spec.packageID = nil
            case "env_vars": spec.env = [:]
            case "restart_policy": spec.restart.policy = defaults.restart.policy
            case "max_restarts": spec.restart.maxRestarts = defaults.restart.maxRestarts
            case "restart_delay_seconds": spec.restart.delaySeconds = defaults.restart.delaySeconds
            case "backoff_multiplier": spec.restart.backoffMultiplier = defaults.restart.backoffMultiplier
            case "max_restart_delay_seconds": spec.restart.maxDelaySeconds = defaults.restart.maxDelaySeconds
            case "stable_seconds": spec.restart.stableSeconds = defaults.restart.stableSeconds
            case "backoff_jitter": spec.restart.jitterFraction = defaults.restart.jitterFraction
            case "start_limit_burst": spec.restart.startLimitBurst = defaults.restart.startLimitBurst
            case "start_limit_interval_seconds": spec.restart.startLimitIntervalSeconds = defaults.restart.startLimitIntervalSeconds
            case "success_exit_codes": spec.successExitStatuses = nil
            case "no_restart_exit_codes": spec.noRestartExitStatuses = nil
            case "stop_timeout_seconds": spec.stopTimeoutSeconds = defaults.stopTimeoutSeconds
            case "memory_limit_mb":
                spec.limits.memoryMB = nil
                spec.limits.memorySwapMB = nil
            case "memory_swap_mb": spec.limits.memorySwapMB = nil
            case "cpu_limit": spec.limits.cpu = nil
            case "pids_limit": spec.limits.pidsLimit = nil
            case "nice": spec.limits.nice = 0
            case "enforce_limits": spec.enforceLimits = true
            case "health_check": spec.healthCheck = nil
            case "log_retention": spec.logRetention = nil
            case "depends_on": spec.dependencies = []
            default: break
            }
        }
        return spec
    }

    /// Parses and validates the seed's spawn body.
    /// - Parameters:
    ///   - defaults: the supervisor's defaults for fields the request leaves out.
    ///   - base: for restart, the agent's current spec: the body changes only the fields it names,
    ///     and naming another agent_id is refused.
    public static func parse(
        _ fields: inout JSONFields, defaults: AgentSpecDefaults, base: AgentSpec? = nil
    ) throws(ValidationError) -> AgentSpec {
        let base = base?.clearing(fields.nullFields, defaults: defaults)
        let agentID: AgentID
        if let base {
            if let given = try fields.string("agent_id"), given != base.agentID.rawValue {
                throw ValidationError(field: "agent_id", reason: "the body names \(given.debugDescription) but the path names process \(base.processID); leave agent_id out or make them match")
            }
            agentID = base.agentID
        } else {
            agentID = try AgentID(validating: try fields.requiredString("agent_id"))
        }
        let packageID = try fields.string("package_id") ?? base?.packageID
        if let packageID { try validatePackageID(packageID) }
        let packagePath: String
        if let base {
            packagePath = try fields.string("package_path") ?? base.packagePath
        } else {
            packagePath = try fields.requiredString("package_path")
        }
        guard packagePath.hasPrefix("/") else {
            throw ValidationError(field: "package_path", reason: "must be an absolute path, got \(packagePath.debugDescription)")
        }
        let env = try fields.stringMap("env_vars") ?? base?.env ?? [:]
        try validateEnvironment(env)

        var restart = base?.restart ?? defaults.restart
        if let raw = try fields.string("restart_policy") {
            guard let policy = RestartPolicy(rawValue: raw) else {
                throw ValidationError(field: "restart_policy", reason: "must be one of always, on-failure, never; got \(raw.debugDescription)")
            }
            restart.policy = policy
        }
        restart.maxRestarts = try fields.int("max_restarts", in: 0...1_000_000) ?? restart.maxRestarts
        restart.delaySeconds = try fields.double("restart_delay_seconds", in: 0...86_400) ?? restart.delaySeconds
        restart.backoffMultiplier = try fields.double("backoff_multiplier", in: 1...100) ?? restart.backoffMultiplier
        restart.maxDelaySeconds = try fields.double("max_restart_delay_seconds", in: 0...86_400) ?? restart.maxDelaySeconds
        restart.stableSeconds = try fields.double("stable_seconds", in: 0...86_400) ?? restart.stableSeconds
        restart.jitterFraction = try fields.double("backoff_jitter", in: 0...1) ?? restart.jitterFraction
        restart.startLimitBurst = try fields.int("start_limit_burst", in: 0...1_000_000) ?? restart.startLimitBurst
        restart.startLimitIntervalSeconds = try fields.double("start_limit_interval_seconds", in: 0.001...86_400) ?? restart.startLimitIntervalSeconds
        let successExits = try ExitStatusRules.parseList(try fields.array("success_exit_codes"), field: "success_exit_codes") ?? base?.successExitStatuses
        let noRestartExits = try ExitStatusRules.parseList(try fields.array("no_restart_exit_codes"), field: "no_restart_exit_codes") ?? base?.noRestartExitStatuses
        if restart.maxDelaySeconds < restart.delaySeconds {
            throw ValidationError(field: "max_restart_delay_seconds", reason: "must be at least restart_delay_seconds (\(restart.delaySeconds)), got \(restart.maxDelaySeconds)")
        }
        let stopTimeout = try fields.double("stop_timeout_seconds", in: 0...3_600) ?? base?.stopTimeoutSeconds ?? defaults.stopTimeoutSeconds
        var limits = base?.limits ?? ResourceLimits()
        limits.memoryMB = try fields.int("memory_limit_mb", in: 4...1_048_576) ?? limits.memoryMB
        limits.memorySwapMB = try fields.int("memory_swap_mb", in: 0...1_048_576) ?? limits.memorySwapMB
        limits.cpu = try fields.double("cpu_limit", in: 0.01...4_096) ?? limits.cpu
        limits.pidsLimit = try fields.int("pids_limit", in: 1...4_194_304) ?? limits.pidsLimit
        limits.nice = try fields.int("nice", in: -20...19) ?? limits.nice
        if limits.memorySwapMB != nil && limits.memoryMB == nil {
            throw ValidationError(field: "memory_swap_mb", reason: "needs memory_limit_mb: swap is allowed on top of a memory limit")
        }
        let enforce = try fields.bool("enforce_limits") ?? base?.enforceLimits ?? true
        var healthCheck = base?.healthCheck
        if let object = try fields.object("health_check") {
            healthCheck = try HealthCheckConfig.parse(object, over: .builtInDefault, field: "health_check")
        }
        var logRetention = base?.logRetention
        if let object = try fields.object("log_retention") {
            logRetention = try LogRetentionPolicy.parse(object, over: logRetention ?? .default, field: "log_retention")
        }
        var dependencies = base?.dependencies ?? []
        if let list = try fields.array("depends_on") {
            dependencies = try Dependency.parseList(list, field: "depends_on")
        }
        if dependencies.contains(where: { $0.agentID == agentID }) {
            throw ValidationError(field: "depends_on", reason: "\(agentID.rawValue) cannot depend on itself")
        }
        try fields.rejectUnknown()
        return AgentSpec(
            agentID: agentID, packageID: packageID, packagePath: packagePath, env: env, restart: restart,
            stopTimeoutSeconds: stopTimeout, limits: limits, enforceLimits: enforce, healthCheck: healthCheck,
            logRetention: logRetention, successExitStatuses: successExits, noRestartExitStatuses: noRestartExits,
            dependencies: dependencies
        )
    }

    /// The exit rules this spec gives, over the package's for any list it leaves out.
    public func exitRules(package: ExitStatusRules) -> ExitStatusRules {
        ExitStatusRules(success: successExitStatuses ?? package.success, noRestart: noRestartExitStatuses ?? package.noRestart)
    }

    public static func validatePackageID(_ id: String) throws(ValidationError) {
        guard id.utf8.count <= 200, !id.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw ValidationError(field: "package_id", reason: "must be at most 200 characters with no newline or NUL")
        }
    }

    public static func validateEnvironment(_ env: [String: String]) throws(ValidationError) {
        for (key, value) in env.sorted(by: { $0.key < $1.key }) {
            guard !key.isEmpty, !key.contains("="), !key.contains("\0") else {
                throw ValidationError(field: "env_vars.\(key)", reason: "a variable name must be non-empty with no '=' or NUL")
            }
            guard !value.contains("\0") else {
                throw ValidationError(field: "env_vars.\(key)", reason: "a value may not contain NUL")
            }
            if reservedEnvironment.contains(key) {
                throw ValidationError(field: "env_vars.\(key)", reason: "is set by the supervisor and cannot be overridden (reserved: \(reservedEnvironment.sorted().joined(separator: ", ")))")
            }
        }
    }
}

/// Supervisor-wide defaults for what a spawn request leaves out.
public struct AgentSpecDefaults: Sendable {
    public var restart: RestartConfig
    public var stopTimeoutSeconds: Double

    public init(restart: RestartConfig = RestartConfig(), stopTimeoutSeconds: Double = 10) {
        self.restart = restart
        self.stopTimeoutSeconds = stopTimeoutSeconds
    }
}
