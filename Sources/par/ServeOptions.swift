import ArgumentParser
import Foundation
import PARConfig
import PARCore
import PARSupervisor

/// The daemon's effective options: a flag given on the command line, else the config
/// file's value, else the embedded default. Validated once, here.
struct ServeOptions {
    var host = "127.0.0.1"
    var port = 8000
    var dataDir = ".par"
    var portRange: ClosedRange<Int> = 8001...8100
    var packageDirs: [String] = []
    var sampleInterval = 5.0
    var stableSeconds = 60.0
    var maxPackageMB = 1024
    var maxPackageEntries = 10_000
    var maxAgents: Int?
    var maxTotalMemoryMB: Int?
    var maxTotalCPU: Double?
    var cgroupRoot = "/sys/fs/cgroup"
    var cgroupEveryAgent = false
    var proxyTimeout = 60.0
    var proxyIdleTimeout = 30.0
    var requestHeadTimeout = 30.0
    var requestBodyTimeout = 30.0
    var uiSessionTimeout = 12 * 3600.0
    var dashboard = true
    var uiPort: Int?
    var keepAliveTimeout = 75.0
    var maxConnections: Int?
    var proxyRelayThreads: Int?
    var proxyRequiresToken = false
    var logMaxEntries = LogRetentionPolicy.default.maxEntries
    var logMaxAge = LogRetentionPolicy.default.maxAgeSeconds
    var logMaxMB = LogRetentionPolicy.default.maxBytes >> 20
    var logMaxTotalMB = 8 * 1024
    var maxLineBytes = 64 * 1024
    var logBufferMB = 16
    var reloadStrategy = "stop-start"
    var restartRate = SupervisorConfig.defaultRestartRate
    var restartBurst = SupervisorConfig.defaultRestartBurst
    var python: String?
    var envAllow: [String] = []
    var agentUsers: ClosedRange<UInt32>?
    /// Set by the root default rather than by the operator.
    var agentUsersByDefault = false
    var pipIndexURL: String?
    var wheelhouse: String?
    var installTimeout = 300.0
    var envCacheMB = 4096
    var logLevel = "info"
    var controlPlaneNice = -10

    init(flags: Serve, file: [String: SettingValue]) throws {
        func string(_ key: String) -> String? { if case .string(let v)? = file[key] { v } else { nil } }
        func int(_ key: String) -> Int? { if case .int(let v)? = file[key] { v } else { nil } }
        func double(_ key: String) -> Double? { file[key].flatMap(Self.double) }
        func bool(_ key: String) -> Bool? { if case .bool(let v)? = file[key] { v } else { nil } }
        host = flags.host ?? string("host") ?? host
        port = flags.port ?? int("port") ?? port
        dataDir = flags.dataDir ?? string("data_dir") ?? dataDir
        let rangeText = flags.portRange ?? string("port_range") ?? "8001-8100"
        do {
            portRange = try PortPool.parseRange(rangeText)
        } catch {
            throw ValidationError("--port-range (port_range in a config file): \(error.reason)")
        }
        if !flags.packageDirs.isEmpty {
            packageDirs = flags.packageDirs
        } else if case .strings(let dirs)? = file["package_dirs"] {
            packageDirs = dirs
        }
        sampleInterval = flags.sampleInterval ?? double("sample_interval") ?? sampleInterval
        stableSeconds = flags.stableSeconds ?? double("stable_seconds") ?? stableSeconds
        maxPackageMB = flags.maxPackageMB ?? int("max_package_mb") ?? maxPackageMB
        maxPackageEntries = flags.maxPackageEntries ?? int("max_package_entries") ?? maxPackageEntries
        maxAgents = flags.maxAgents ?? int("max_agents")
        maxTotalMemoryMB = flags.maxTotalMemoryMB ?? int("max_total_memory_mb")
        maxTotalCPU = flags.maxTotalCPU ?? double("max_total_cpu")
        cgroupRoot = flags.cgroupRoot ?? string("cgroup_root") ?? cgroupRoot
        cgroupEveryAgent = flags.cgroupEveryAgent || (bool("cgroup_every_agent") ?? false)
        proxyTimeout = flags.proxyTimeout ?? double("proxy_timeout") ?? proxyTimeout
        proxyIdleTimeout = flags.proxyIdleTimeout ?? double("proxy_idle_timeout") ?? proxyIdleTimeout
        requestHeadTimeout = flags.requestHeadTimeout ?? double("request_head_timeout") ?? requestHeadTimeout
        keepAliveTimeout = flags.keepAliveTimeout ?? double("keep_alive_timeout") ?? keepAliveTimeout
        requestBodyTimeout = flags.requestBodyTimeout ?? double("request_body_timeout") ?? requestBodyTimeout
        uiSessionTimeout = flags.uiSessionTimeout ?? double("ui_session_timeout") ?? uiSessionTimeout
        dashboard = flags.dashboard ?? bool("dashboard") ?? dashboard
        uiPort = flags.uiPort ?? int("ui_port")
        maxConnections = flags.maxConnections ?? int("max_connections")
        proxyRelayThreads = flags.proxyRelayThreads ?? int("proxy_relay_threads")
        proxyRequiresToken = flags.proxyRequiresToken || (bool("proxy_requires_token") ?? false)
        logMaxEntries = flags.logMaxEntries ?? int("log_max_entries") ?? logMaxEntries
        logMaxAge = flags.logMaxAge ?? double("log_max_age") ?? logMaxAge
        logMaxMB = flags.logMaxMB ?? int("log_max_mb") ?? logMaxMB
        logMaxTotalMB = flags.logMaxTotalMB ?? int("log_max_total_mb") ?? logMaxTotalMB
        maxLineBytes = flags.maxLineBytes ?? int("max_line_bytes") ?? maxLineBytes
        logBufferMB = flags.logBufferMB ?? int("log_buffer_mb") ?? logBufferMB
        reloadStrategy = flags.reloadStrategy ?? string("reload_strategy") ?? reloadStrategy
        restartRate = flags.restartRate ?? double("restart_rate") ?? restartRate
        restartBurst = flags.restartBurst ?? int("restart_burst") ?? restartBurst
        python = flags.python ?? string("python")
        let agentUsersText = flags.agentUsers ?? string("agent_users")
        if agentUsersText == nil && getuid() == 0 {
            // Root's agents never run as root: each gets a uid of its own unless told `none`.
            agentUsers = IdentityPool.defaultRange
            agentUsersByDefault = true
        } else if let text = agentUsersText, text != "none" {
            do {
                agentUsers = try IdentityPool.parseRange(text)
            } catch {
                throw ValidationError("--agent-users (agent_users in a config file): \(error.reason)")
            }
            guard getuid() == 0 else {
                throw ValidationError("--agent-users needs the daemon to run as root (it sets each agent's uid); without it agents run as the daemon's user")
            }
        }
        if !flags.envAllow.isEmpty {
            envAllow = flags.envAllow
        } else if case .strings(let names)? = file["env_allow"] {
            envAllow = names
        }
        pipIndexURL = flags.pipIndexURL ?? string("pip_index_url")
        wheelhouse = (flags.wheelhouse ?? string("wheelhouse")).map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        installTimeout = flags.installTimeout ?? double("install_timeout") ?? installTimeout
        envCacheMB = flags.envCacheMB ?? int("env_cache_mb") ?? envCacheMB
        logLevel = flags.logLevel ?? string("log_level") ?? logLevel
        controlPlaneNice = flags.controlPlaneNice ?? int("control_plane_nice") ?? controlPlaneNice
        try validate()
    }

    /// The API port minus one (7999 by default): next to it, outside the agents' range.
    /// With `--port 0` (or 1) the dashboard takes a free port too.
    var defaultUIPort: Int { port > 1 && !portRange.contains(port - 1) ? port - 1 : 0 }

    static func double(_ value: SettingValue) -> Double? {
        switch value {
        case .double(let v): v
        case .int(let v): Double(v)
        default: nil
        }
    }

    private func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535 (port in a config file)") }
        if let uiPort {
            guard (0...65535).contains(uiPort) else { throw ValidationError("--ui-port must be from 0 to 65535 (ui_port in a config file)") }
            guard uiPort == 0 || uiPort != port else { throw ValidationError("--ui-port must differ from --port: the dashboard needs an origin of its own") }
            guard !portRange.contains(uiPort) else { throw ValidationError("--ui-port \(uiPort) is inside --port-range \(portRange.lowerBound)-\(portRange.upperBound), which is for agents; pick a port outside it") }
        }
        guard (-20...19).contains(controlPlaneNice) else { throw ValidationError("--control-plane-nice must be from -20 to 19 (control_plane_nice in a config file)") }
        guard sampleInterval > 0 else { throw ValidationError("--sample-interval must be positive (sample_interval in a config file)") }
        guard proxyTimeout > 0 else { throw ValidationError("--proxy-timeout must be positive (proxy_timeout in a config file)") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be at least 1 (max_connections in a config file)") }
        guard uiSessionTimeout > 0 else { throw ValidationError("--ui-session-timeout must be positive (ui_session_timeout in a config file)") }
        guard requestHeadTimeout > 0, keepAliveTimeout > 0, requestBodyTimeout > 0 else { throw ValidationError("--request-head-timeout, --request-body-timeout and --keep-alive-timeout must be positive (request_head_timeout, request_body_timeout, keep_alive_timeout in a config file)") }
        guard proxyIdleTimeout > 0 else { throw ValidationError("--proxy-idle-timeout must be positive (proxy_idle_timeout in a config file)") }
        if let proxyRelayThreads, !(0...64).contains(proxyRelayThreads) { throw ValidationError("--proxy-relay-threads must be from 0 to 64 (proxy_relay_threads in a config file)") }
        guard maxPackageMB > 0, maxPackageEntries > 0 else { throw ValidationError("--max-package-mb and --max-package-entries must be positive (max_package_mb, max_package_entries in a config file)") }
        if let maxAgents, maxAgents < 1 { throw ValidationError("--max-agents must be at least 1 (max_agents in a config file)") }
        if let maxTotalMemoryMB, maxTotalMemoryMB < 4 { throw ValidationError("--max-total-memory-mb must be at least 4 (max_total_memory_mb in a config file)") }
        if let maxTotalCPU, maxTotalCPU <= 0 { throw ValidationError("--max-total-cpu must be positive (max_total_cpu in a config file)") }
        guard logMaxEntries > 0, logMaxAge > 0, logMaxMB > 0, logMaxTotalMB > 0 else {
            throw ValidationError("--log-max-entries, --log-max-age, --log-max-mb and --log-max-total-mb must be positive (log_max_* in a config file)")
        }
        guard (1...4096).contains(logBufferMB) else { throw ValidationError("--log-buffer-mb must be from 1 to 4096 (log_buffer_mb in a config file)") }
        guard ["stop-start", "rolling"].contains(reloadStrategy) else { throw ValidationError("--reload-strategy must be stop-start or rolling (reload_strategy in a config file), got \(reloadStrategy)") }
        guard restartRate >= 0, restartRate.isFinite, restartRate <= 100_000 else { throw ValidationError("--restart-rate must be from 0 (no budget) to 100000 restarts per second (restart_rate in a config file)") }
        guard (1...100_000).contains(restartBurst) else { throw ValidationError("--restart-burst must be from 1 to 100000 (restart_burst in a config file)") }
        guard (256...(64 << 20)).contains(maxLineBytes) else { throw ValidationError("--max-line-bytes must be from 256 to 67108864 (max_line_bytes in a config file)") }
        guard installTimeout > 0 else { throw ValidationError("--install-timeout must be positive (install_timeout in a config file)") }
        guard envCacheMB > 0 else { throw ValidationError("--env-cache-mb must be positive (env_cache_mb in a config file)") }
        if let wheelhouse {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: wheelhouse, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--wheelhouse \(wheelhouse) is not a folder (wheelhouse in a config file); make it with pip download -d DIR REQUIREMENTS")
            }
        }
        if let pipIndexURL, !(pipIndexURL.hasPrefix("http://") || pipIndexURL.hasPrefix("https://") || pipIndexURL.hasPrefix("file://")) {
            throw ValidationError("--pip-index-url must be an http://, https:// or file:// URL (pip_index_url in a config file), got \(pipIndexURL)")
        }
        guard stableSeconds >= 0 else { throw ValidationError("--stable-seconds must not be negative (stable_seconds in a config file)") }
    }

    func supervisorConfig(dataURL: URL, supervisorURL: String) -> SupervisorConfig {
        var defaults = AgentSpecDefaults()
        defaults.restart.stableSeconds = stableSeconds
        var config = SupervisorConfig(
            dataDirectory: dataURL,
            portRange: portRange,
            packageDirectories: packageDirs.isEmpty ? nil : packageDirs,
            supervisorURL: supervisorURL,
            defaults: defaults,
            sampleIntervalSeconds: sampleInterval,
            pythonExecutable: python ?? "python3",
            extractionLimits: .init(maxEntries: maxPackageEntries, maxTotalBytes: UInt64(maxPackageMB) << 20),
            logRetention: LogRetentionPolicy(maxEntries: logMaxEntries, maxAgeSeconds: logMaxAge, maxBytes: logMaxMB << 20),
            logMaxTotalBytes: logMaxTotalMB << 20,
            maxLineBytes: maxLineBytes,
            logBufferBytes: logBufferMB << 20,
            cgroupRoot: cgroupRoot == "none" ? nil : cgroupRoot,
            cgroupEveryAgent: cgroupEveryAgent,
            quotas: QuotaPolicy(maxTotalMemoryMB: maxTotalMemoryMB, maxTotalCPU: maxTotalCPU, maxAgents: maxAgents),
            environmentAllowList: Set(envAllow),
            agentUsers: agentUsers,
            environments: EnvironmentSettings(
                interpreter: python, pipIndexURL: pipIndexURL, wheelhouse: wheelhouse,
                installTimeoutSeconds: installTimeout, cacheMaxBytes: Int64(envCacheMB) << 20
            ),
            restartRatePerSecond: restartRate,
            restartBurst: restartBurst
        )
        config.rollingReloads = reloadStrategy == "rolling"
        return config
    }
}
