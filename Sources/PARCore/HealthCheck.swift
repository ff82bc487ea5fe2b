/// How the supervisor asks an agent whether it is alive and ready.
public struct HealthCheckConfig: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// HTTP GET on the agent's port; any 2xx or 3xx is healthy.
        case http(path: String)
        /// A TCP connect to the agent's port.
        case tcp
        /// No probe: the agent is ready as soon as it runs.
        case none
    }

    public var kind: Kind
    public var intervalSeconds: Double
    public var timeoutSeconds: Double
    /// Consecutive failed liveness probes that make the agent `unhealthy` and restart it.
    public var failureThreshold: Int
    /// How long a new process may take to answer its first probe.
    public var startTimeoutSeconds: Double
    /// Nobody declared the kind (the request and the package name neither `type` nor
    /// `path`): the agent may be an HTTP server or a worker that listens nowhere, so an
    /// HTTP answer of any 4xx counts as alive (it speaks HTTP, it has no such route), and
    /// nothing listening by the start timeout makes it a worker judged by its process,
    /// said in its log, instead of a kill.
    public var isBuiltInDefault = false

    /// HTTP GET /health, as nobody declared it.
    public static let builtInDefault: HealthCheckConfig = {
        var config = HealthCheckConfig()
        config.isBuiltInDefault = true
        return config
    }()

    public init(kind: Kind = .http(path: "/health"), intervalSeconds: Double = 10, timeoutSeconds: Double = 2, failureThreshold: Int = 3, startTimeoutSeconds: Double = 30) {
        self.kind = kind
        self.intervalSeconds = intervalSeconds
        self.timeoutSeconds = timeoutSeconds
        self.failureThreshold = failureThreshold
        self.startTimeoutSeconds = startTimeoutSeconds
    }

    public var typeName: String {
        switch kind {
        case .http: "http"
        case .tcp: "tcp"
        case .none: "none"
        }
    }

    /// Reads `{"type", "path", "interval_seconds", "timeout_seconds", "failure_threshold",
    /// "start_timeout_seconds"}` over `base`; `field` prefixes error names (e.g. `health_check`).
    public static func parse(_ object: [String: Any], over base: HealthCheckConfig, field: String) throws(ValidationError) -> HealthCheckConfig {
        var fields = JSONFields(object: object)
        var config = base
        let type = try fields.string("type")
        let path = try fields.string("path")
        config.isBuiltInDefault = base.isBuiltInDefault && type == nil && path == nil
        switch type {
        case nil:
            if let path { config.kind = .http(path: path) }
        case "http":
            config.kind = .http(path: path ?? { if case .http(let p) = base.kind { return p } else { return "/health" } }())
        case "tcp":
            config.kind = .tcp
        case "none":
            config.kind = .none
        case let other?:
            throw ValidationError(field: "\(field).type", reason: "must be http, tcp or none, got \(other.debugDescription)")
        }
        if case .http(let p) = config.kind, !p.hasPrefix("/") || p.contains(where: { $0 == " " || $0 == "\n" || $0 == "\r" }) {
            throw ValidationError(field: "\(field).path", reason: "must be a path starting with / without spaces, got \(p.debugDescription)")
        }
        do {
            config.intervalSeconds = try fields.double("interval_seconds", in: 0.05...3_600) ?? config.intervalSeconds
            config.timeoutSeconds = try fields.double("timeout_seconds", in: 0.01...600) ?? config.timeoutSeconds
            config.failureThreshold = try fields.int("failure_threshold", in: 1...1_000) ?? config.failureThreshold
            config.startTimeoutSeconds = try fields.double("start_timeout_seconds", in: 0.1...86_400) ?? config.startTimeoutSeconds
            try fields.rejectUnknown()
        } catch {
            throw ValidationError(field: "\(field).\(error.field)", reason: error.reason)
        }
        return config
    }
}

/// Pure readiness and liveness state of one run of an agent.
public struct HealthTracker: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// Waiting for the first successful probe (readiness).
        case starting
        /// Ready; liveness probes run every interval.
        case live
        /// The built-in check found nothing listening by the start timeout: a worker, judged
        /// by its process from then on (no more probes).
        case unprobed
    }

    public enum Decision: Sendable, Equatable {
        case nothing
        /// The first probe succeeded: the agent is `running` and routable.
        case ready
        /// Restart the agent: `start_timeout` or `unhealthy`.
        case restart(reason: String, detail: String)
        /// Running, with no probes from now on (`Phase.unprobed`); `detail` says why and how
        /// to declare a check.
        case runUnprobed(detail: String)
    }

    public let config: HealthCheckConfig
    public private(set) var phase: Phase = .starting
    public private(set) var consecutiveFailures = 0
    public private(set) var lastError: String?
    /// The last probe found nothing listening (a refused connection, not an HTTP answer).
    public private(set) var lastRefused = false
    /// Seconds on the supervisor's monotonic clock.
    public let startedAt: Double

    public init(config: HealthCheckConfig, startedAt: Double) {
        self.config = config
        self.startedAt = startedAt
    }

    /// No more probes: the agent runs judged by its process (`Decision.runUnprobed`).
    public mutating func stopProbing() {
        phase = .unprobed
    }

    /// Probes while starting come often (so readiness is seen quickly), then every interval.
    public func nextProbeDelay() -> Double {
        phase == .starting ? min(0.05, config.intervalSeconds) : config.intervalSeconds
    }

    public mutating func record(_ result: ProbeOutcome, now: Double) -> Decision {
        var success = result.healthy
        // An HTTP agent without the default's route still answers: it is alive.
        if config.isBuiltInDefault, let status = result.answeredStatus, (400..<500).contains(status) { success = true }
        lastRefused = !success && result.refused
        return record(success: success, error: result.error, now: now)
    }

    public mutating func record(success: Bool, error: String?, now: Double) -> Decision {
        if success {
            consecutiveFailures = 0
            lastError = nil
            if phase == .starting {
                phase = .live
                return .ready
            }
            return .nothing
        }
        consecutiveFailures += 1
        lastError = error
        switch phase {
        case .starting:
            return startDecision(now: now)
        case .unprobed:
            return .nothing
        case .live:
            guard consecutiveFailures >= config.failureThreshold else { return .nothing }
            return .restart(reason: "unhealthy", detail: "\(consecutiveFailures) consecutive failed health checks (failure_threshold \(config.failureThreshold)); last: \(error ?? "no answer")")
        }
    }

    /// While starting, whether the start timeout has passed.
    public func startDecision(now: Double) -> Decision {
        guard phase == .starting, now - startedAt >= config.startTimeoutSeconds else { return .nothing }
        if config.isBuiltInDefault, lastRefused {
            return .runUnprobed(detail: "nothing listens on its port after \(config.startTimeoutSeconds) s, and no health_check is declared: it is taken for a worker and judged by its process (declare health_check {type: none} to say so, or {type: http, path: ...} or {type: tcp} to have it checked)")
        }
        return .restart(reason: "start_timeout", detail: "did not pass its health check within start_timeout_seconds \(config.startTimeoutSeconds)\(lastError.map { "; last: \($0)" } ?? "")")
    }
}

/// The overall status of `/supervisor/health`: `healthy` when every live agent is healthy
/// (or there is none) and none has failed, `unhealthy` when no live agent is healthy,
/// `degraded` in between.
/// An agent that gave up (`failed`) keeps the fleet from `healthy`: something an operator
/// must look at is down for good.
public enum FleetHealth {
    public static func status(total: Int, healthy: Int, failed: Int = 0) -> String {
        if healthy >= total { return failed > 0 ? "degraded" : "healthy" }
        if healthy == 0 { return "unhealthy" }
        return "degraded"
    }
}

/// What one probe found, as the tracker reads it (the supervisor's `ProbeResult`).
public struct ProbeOutcome: Sendable, Equatable {
    public var healthy: Bool
    public var error: String?
    /// The HTTP status the agent answered with, when it answered.
    public var answeredStatus: Int?
    /// Nothing listened: the connection was refused.
    public var refused: Bool

    public init(healthy: Bool, error: String? = nil, answeredStatus: Int? = nil, refused: Bool = false) {
        self.healthy = healthy
        self.error = error
        self.answeredStatus = answeredStatus
        self.refused = refused
    }
}
