import ArgumentParser
import Foundation
import Logging
import AsyncHTTPClient
import PARConfig
import PARCore
import PARProcess
import PARServer
import PARSupervisor
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `par serve`: the daemon. Every default is embedded, so it runs with no flags.
/// Options come from the command line, else the config file, else the defaults below.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the supervisor daemon.")

    @Option(name: .customLong("config"), help: "A YAML file of these options (snake_case) and an agents: map the daemon keeps running; flags win over it.")
    var configPath: String?

    @Flag(name: .customLong("check-config"), help: "Validate --config (and its agents' packages), print every error with its line, and exit: 0 when valid.")
    var checkConfig = false

    @Option(help: "Address to listen on (default 127.0.0.1). Keep loopback unless a proxy with TLS stands in front.")
    var host: String?

    @Option(help: "Port of the HTTP API (default 8000; 0 picks a free one and prints it).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Where the token, state, logs and unpacked packages live (default .par).")
    var dataDir: String?

    @Option(name: .customLong("port-range"), help: "Ports handed to agents, LOW-HIGH (default 8001-8100).")
    var portRange: String?

    @Option(name: .customLong("package-dir"), help: "A directory package_path may point into (repeatable). Default: the current directory and <data-dir>/packages.")
    var packageDirs: [String] = []

    @Option(name: .customLong("sample-interval"), help: "Seconds between resource samples (default 5).")
    var sampleInterval: Double?

    @Option(name: .customLong("stable-seconds"), help: "A run this long resets an agent's consecutive-restart count (default 60).")
    var stableSeconds: Double?

    @Option(name: .customLong("max-package-mb"), help: "Largest unpacked size of a package, in MiB (default 1024; zip-bomb guard).")
    var maxPackageMB: Int?

    @Option(name: .customLong("max-package-entries"), help: "Most entries a package may hold (default 10000).")
    var maxPackageEntries: Int?

    @Option(name: .customLong("max-agents"), help: "Quota: most live agents at once.")
    var maxAgents: Int?

    @Option(name: .customLong("max-total-memory-mb"), help: "Quota: the sum of all agents' memory_limit_mb.")
    var maxTotalMemoryMB: Int?

    @Option(name: .customLong("max-total-cpu"), help: "Quota: the sum of all agents' cpu_limit, in cores.")
    var maxTotalCPU: Double?

    @Option(name: .customLong("cgroup-root"), help: "Where cgroupfs is mounted (default /sys/fs/cgroup); 'none' runs without cgroups (limits then cannot be enforced).")
    var cgroupRoot: String?

    @Flag(name: .customLong("cgroup-every-agent"), help: "On cgroup v1, give agents without limits a cgroup too (each start then costs the kernel ~12 ms). On v2 every agent always has one.")
    var cgroupEveryAgent = false

    @Option(name: .customLong("proxy-timeout"), help: "Seconds the proxy waits for an agent's response head before answering 504, and for a client that accepts none of an answer before dropping it (default 60).")
    var proxyTimeout: Double?

    @Option(name: .customLong("proxy-idle-timeout"), help: "Seconds an unused keep-alive connection from the proxy to an agent stays open (default 30).")
    var proxyIdleTimeout: Double?

    @Option(name: .customLong("request-head-timeout"), help: "Seconds a client may take to send a whole request (default 30); slower ones get 408 and the close.")
    var requestHeadTimeout: Double?

    @Flag(inversion: .prefixedNo, help: "Serve the web dashboard on its own port (--ui-port), never on the port agents' pages share (default: on).")
    var dashboard: Bool?

    @Option(name: .customLong("ui-port"), help: "Port of the dashboard and its sign-in (default: the API port minus one, 7999; 0 picks a free one and prints it).")
    var uiPort: Int?

    @Option(name: .customLong("ui-session-timeout"), help: "Seconds a dashboard sign-in (/ui) lasts (default 43200, 12 h).")
    var uiSessionTimeout: Double?

    @Option(name: .customLong("request-body-timeout"), help: "Seconds a request body may pause between two reads (default 30); a stalled one gets 408 and the close.")
    var requestBodyTimeout: Double?

    @Option(name: .customLong("max-connections"), help: "Client connections the public port holds at once, for the relay and for the HTTP server each (default: an eighth of the open-file limit, since each proxied one also holds a connection to its agent); one more gets 503 and the close.")
    var maxConnections: Int?

    @Option(name: .customLong("keep-alive-timeout"), help: "Seconds a client connection may stay open with no request (default 75).")
    var keepAliveTimeout: Double?

    @Option(name: .customLong("proxy-relay-threads"), help: "Threads relaying plain /agents/* requests outside the HTTP server (default: one per two cores, since agents need the rest). 0 sends every request through the HTTP server; the relay is also off with --proxy-requires-token and on IPv6 addresses.")
    var proxyRelayThreads: Int?

    @Flag(name: .customLong("proxy-requires-token"), help: "Ask for the management token on /agents/* too.")
    var proxyRequiresToken = false

    @Option(name: .customLong("log-max-entries"), help: "Log retention: lines kept per process (default 5000000; a spawn's log_retention overrides it).")
    var logMaxEntries: Int?

    @Option(name: .customLong("log-max-age"), help: "Log retention: seconds a line is kept (default 604800).")
    var logMaxAge: Double?

    @Option(name: .customLong("log-max-mb"), help: "Log retention: MiB of stored lines per process (default 1024).")
    var logMaxMB: Int?

    @Option(name: .customLong("log-max-total-mb"), help: "Log retention: MiB of stored lines of all processes together (default 8192; oldest go first).")
    var logMaxTotalMB: Int?

    @Option(name: .customLong("max-line-bytes"), help: "A longer printed line is cut into pieces marked extra.truncated (default 65536).")
    var maxLineBytes: Int?

    @Option(name: .customLong("log-buffer-mb"), help: "MiB of agents' output held in memory before it is stored, all agents together (default 16); over it agents wait on their pipes, nothing is dropped.")
    var logBufferMB: Int?

    @Option(name: .customLong("reload-strategy"), help: "How a config reload restarts a changed agent: stop-start (default) or rolling (its next run starts beside it and takes over once ready, no request dropped).")
    var reloadStrategy: String?

    @Option(name: .customLong("restart-rate"), help: "The restart budget all agents share: restarts per second, sustained (default 20; 0 turns it off). Restarts over it wait their turn (next_restart_reason rate_limited); none is dropped.")
    var restartRate: Double?

    @Option(name: .customLong("restart-burst"), help: "Restarts that may go at once before --restart-rate applies (default 50).")
    var restartBurst: Int?

    @Option(help: "Python interpreter for Python packages (default: python3 for packages without dependencies; for those with dependencies, the installed interpreter closest to the runtime: they name).")
    var python: String?

    @Option(name: .customLong("agent-users"), help: "Run each agent as a uid of its own from this range (the daemon must run as root); its folder <data-dir>/agents/<id> is its HOME. Default as root: 61184-65519 (uids the password database names are skipped); 'none' runs agents as root. Not root: agents run as the daemon's user.")
    var agentUsers: String?

    @Option(name: .customLong("env-allow"), help: "A daemon environment variable that packages' agent.yaml may read as ${NAME} (repeatable). By default a manifest reads only the spawn's env_vars and the PAR_* values.")
    var envAllow: [String] = []

    @Option(name: .customLong("pip-index-url"), help: "Package index for installing packages' dependencies (default: the machine's pip configuration).")
    var pipIndexURL: String?

    @Option(help: "Install packages' dependencies offline from this folder of wheels (pip --no-index --find-links).")
    var wheelhouse: String?

    @Option(name: .customLong("install-timeout"), help: "Seconds one dependency install may take before it is killed and the agent fails (default 300).")
    var installTimeout: Double?

    @Option(name: .customLong("env-cache-mb"), help: "Unused Python environments beyond this many MiB are removed, least recently used first (default 4096).")
    var envCacheMB: Int?

    @Option(name: .customLong("log-level"), help: "Daemon log level (trace, debug, info, notice, warning, error, critical; default info).")
    var logLevel: String?

    @Option(name: .customLong("control-plane-nice"), help: "nice of the daemon's scheduling group against its agents' (default -10; 0 leaves it). Where the kernel groups processes by session (autogroups), each agent is a group of its own and, at nice 0, weighs as much as the whole daemon; lowering it needs root. Started from a terminal, the terminal's session shares the daemon's group.")
    var controlPlaneNice: Int?

    @Flag(name: .customLong("exit-with-parent"), help: "Shut down (stopping every agent) when the process that started the daemon ends, however it ends: for a test run or a tool that owns the daemon and may be killed.")
    var exitWithParent = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var file: ConfigFile?
        if let configPath {
            file = try Self.loadConfig(configPath, environment: environment, stableSeconds: stableSeconds)
        } else if checkConfig {
            throw ValidationError("--check-config needs --config FILE")
        }
        var options = try ServeOptions(flags: self, file: file?.settings ?? [:])
        if checkConfig {
            try await Self.check(file!, options: options)
            return
        }
        var logger = Logger(label: "par")
        logger.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        // SIGHUP is caught from here on (its default would end the daemon): one that comes
        // while agents are being restored is kept and applied once the daemon is up.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // Before anything is started: a parent already gone means no start at all.
        let parentWatch: ProcessExitWatch?
        if exitWithParent {
            do {
                let parent = getppid()
                parentWatch = try ProcessExitWatch(pid: parent)
                // Ended between the two calls: the pid watched would be the new parent's.
                if getppid() != parent { throw ProcessExitWatch.WatchError.gone(parent) }
            } catch {
                FileHandle.standardError.write(Data("par serve: --exit-with-parent: \(error)\n".utf8))
                throw ExitCode(1)
            }
        } else {
            parentWatch = nil
        }
        Self.raiseOpenFileLimit()
        let agentGroupNice = Self.weighControlPlane(options.controlPlaneNice, logger: logger)
        // A daemon started with stdin, stdout or stderr closed would hand those numbers to
        // agents' pipes; fill them with /dev/null first.
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 { _ = open("/dev/null", O_RDWR) }
        let dataURL = URL(fileURLWithPath: options.dataDir).standardizedFileURL
        // Folders above the data dir are made enterable (agents of their own uids reach their
        // packages through them); the data dir itself is laid out by the supervisor.
        try FileManager.default.createDirectory(at: dataURL.deletingLastPathComponent(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(at: dataURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if options.agentUsers != nil, let closed = Spawner.folderClosedToOthers(above: dataURL.path) {
            let reason = "agents run as uids of their own and could not reach their packages in \(dataURL.path): \(closed) is closed to other users"
            guard options.agentUsersByDefault else {
                FileHandle.standardError.write(Data("par serve: --agent-users: \(reason); pick a --data-dir other users can enter (e.g. /var/lib/par)\n".utf8))
                throw ExitCode(2)
            }
            // The embedded defaults must work wherever the daemon is started (a clone under
            // /root): agents then share the daemon's user, and it says so.
            logger.warning("\(reason); they run as the daemon's user instead. For agents isolated from each other and from the daemon, put --data-dir where other users can enter (e.g. /var/lib/par); --agent-users none silences this")
            options.agentUsers = nil
        }
        // Before anything in the data dir is touched: a second daemon leaves the first alone.
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(dataDirectory: dataURL)
        } catch {
            FileHandle.standardError.write(Data("par serve: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
        defer { withExtendedLifetime(lock) {} }
        let token = try TokenStore.loadOrCreate(in: dataURL)
        // Agents inherit nothing of it (a manifest's ${PAR_TOKEN} expands to nothing).
        unsetenv("PAR_TOKEN")
        let host = options.host
        let port = options.port
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            logger.warning("listening beyond loopback; the management API is guarded by the token only, so put TLS in front", metadata: ["host": "\(host)"])
        }
        let displayHost = host.contains(":") ? "[\(host)]" : host
        var config = options.supervisorConfig(dataURL: dataURL, supervisorURL: "http://\(displayHost == "0.0.0.0" ? "127.0.0.1" : displayHost):\(port)")
        config.agentGroupNice = agentGroupNice
        // On cgroup v2 the same ratio by weight: autogroups do not reach a daemon that is not
        // in the root cgroup (a systemd service), and the agents' folder is ours to weigh.
        config.agentsCgroupNice = -options.controlPlaneNice
        let agentClient = APIServer.makeAgentClient()
        let supervisor: Supervisor
        do {
            Supervisor.claimProcess()
            supervisor = try Supervisor(config: config, prober: LoopbackProber(), logger: logger)
        } catch {
            try? await agentClient.shutdown()
            throw error
        }
        // Agents come back before the port opens: a request never races the restore.
        do {
            let report = try await supervisor.restore(file: file.map { DeclaredAgents(path: $0.path, agents: $0.agents) })
            if !(report.started.isEmpty && report.down.isEmpty && report.failed.isEmpty) {
                logger.info("agents restored", metadata: [
                    "started": "\(report.started.count)", "down": "\(report.down.count)", "failed": "\(report.failed.keys.sorted())",
                    "forgotten": "\(report.forgotten)",
                ])
            }
        } catch {
            await supervisor.shutdown()
            try? await agentClient.shutdown()
            throw error
        }
        let reloader = file.map { ConfigReloader(path: $0.path, supervisor: supervisor, startSettings: $0.settings, flags: self) }
        let dataPath = dataURL.path
        let traffic = ProxyTraffic()
        let relayThreads = options.proxyRelayThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        // The relay owns the public port; Hummingbird listens on a private socket beside the token.
        let privateSocket = dataURL.appendingPathComponent("http.sock").path
        let frontDoor: FrontDoor?
        if relayThreads > 0, !options.proxyRequiresToken, FrontDoor.supports(host: host), privateSocket.utf8.count < 100 {
            do {
                frontDoor = try FrontDoor(
                    host: host, port: port, routes: supervisor.routeTable, traffic: traffic,
                    timeoutSeconds: options.proxyTimeout, idleTimeoutSeconds: options.proxyIdleTimeout,
                    headTimeoutSeconds: options.requestHeadTimeout, keepAliveSeconds: options.keepAliveTimeout,
                    maxConnections: options.maxConnections ?? Self.defaultMaxConnections(), loopCount: relayThreads, logger: logger
                )
            } catch {
                await supervisor.shutdown()
                try? await agentClient.shutdown()
                throw error
            }
            unlink(privateSocket)
        } else {
            frontDoor = nil
        }
        defer { if frontDoor != nil { unlink(privateSocket) } }
        var apiOptions = APIServer.Options(
            host: host, port: port, token: token, version: Par.version, proxyTimeoutSeconds: options.proxyTimeout,
            proxyRequiresToken: options.proxyRequiresToken, proxyIdleTimeoutSeconds: options.proxyIdleTimeout
        )
        apiOptions.keepAliveSeconds = options.keepAliveTimeout
        apiOptions.requestHeadTimeoutSeconds = options.requestHeadTimeout
        apiOptions.requestBodyTimeoutSeconds = options.requestBodyTimeout
        apiOptions.uiSessionSeconds = options.uiSessionTimeout
        let dashboardPort = try Self.dashboardPort(options, logger: logger)
        let dashboard = dashboardPort.map { _ in DashboardLocation() }
        apiOptions.dashboard = dashboard
        apiOptions.maxConnections = options.maxConnections ?? Self.defaultMaxConnections()
        if let reloader {
            apiOptions.reload = { @Sendable () async throws(SupervisorError) -> ReloadReport in try await reloader.reload() }
        }
        let app = APIServer.makeApplication(
            supervisor: supervisor,
            agentClient: agentClient,
            options: apiOptions,
            logger: logger,
            frontDoor: frontDoor, privateSocket: privateSocket, traffic: traffic,
            onListening: { boundPort in
                if frontDoor != nil { chmod(privateSocket, 0o600) }
                // One line for people and scripts: tests read the port from it.
                print("par listening on http://\(displayHost):\(boundPort) (data \(dataPath), token \(dataPath)/token)")
                fflush(nil)
            }
        )
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: SupervisorService(supervisor: supervisor)),
            .init(service: app),
        ]
        if let frontDoor { services.append(.init(service: frontDoor)) }
        if let dashboardPort {
            let dashboardApp = APIServer.makeDashboardApplication(
                supervisor: supervisor, agentClient: agentClient, options: apiOptions, port: dashboardPort, logger: logger,
                onListening: { boundPort in
                    print("par dashboard on http://\(displayHost == "0.0.0.0" ? "127.0.0.1" : displayHost):\(boundPort)/ui")
                    fflush(nil)
                }
            )
            // A dashboard that cannot listen leaves the supervisor running; the log says why.
            services.append(.init(service: dashboardApp, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        services.append(.init(service: ReloadOnHangup(signals: hangups, reloader: reloader, logger: logger)))
        if let parentWatch {
            services.append(.init(service: ExitWithParent(watch: parentWatch, logger: logger), successTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        do {
            try await group.run()
        } catch {
            try? await agentClient.shutdown()
            throw error
        }
        try await agentClient.shutdown()
    }

    /// Reads the file; its `stable_seconds` (unless a flag gives one) is the agents' default.
    static func loadConfig(_ path: String, environment: [String: String], stableSeconds flag: Double?) throws -> ConfigFile {
        do {
            var file = try ConfigFile.load(path: path, environment: environment)
            var defaults = AgentSpecDefaults()
            if let stable = flag ?? file.settings["stable_seconds"].flatMap(ServeOptions.double), stable != defaults.restart.stableSeconds {
                defaults.restart.stableSeconds = stable
                file = try ConfigFile.load(path: path, environment: environment, defaults: defaults)
            }
            return file
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }

    /// `--check-config`: the file parsed (done), the options valid (done), and every
    /// agent's package readable, inside the allowed directories and with a valid manifest.
    static func check(_ file: ConfigFile, options: ServeOptions) async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("par-check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = options.supervisorConfig(dataURL: URL(fileURLWithPath: options.dataDir).standardizedFileURL, supervisorURL: "")
        var problems: [String] = []
        for spec in file.agents {
            if let problem = await Supervisor.checkPackage(spec, config: config, scratch: scratch) {
                problems.append("\(file.path): agents.\(spec.agentID.rawValue).package_path: \(problem)")
            }
        }
        guard problems.isEmpty else {
            FileHandle.standardError.write(Data((problems.joined(separator: "\n") + "\n").utf8))
            throw ExitCode(2)
        }
        print("\(file.path): valid (\(file.settings.count) option\(file.settings.count == 1 ? "" : "s"), \(file.agents.count) agent\(file.agents.count == 1 ? "" : "s"))")
    }
}

extension Serve {
    /// The control plane wins under load: the daemon's scheduling group gets `nice`, or,
    /// where its group is the kernel's default one, each agent's group the opposite.
    /// Returns the nice for agents' groups (0: theirs stay as the kernel makes them).
    static func weighControlPlane(_ nice: Int, logger: Logger) -> Int32 {
        guard nice != 0 else { return 0 }
        switch SchedulingGroup.setNice(nice) {
        case .set(let group, let nice):
            logger.debug("the daemon's scheduling group has nice \(nice)", metadata: ["group": "\(group)"])
        case .agentsInstead(let agentsNice):
            logger.info("the daemon is in the kernel's default scheduling group (its session was begun without one), whose weight cannot change: each agent's group gets nice \(agentsNice) instead (to give the daemon a group, start it with setsid or as a systemd service)")
            return Int32(agentsNice)
        case .noAutogroups:
            break
        case .refused(let why):
            // As a user, agents are the user's too; the kernel's usual fairness applies.
            logger.info("the daemon's scheduling group keeps its nice: \(why); under load each busy agent's session weighs as much as the daemon (run it as root; on cgroup v2 the agents' cgroup is weighed instead)")
        }
        return 0
    }

    /// The dashboard's port, or nil for none. An explicit port that is taken stops the
    /// start (exit 1); the default one, taken, only leaves the dashboard off, with a warning.
    static func dashboardPort(_ options: ServeOptions, logger: Logger) throws -> Int? {
        guard options.dashboard else { return nil }
        let port = options.uiPort ?? options.defaultUIPort
        guard port == 0 || PortProbe.isFree(port, host: options.host) else {
            if options.uiPort != nil {
                FileHandle.standardError.write(Data("par serve: --ui-port \(port) is in use; pick another (ui_port in a config file) or --no-dashboard\n".utf8))
                throw ExitCode(1)
            }
            logger.warning("dashboard off: its default port \(port) is in use; give it one with --ui-port (0 picks a free one)")
            return nil
        }
        return port
    }

    /// Each agent costs the daemon three fds (a pidfd and two pipes): lift the soft limit to the hard one.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }

    /// An eighth of the open-file limit (at least 64), for the relay and the HTTP server each:
    /// a proxied connection on either holds a second one to its agent, so together they take
    /// at most half, and the other half stays for agents' pipes and pidfds and the databases.
    /// (At half each, as before, clients alone could take every fd.)
    static func defaultMaxConnections() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 128 }
        return max(64, Int(min(limit.rlim_cur, 1 << 30)) / 8)
    }
}

/// `--exit-with-parent`: returning ends the group gracefully (every agent stopped), as a
/// SIGTERM would, once the daemon's parent is gone.
struct ExitWithParent: Service {
    let watch: ProcessExitWatch
    let logger: Logger

    func run() async throws {
        let ended = await withGracefulShutdownHandler {
            await watch.exited()
        } onGracefulShutdown: {
            watch.cancel()
        }
        if ended {
            logger.warning("the process that started the daemon (pid \(watch.pid)) has ended; shutting down (--exit-with-parent)")
        }
    }
}

/// Runs the supervisor's event loop; on graceful shutdown stops every agent first.
struct SupervisorService: Service {
    let supervisor: Supervisor

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await supervisor.run() }
            try? await gracefulShutdown()
            await supervisor.shutdown()
            group.cancelAll()
        }
    }
}

/// The management token: PAR_TOKEN if set, else `<data-dir>/token`, created at first start.
enum TokenStore {
    static func loadOrCreate(in directory: URL) throws -> String {
        if let fromEnvironment = ProcessInfo.processInfo.environment["PAR_TOKEN"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        let url = directory.appendingPathComponent("token")
        if let existing = try? String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0, read(fd, &bytes, bytes.count) == bytes.count else {
            throw ValidationError("cannot read /dev/urandom to make a token")
        }
        close(fd)
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        let created = FileManager.default.createFile(atPath: url.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw ValidationError("cannot write \(url.path)") }
        return token
    }
}
