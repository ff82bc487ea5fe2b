import Foundation
import PARCore
import PARPackages

/// Everything a supervisor is started with; `par serve` fills it from flags.
public struct SupervisorConfig: Sendable {
    public var dataDirectory: URL
    public var portRange: ClosedRange<Int>
    /// `package_path` must lie below one of these.
    public var packageDirectories: [String]
    /// Given to agents as PAR_SUPERVISOR_URL.
    public var supervisorURL: String
    public var defaults: AgentSpecDefaults
    public var sampleIntervalSeconds: Double
    public var pythonExecutable: String
    public var extractionLimits: PackageExtractor.Limits
    /// Log retention for processes whose spawn gave no `log_retention`.
    public var logRetention: LogRetentionPolicy
    /// All stored log lines together stay under this.
    public var logMaxTotalBytes: Int
    /// A longer printed line is cut into pieces marked `extra.truncated`.
    public var maxLineBytes: Int
    /// Memory for lines read from agents and not yet stored, all agents together; over it
    /// agents block on their pipes (nothing is dropped).
    public var logBufferBytes: Int
    /// Where cgroupfs is mounted; nil disables cgroups (limits then cannot be enforced).
    public var cgroupRoot: String?
    /// On cgroup v1, give agents without limits a cgroup too (costs ~12 ms per start there).
    public var cgroupEveryAgent: Bool
    public var quotas: QuotaPolicy
    /// Each agent its own uid from this range (`--agent-users`); nil runs agents as the daemon's user.
    public var agentUsers: ClosedRange<UInt32>?
    /// Daemon variables a package's manifest may read as `${NAME}`.
    public var environmentAllowList: Set<String>
    /// How Python packages' dependencies are installed.
    public var environments: EnvironmentSettings
    /// The restart budget shared by every agent: restarts per second, sustained (0: none).
    public var restartRatePerSecond: Double
    /// Restarts that may go at once before the rate applies.
    public var restartBurst: Int
    /// A reload restarts changed agents the rolling way (next run ready before the old one stops).
    public var rollingReloads = false
    /// The nice of each agent's scheduling group (0: the kernel's default), set where the
    /// daemon's own group cannot be weighed (`SchedulingGroup.Outcome.agentsInstead`).
    public var agentGroupNice: Int32 = 0
    /// On cgroup v2, the nice of the folder holding every agent against the daemon
    /// (`CgroupDriver.weighAgents`); 0 leaves the kernel's default weight.
    public var agentsCgroupNice = 0

    public init(
        dataDirectory: URL,
        portRange: ClosedRange<Int> = 8001...8100,
        packageDirectories: [String]? = nil,
        supervisorURL: String = "http://127.0.0.1:8000",
        defaults: AgentSpecDefaults = AgentSpecDefaults(),
        sampleIntervalSeconds: Double = 5,
        pythonExecutable: String = "python3",
        extractionLimits: PackageExtractor.Limits = .init(),
        logRetention: LogRetentionPolicy = .default,
        logMaxTotalBytes: Int = 8 << 30,
        maxLineBytes: Int = 64 * 1024,
        logBufferBytes: Int = 16 << 20,
        cgroupRoot: String? = "/sys/fs/cgroup",
        cgroupEveryAgent: Bool = false,
        quotas: QuotaPolicy = QuotaPolicy(),
        environmentAllowList: Set<String> = [],
        agentUsers: ClosedRange<UInt32>? = nil,
        environments: EnvironmentSettings = EnvironmentSettings(),
        restartRatePerSecond: Double = SupervisorConfig.defaultRestartRate,
        restartBurst: Int = SupervisorConfig.defaultRestartBurst
    ) {
        self.restartRatePerSecond = restartRatePerSecond
        self.restartBurst = restartBurst
        self.dataDirectory = dataDirectory.standardizedFileURL
        self.portRange = portRange
        self.packageDirectories = (packageDirectories ?? [
            FileManager.default.currentDirectoryPath,
            dataDirectory.appendingPathComponent("packages").path,
        ]).map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        self.supervisorURL = supervisorURL
        self.defaults = defaults
        self.sampleIntervalSeconds = sampleIntervalSeconds
        self.pythonExecutable = pythonExecutable
        self.extractionLimits = extractionLimits
        self.logRetention = logRetention
        self.logMaxTotalBytes = logMaxTotalBytes
        self.maxLineBytes = maxLineBytes
        self.logBufferBytes = logBufferBytes
        self.cgroupRoot = cgroupRoot
        self.cgroupEveryAgent = cgroupEveryAgent
        self.quotas = quotas
        self.environmentAllowList = environmentAllowList
        self.agentUsers = agentUsers
        self.environments = environments
    }

    /// Twenty restarts a second hold a storm of crash-looping agents to a small share of a
    /// core; fifty agents that fail together still come back at once.
    public static let defaultRestartRate = 20.0
    public static let defaultRestartBurst = 50

    /// Names this daemon's cgroups: one per data dir, so daemons side by side never meet.
    var cgroupInstance: String { String(SHA256.hex(of: Array(dataDirectory.path.utf8)).prefix(12)) }

    var packageCache: URL { dataDirectory.appendingPathComponent("cache/packages", isDirectory: true) }
    /// Fingerprints of unpacked packages, to tell a changed one before it is reused.
    var packageFingerprints: URL { dataDirectory.appendingPathComponent("cache/fingerprints", isDirectory: true) }
    var runtimeDirectory: URL { dataDirectory.appendingPathComponent("runtime", isDirectory: true) }
    /// Virtual environments of Python packages, one per requirement set and interpreter.
    var environmentsDirectory: URL { dataDirectory.appendingPathComponent("envs", isDirectory: true) }
    /// pip's download cache, shared by every install.
    var pipCacheDirectory: URL { dataDirectory.appendingPathComponent("cache/pip", isDirectory: true) }
    /// One private folder per agent (its HOME), kept across restarts.
    var agentsDirectory: URL { dataDirectory.appendingPathComponent("agents", isDirectory: true) }
    var pidDirectory: URL { dataDirectory.appendingPathComponent("run", isDirectory: true) }
    /// The SQLite file of desired state: what runs after the daemon restarts.
    public var stateDatabase: URL { dataDirectory.appendingPathComponent("state/state.sqlite") }
    /// The SQLite file of the log store.
    public var logDatabase: URL { dataDirectory.appendingPathComponent("logs/logs.sqlite") }
}
