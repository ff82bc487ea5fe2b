import ArgumentParser
import Foundation
import Logging
import AsyncHTTPClient
import PARCore
import PARServer
import PARSupervisor
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `par serve`: the daemon. Every default is embedded, so it runs with no flags.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the supervisor daemon.")

    @Option(help: "Address to listen on. Keep loopback unless a proxy with TLS stands in front.")
    var host = "127.0.0.1"

    @Option(help: "Port of the HTTP API (0 picks a free one and prints it).")
    var port = 8000

    @Option(name: .customLong("data-dir"), help: "Where the token, unpacked packages and runtime files live.")
    var dataDir = ".par"

    @Option(name: .customLong("port-range"), help: "Ports handed to agents, LOW-HIGH.")
    var portRange = "8001-8100"

    @Option(name: .customLong("package-dir"), help: "A directory package_path may point into (repeatable). Default: the current directory and <data-dir>/packages.")
    var packageDirs: [String] = []

    @Option(name: .customLong("sample-interval"), help: "Seconds between resource samples.")
    var sampleInterval = 5.0

    @Option(name: .customLong("stable-seconds"), help: "A run this long resets an agent's consecutive-restart count.")
    var stableSeconds = 60.0

    @Option(name: .customLong("max-package-mb"), help: "Largest unpacked size of a package, in MiB (zip-bomb guard).")
    var maxPackageMB = 1024

    @Option(name: .customLong("max-package-entries"), help: "Most entries a package may hold.")
    var maxPackageEntries = 10_000

    @Option(name: .customLong("max-agents"), help: "Quota: most live agents at once.")
    var maxAgents: Int?

    @Option(name: .customLong("max-total-memory-mb"), help: "Quota: the sum of all agents' memory_limit_mb.")
    var maxTotalMemoryMB: Int?

    @Option(name: .customLong("max-total-cpu"), help: "Quota: the sum of all agents' cpu_limit, in cores.")
    var maxTotalCPU: Double?

    @Option(name: .customLong("cgroup-root"), help: "Where cgroupfs is mounted; 'none' runs without cgroups (limits then cannot be enforced).")
    var cgroupRoot = "/sys/fs/cgroup"

    @Flag(name: .customLong("cgroup-every-agent"), help: "On cgroup v1, give agents without limits a cgroup too (each start then costs the kernel ~12 ms). On v2 every agent always has one.")
    var cgroupEveryAgent = false

    @Option(name: .customLong("proxy-timeout"), help: "Seconds the proxy waits for an agent's response head before answering 504, and for a client that accepts none of an answer before dropping it.")
    var proxyTimeout = 60.0

    @Option(name: .customLong("proxy-idle-timeout"), help: "Seconds an unused keep-alive connection from the proxy to an agent stays open.")
    var proxyIdleTimeout = 30.0

    @Option(name: .customLong("proxy-relay-threads"), help: "Threads relaying plain /agents/* requests outside the HTTP server (default: one per two cores, since agents need the rest). 0 sends every request through the HTTP server; the relay is also off with --proxy-requires-token and on IPv6 addresses.")
    var proxyRelayThreads: Int?

    @Flag(name: .customLong("proxy-requires-token"), help: "Ask for the management token on /agents/* too.")
    var proxyRequiresToken = false

    @Option(name: .customLong("log-max-entries"), help: "Log retention: lines kept per process (a spawn's log_retention overrides it).")
    var logMaxEntries = LogRetentionPolicy.default.maxEntries

    @Option(name: .customLong("log-max-age"), help: "Log retention: seconds a line is kept.")
    var logMaxAge = LogRetentionPolicy.default.maxAgeSeconds

    @Option(name: .customLong("log-max-mb"), help: "Log retention: MiB of stored lines per process.")
    var logMaxMB = LogRetentionPolicy.default.maxBytes >> 20

    @Option(name: .customLong("log-max-total-mb"), help: "Log retention: MiB of stored lines of all processes together (oldest go first).")
    var logMaxTotalMB = 8 * 1024

    @Option(name: .customLong("max-line-bytes"), help: "A longer printed line is cut into pieces marked extra.truncated.")
    var maxLineBytes = 64 * 1024

    @Option(help: "Python interpreter for entrypoint packages.")
    var python = "python3"

    @Option(name: .customLong("log-level"), help: "Daemon log level (trace, debug, info, notice, warning, error, critical).")
    var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "par")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let range: ClosedRange<Int>
        do {
            range = try PortPool.parseRange(portRange)
        } catch {
            throw ValidationError("--port-range: \(error.reason)")
        }
        guard sampleInterval > 0 else { throw ValidationError("--sample-interval must be positive") }
        guard proxyTimeout > 0 else { throw ValidationError("--proxy-timeout must be positive") }
        guard proxyIdleTimeout > 0 else { throw ValidationError("--proxy-idle-timeout must be positive") }
        if let proxyRelayThreads, !(0...64).contains(proxyRelayThreads) { throw ValidationError("--proxy-relay-threads must be from 0 to 64") }
        guard maxPackageMB > 0, maxPackageEntries > 0 else { throw ValidationError("--max-package-mb and --max-package-entries must be positive") }
        if let maxAgents, maxAgents < 1 { throw ValidationError("--max-agents must be at least 1") }
        if let maxTotalMemoryMB, maxTotalMemoryMB < 4 { throw ValidationError("--max-total-memory-mb must be at least 4") }
        if let maxTotalCPU, maxTotalCPU <= 0 { throw ValidationError("--max-total-cpu must be positive") }
        guard logMaxEntries > 0, logMaxAge > 0, logMaxMB > 0, logMaxTotalMB > 0 else {
            throw ValidationError("--log-max-entries, --log-max-age, --log-max-mb and --log-max-total-mb must be positive")
        }
        guard (256...(64 << 20)).contains(maxLineBytes) else { throw ValidationError("--max-line-bytes must be from 256 to 67108864") }
        Self.raiseOpenFileLimit()
        // A daemon started with stdin, stdout or stderr closed would hand those numbers to
        // agents' pipes; fill them with /dev/null first.
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 { _ = open("/dev/null", O_RDWR) }
        let dataURL = URL(fileURLWithPath: dataDir).standardizedFileURL
        try FileManager.default.createDirectory(at: dataURL, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let token = try TokenStore.loadOrCreate(in: dataURL)
        // Agents inherit nothing of it (a manifest's ${PAR_TOKEN} expands to nothing).
        unsetenv("PAR_TOKEN")
        if !["127.0.0.1", "localhost", "::1"].contains(host) {
            logger.warning("listening beyond loopback; the management API is guarded by the token only, so put TLS in front", metadata: ["host": "\(host)"])
        }
        let displayHost = host.contains(":") ? "[\(host)]" : host
        var defaults = AgentSpecDefaults()
        defaults.restart.stableSeconds = stableSeconds
        let config = SupervisorConfig(
            dataDirectory: dataURL,
            portRange: range,
            packageDirectories: packageDirs.isEmpty ? nil : packageDirs,
            supervisorURL: "http://\(displayHost == "0.0.0.0" ? "127.0.0.1" : displayHost):\(port)",
            defaults: defaults,
            sampleIntervalSeconds: sampleInterval,
            pythonExecutable: python,
            extractionLimits: .init(maxEntries: maxPackageEntries, maxTotalBytes: UInt64(maxPackageMB) << 20),
            logRetention: LogRetentionPolicy(maxEntries: logMaxEntries, maxAgeSeconds: logMaxAge, maxBytes: logMaxMB << 20),
            logMaxTotalBytes: logMaxTotalMB << 20,
            maxLineBytes: maxLineBytes,
            cgroupRoot: cgroupRoot == "none" ? nil : cgroupRoot,
            cgroupEveryAgent: cgroupEveryAgent,
            quotas: QuotaPolicy(maxTotalMemoryMB: maxTotalMemoryMB, maxTotalCPU: maxTotalCPU, maxAgents: maxAgents)
        )
        let agentClient = APIServer.makeAgentClient()
        let supervisor = try Supervisor(config: config, prober: HTTPAgentProber(client: agentClient), logger: logger)
        let dataPath = dataURL.path
        let traffic = ProxyTraffic()
        let relayThreads = proxyRelayThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
        // The relay owns the public port; Hummingbird listens on a private socket beside the token.
        let privateSocket = dataURL.appendingPathComponent("http.sock").path
        let frontDoor: FrontDoor?
        if relayThreads > 0, !proxyRequiresToken, FrontDoor.supports(host: host), privateSocket.utf8.count < 100 {
            do {
                frontDoor = try FrontDoor(
                    host: host, port: port, routes: supervisor.routeTable, traffic: traffic,
                    timeoutSeconds: proxyTimeout, idleTimeoutSeconds: proxyIdleTimeout, loopCount: relayThreads, logger: logger
                )
            } catch {
                try? await agentClient.shutdown()
                throw error
            }
            unlink(privateSocket)
        } else {
            frontDoor = nil
        }
        defer { if frontDoor != nil { unlink(privateSocket) } }
        let app = APIServer.makeApplication(
            supervisor: supervisor,
            agentClient: agentClient,
            options: .init(host: host, port: port, token: token, version: Par.version, proxyTimeoutSeconds: proxyTimeout, proxyRequiresToken: proxyRequiresToken, proxyIdleTimeoutSeconds: proxyIdleTimeout),
            logger: logger,
            frontDoor: frontDoor, privateSocket: privateSocket, traffic: traffic,
            onListening: { boundPort in
                if frontDoor != nil { chmod(privateSocket, 0o600) }
                // One line for people and scripts: tests read the port from it.
                print("par listening on http://\(displayHost):\(boundPort) (data \(dataPath), token \(dataPath)/token)")
                fflush(nil)
            }
        )
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: SupervisorService(supervisor: supervisor)),
                    .init(service: app),
                ] + (frontDoor.map { [.init(service: $0)] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await agentClient.shutdown()
            throw error
        }
        try await agentClient.shutdown()
    }
}

extension Serve {
    /// Each agent costs the daemon three fds (a pidfd and two pipes): lift the soft limit to the hard one.
    static func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
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
