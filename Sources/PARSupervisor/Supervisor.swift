import Foundation
import Logging
import PARCore
import PARLogs
import PARPackages
import PARProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process table: joins restart policy (PARCore) to the kernel (PARProcess).
/// Requests change desired state here; exits arrive as events from the reactor and
/// are acted on in `run()`, the moment they happen.
public actor Supervisor {
    public nonisolated let config: SupervisorConfig
    public nonisolated let logs: LogStore
    public nonisolated let sampler: ResourceSampler
    let reactor: ProcessReactor
    let extractor: PackageExtractor
    let preparedPackages = PreparedPackages()
    /// Python packages' dependencies, built once per requirement set.
    let environments: PythonEnvironments
    let helpers: HelperProcesses
    let logger: Logger
    private let exitEvents: AsyncStream<(AgentID, Int, ChildExit)>
    private let exitContinuation: AsyncStream<(AgentID, Int, ChildExit)>.Continuation
    /// Reads (status, health, metrics) take `published`, its mirror, instead of waiting for
    /// the actor, so they never queue behind a spawn, a stop or a cleanup.
    var agents: RecordTable
    nonisolated let published: RecordMirror
    /// Desired state on disk: written before a request is answered, read at start.
    let state: DesiredStateStore
    /// Set while a config reload is applied; a second one is refused meanwhile.
    var reloading = false
    /// Ports of running agents for the proxy, republished by `update` with every record.
    public nonisolated let routeTable = RouteTable()
    var ports: PortPool
    /// Agent uids in use, with `--agent-users`.
    nonisolated let identities: IdentityLedger?
    var shuttingDown = false
    let workerPath: String
    public nonisolated let startedAt = Date()
    public nonisolated let cgroups: CgroupDriver
    /// The restart budget every agent draws from; behind a lock so metrics read it off the actor.
    nonisolated let restartBudget: Mutex<RestartBudget>
    /// Restarts delayed by the budget since start.
    nonisolated let rateLimitedRestarts = Atomic<Int>(0)

    /// The budget's balance now (negative: restarts waiting their turn) and the restarts it has delayed.
    public nonisolated func restartBudgetReading() -> (tokens: Double, rateLimited: Int) {
        let now = ResourceSampler.monotonicSeconds()
        return (restartBudget.withLock { $0.balance(at: now) }, rateLimitedRestarts.load(ordering: .relaxed))
    }
    /// Runs of agents besides the records' own: rolling restarts' next and draining runs.
    var extraRuns: [AgentID: ExtraRun] = [:]
    /// Agents a rolling restart is working on (also while it reads the package).
    var rollingAgents: Set<AgentID> = []
    /// Agents in state `waiting`, whose dependencies every record write may meet.
    var waitingAgents: Set<AgentID> = []
    /// The pending check of waiting agents (see `scheduleDependencyCheck`).
    var dependencyCheck: Task<Void, Never>?
    /// Restarts of dependants under way (`restart: true`), one chain per agent.
    var dependantRestarts: [AgentID: Task<Void, Never>] = [:]
    /// The pending coalesced reaping of orphans (see `reapOrphansSoon`).
    private var orphanReap: Task<Void, Never>?
    /// Cgroup removals still running, awaited before the same agent starts again and at shutdown.
    private var cleanups: [AgentID: Task<Void, Never>] = [:]

    let prober: any AgentProber
    let healthWakeup = Wakeup()
    /// When the health loop will next wake by itself: a probe due earlier must wake it.
    var healthLoopWakesAt = 0.0

    /// What the daemon's process must be before a supervisor runs agents in it: kept out of
    /// `init`, since it changes the whole process (a test that builds a supervisor to look at
    /// its routes must not turn its own process into a subreaper).
    public static func claimProcess() {
        // Agents of the daemon's own uid cannot read its environment or memory through /proc.
        DaemonHardening.closeProcFiles()
        DaemonHardening.returnMemoryAfterBursts()
        // Orphans of agents re-parent to us, so nothing an agent started escapes reaping.
        OrphanReaper.becomeSubreaper()
    }

    /// Call `claimProcess()` first in a process that will run agents.
    public init(config: SupervisorConfig, prober: any AgentProber, logger: Logger = Logger(label: "par.supervisor")) throws {
        self.config = config
        let mirror = RecordMirror()
        self.published = mirror
        self.agents = RecordTable(mirror: mirror)
        self.prober = prober
        self.logger = logger
        // Everything that can fail comes first, the log store (threads of its own) last, so a
        // failed start leaves no thread running over freed state.
        let fm = FileManager.default
        for directory in [config.dataDirectory, config.packageCache, config.runtimeDirectory, config.pidDirectory] {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        Self.layOutPermissions(config)
        // A damaged or newer state file stops the start here, before anything is touched:
        // starting empty would silently forget every agent.
        do {
            state = try DesiredStateStore(path: config.stateDatabase.path)
        } catch {
            throw SupervisorError.state(error)
        }
        let worker = config.runtimeDirectory.appendingPathComponent(PythonWorker.fileName)
        try PythonWorker.source.write(to: worker, atomically: true, encoding: .utf8)
        self.workerPath = worker.path
        let reactor = try ProcessReactor(maxLineBytes: config.maxLineBytes)
        let storeLogger = logger
        do {
            self.logs = try LogStore(configuration: LogStoreConfiguration(
                path: config.logDatabase.path, defaultRetention: config.logRetention, maxTotalBytes: config.logMaxTotalBytes,
                // One agent may hold at most an eighth of the budget (2 MiB by default), so one
                // flood cannot stall the others' reading.
                sinkHighWaterBytes: max(64 << 10, config.logBufferBytes / 8), sinkLowWaterBytes: max(16 << 10, config.logBufferBytes / 32),
                globalHighWaterBytes: config.logBufferBytes,
                onError: { message in storeLogger.error("\(message)") }
            ))
        } catch {
            reactor.shutdown()
            throw SupervisorError.internalFailure(error.description)
        }
        self.reactor = reactor
        self.helpers = HelperProcesses(reactor: reactor, pidDirectory: config.pidDirectory, groupNice: config.agentGroupNice)
        var environmentSettings = config.environments
        environmentSettings.agentsRunAsOtherUsers = config.agentUsers != nil
        let identities = config.agentUsers.map(IdentityLedger.init(range:))
        self.identities = identities
        self.environments = PythonEnvironments(
            root: config.environmentsDirectory, pipCache: config.pipCacheDirectory, settings: environmentSettings, helpers: helpers,
            installers: identities
        )
        self.sampler = ResourceSampler()
        let tamperLogger = logger
        self.extractor = PackageExtractor(
            cacheRoot: config.packageCache, limits: config.extractionLimits, fingerprints: config.packageFingerprints,
            onTampered: { message in tamperLogger.warning("\(message)") }
        )
        // Folders set aside by the previous daemon: none of its agents runs any more.
        extractor.removeSetAside()
        self.ports = PortPool(range: config.portRange)
        self.restartBudget = Mutex(RestartBudget(ratePerSecond: config.restartRatePerSecond, burst: config.restartBurst, now: ResourceSampler.monotonicSeconds()))
        (exitEvents, exitContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        Self.killLeftovers(in: config.pidDirectory, logger: logger)
        if let root = config.cgroupRoot {
            cgroups = CgroupDriver.start(root: root, instance: config.cgroupInstance)
        } else {
            cgroups = CgroupDriver.disabled(reason: "cgroups are disabled by configuration")
        }
        if case .none(let reason) = cgroups.backend {
            logger.warning("resource limits cannot be enforced", metadata: ["reason": "\(reason)"])
        }
        // Written even when 0: the instance folder outlives a killed daemon, with its weight.
        do throws(CgroupError) {
            if try cgroups.weighAgents(nice: config.agentsCgroupNice) {
                logger.debug("agents' cgroup weighs as nice \(config.agentsCgroupNice) against the daemon")
            }
        } catch {
            logger.warning("agents' cgroup keeps its weight; under load they weigh as much as the daemon", metadata: ["reason": "\(error)"])
        }
    }

    // MARK: - Running

    /// Acts on exits and samples resources until cancelled; then stops every agent.
    public func run() async {
        restartStartClocks()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [exitEvents] in
                for await (agentID, run, exit) in exitEvents {
                    await self.handleExit(agentID: agentID, run: run, exit: exit)
                }
            }
            group.addTask { [config, sampler] in
                let interval = Duration.milliseconds(Int64(config.sampleIntervalSeconds * 1000))
                while !Task.isCancelled {
                    let (targets, groups) = await self.samplingTargets()
                    let cgroups = self.cgroups
                    sampler.sample(targets) { key in groups[key].map { cgroups.usage($0) } }
                    await self.reapOrphans()
                    try? await Task.sleep(for: interval)
                }
            }
            group.addTask { await self.healthLoop() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Stops every agent in parallel (graceful, then forced) and releases the reactor.
    public func shutdown() async {
        shuttingDown = true
        await killExtraRuns()
        let live = agents.filter { $0.value.isLive }.map(\.key)
        dependencyCheck?.cancel()
        dependencyCheck = nil
        // Dependants stop before what they depend on; each wave stops in parallel.
        for wave in shutdownWaves(live) {
            await withTaskGroup(of: Void.self) { group in
                for agentID in wave {
                    group.addTask { _ = await self.stopProcess(agentID, timeoutSeconds: nil) }
                }
            }
        }
        for restart in dependantRestarts.values { restart.cancel() }
        for cleanup in cleanups.values { await cleanup.value }
        orphanReap?.cancel()
        orphanReap = nil
        reapOrphans()
        // An install still running is killed: no pip outlives the daemon.
        await environments.shutdown()
        cgroups.removeInstance()
        exitContinuation.finish()
        // The agents have exited; their last lines may still be in the pipes (a paused one
        // is resumed as the store drains). Read them out before the fds close.
        await reactor.waitForOutputToEnd(timeout: .seconds(5))
        reactor.shutdown()
        logs.shutdown()
    }

    private func samplingTargets() -> ([(key: String, pid: Int32)], [String: AgentCgroup]) {
        let targets = agents.compactMap { id, record in record.pid.map { (key: id.processID, pid: $0) } }
        var groups: [String: AgentCgroup] = [:]
        for (id, record) in agents where record.pid != nil { groups[id.processID] = record.cgroup }
        return (targets, groups)
    }

    // MARK: - Requests

    /// Starts an agent. The package is checked and unpacked before the table is touched.
    public func spawn(_ spec: AgentSpec) async throws(SupervisorError) -> ProcessStatus {
        if let file = agents[spec.agentID]?.owner { throw .ownedByConfig(processID: spec.processID, file: file) }
        do { try validateDependencies([spec], replacing: [spec.agentID]) } catch { throw .invalid(error) }
        let prepared = try await Self.prepare(spec, config: config, extractor: extractor, cache: preparedPackages)
        do { try validateDependencies([spec], replacing: [spec.agentID]) } catch { throw .invalid(error) }
        return try await launch(spec: spec, prepared: prepared, owner: nil)
    }

    /// Stops then starts again, with `newSpec` or the current one. Counts restart from zero.
    public func restart(processID: String, newSpec: AgentSpec?) async throws(SupervisorError) -> ProcessStatus {
        let agentID = try lookup(processID)
        guard let before = agents[agentID] else { throw .notFound(processID: processID, known: knownIDs) }
        let owner = before.owner
        if let owner, let newSpec, newSpec != before.spec {
            throw .ownedByConfig(processID: processID, file: owner)
        }
        let spec = newSpec ?? before.spec
        if newSpec != nil {
            do { try validateDependencies([spec], replacing: [agentID]) } catch { throw .invalid(error) }
        }
        let prepared = try await Self.prepare(spec, config: config, extractor: extractor, cache: preparedPackages)
        // Reading the package suspended us: a reload or another request may have changed
        // the agent meanwhile, and acting on what we read before would undo that.
        guard var current = agents[agentID], current.owner == owner, current.spec == before.spec else {
            throw .changedMeanwhile(processID: processID)
        }
        // A spec this machine would not launch (limits it cannot enforce, a quota it would
        // break: `{"memory_limit_mb": null}` under a memory quota) is refused before the
        // running agent is touched, not after it was stopped.
        if let refusal = admissionRefusal(spec) { throw refusal }
        // The intent is recorded before anything stops: on a full disk nothing changes.
        current.spec = spec
        current.desired = .running
        current.outcome = nil
        try persist(agentID, current)
        if let record = agents[agentID], record.isLive {
            _ = await stopProcess(agentID, timeoutSeconds: nil)
        }
        let status = try await launch(spec: spec, prepared: prepared, owner: owner)
        restartDependants(of: agentID)
        return status
    }

    /// What a launch refuses about a spec alone: limits without cgroups to enforce them, or a
    /// quota it would break (the agent's own current share set aside).
    func admissionRefusal(_ spec: AgentSpec) -> SupervisorError? {
        if !spec.limits.needsNoCgroup, spec.enforceLimits, case .none(let reason) = cgroups.backend {
            return .limitsUnsupported("memory_limit_mb, memory_swap_mb, cpu_limit and pids_limit need cgroups, which this supervisor cannot use here (\(reason)); send \"enforce_limits\": false to run without them, or leave them out")
        }
        if let violation = config.quotas.check(adding: spec.limits, to: quotaUsage(excluding: spec.agentID)) {
            return .quotaExceeded(violation)
        }
        return nil
    }

    /// Graceful stop: SIGTERM to the agent's whole session, then SIGKILL after the timeout.
    /// The stop is remembered first (a daemon started later leaves the agent down): when
    /// that cannot be written, nothing is stopped.
    public func stop(processID: String, timeoutSeconds: Double?) async throws(SupervisorError) -> ProcessStatus {
        let agentID = try lookup(processID)
        if var record = agents[agentID], record.desired != .stopped {
            record.desired = .stopped
            try persist(agentID, record)
            agents[agentID]?.desired = .stopped
        }
        guard let status = await stopProcess(agentID, timeoutSeconds: timeoutSeconds) else {
            throw .notFound(processID: processID, known: knownIDs)
        }
        return status
    }

    /// Ends the agent's process (and any pending restart) without changing what is desired.
    @discardableResult
    func stopProcess(_ agentID: AgentID, timeoutSeconds: Double?) async -> ProcessStatus? {
        let processID = agentID.processID
        guard var record = agents[agentID] else { return nil }
        let plan = LifecycleRules.stop(record.lifecycle(shuttingDown: shuttingDown))
        record.pendingRestart?.cancel()
        record.pendingRestart = nil
        record.nextRestartAt = nil
        record.nextRestartReason = nil
        guard case .terminate(let pid) = plan else {
            if case .markStopped(_, announce: true) = plan {
                record.state = .stopped
                logs.appendEvent(agentID: agentID.rawValue, event: .stopped, level: .info, message: "\(processID) stopped (pending restart cancelled)")
            }
            releasePort(&record)
            releaseCgroup(agentID, &record)
            update(agentID, record)
            return status(of: agentID)
        }
        let run = record.run
        record.stopRequested = true
        record.state = .stopping
        update(agentID, record)
        let timeout = timeoutSeconds ?? record.spec.stopTimeoutSeconds
        logs.appendEvent(agentID: agentID.rawValue, event: .stopping, level: .info, message: "stopping \(processID) (SIGTERM, SIGKILL after \(timeout) s)", fields: ["pid": .number(Double(pid))])
        ProcessSignals.signalSession(pid, SIGTERM)
        if await !waitForExit(agentID, run: run, timeoutSeconds: timeout) {
            logs.appendEvent(agentID: agentID.rawValue, event: .killed, level: .warning, message: "\(processID) did not stop within \(timeout) s; sending SIGKILL", fields: ["pid": .number(Double(pid))])
            if let group = agents[agentID]?.cgroup { cgroups.kill(group) }
            ProcessSignals.signalSession(pid, SIGKILL)
            _ = await waitForExit(agentID, run: run, timeoutSeconds: 30)
        }
        // Whatever the agent started and left behind in its session goes too, and the
        // stop answers only once its cgroup is gone.
        ProcessSignals.signalSession(pid, SIGKILL)
        await awaitCleanup(of: agentID)
        return status(of: agentID)
    }

    /// The spec an agent runs with, for a restart that changes part of it.
    public func spec(processID: String) throws(SupervisorError) -> AgentSpec {
        agents[try lookup(processID)]!.spec
    }

    /// Every process and the routable agents, from one published copy of the records.
    public nonisolated func snapshot() -> (processes: [ProcessStatus], routes: [String]) {
        let records = published.snapshot()
        return (Self.statuses(records, self), Self.routes(records))
    }

    public nonisolated func statuses() -> [ProcessStatus] {
        Self.statuses(published.snapshot(), self)
    }

    public nonisolated func status(processID: String) throws(SupervisorError) -> ProcessStatus {
        let records = published.snapshot()
        let candidate = AgentID.fromProcessID(processID) ?? (try? AgentID(validating: processID))
        guard let agentID = candidate, let record = records[agentID] else {
            throw .notFound(processID: processID, known: records.keys.sorted().map(\.processID))
        }
        return makeStatus(agentID, record)
    }

    /// Agents that can take traffic.
    public nonisolated func routes() -> [String] {
        Self.routes(published.snapshot())
    }

    private nonisolated static func statuses(_ records: [AgentID: AgentRecord], _ supervisor: Supervisor) -> [ProcessStatus] {
        records.sorted { $0.key < $1.key }.map { supervisor.makeStatus($0.key, $0.value) }
    }

    private nonisolated static func routes(_ records: [AgentID: AgentRecord]) -> [String] {
        records.filter { $0.value.routablePort != nil }.map(\.key.rawValue).sorted()
    }

    /// From the published records, so health checks never wait for the actor.
    public nonisolated var agentCount: Int { published.snapshot().count }

    // MARK: - Internals

    var knownIDs: [String] { agents.keys.sorted().map(\.processID) }

    func lookup(_ processID: String) throws(SupervisorError) -> AgentID {
        // The seed's ids are par-{agent_id}; a bare agent id is accepted as well.
        let candidate = AgentID.fromProcessID(processID) ?? (try? AgentID(validating: processID))
        guard let agentID = candidate, agents[agentID] != nil else {
            throw .notFound(processID: processID, known: knownIDs)
        }
        return agentID
    }

    /// - Parameters:
    ///   - owner: the config file that declares the agent, nil for the API.
    ///   - carry: what a restored agent keeps from before the daemon restarted (run, counters, last exit).
    func launch(
        spec: AgentSpec, prepared: Prepared, owner: String?, preferredPort: Int? = nil, carry: StoredAgent? = nil
    ) async throws(SupervisorError) -> ProcessStatus {
        let agentID = spec.agentID
        let environment = try await environmentPlan(for: prepared)
        // The last await of a launch: from here to storing the record nothing suspends,
        // so no other request can slip in between the checks and the spawn.
        await awaitCleanup(of: agentID)
        guard !shuttingDown else { throw .shuttingDown }
        if let existing = agents[agentID], existing.isLive {
            throw .alreadyRunning(processID: agentID.processID, state: existing.state)
        }
        if let file = agents[agentID]?.owner, file != owner {
            throw .ownedByConfig(processID: agentID.processID, file: file)
        }
        if let refusal = admissionRefusal(spec) { throw refusal }
        let (port, a2aPort) = try allocatePorts(for: prepared, preferring: preferredPort ?? agents[agentID]?.lastPort)
        let isolation: (identity: AgentIdentity?, workDirectory: String)
        do {
            isolation = try takeIdentity(agentID)
        } catch {
            ports.release(port)
            if let a2aPort { ports.release(a2aPort) }
            throw error
        }
        let releasePorts = { [self] in
            ports.release(port)
            if let a2aPort { ports.release(a2aPort) }
            if let identity = isolation.identity { releaseIdentity(identity) }
        }
        let plan: LaunchPlan
        do {
            plan = try makePlan(agentID, spec: spec, prepared: prepared, port: port, a2aPort: a2aPort, python: environment.python, workDirectory: isolation.workDirectory)
        } catch {
            releasePorts()
            throw error
        }
        var record = AgentRecord(
            spec: spec, packageID: prepared.packageID, plan: plan, port: port, lastPort: port, owner: owner,
            packageDigest: prepared.digest, state: .starting,
            healthCheck: spec.healthCheck ?? prepared.manifest.health ?? .builtInDefault
        )
        record.a2aPort = a2aPort
        record.exitRules = spec.exitRules(package: prepared.manifest.exitRules)
        record.identity = isolation.identity
        record.environmentKey = environment.key
        if let previous = agents[agentID] {
            record.run = previous.run
        }
        if let carry {
            record.run = max(record.run, carry.run)
            record.restartCount = carry.restartCount
            record.consecutiveRestarts = carry.consecutiveRestarts
            record.lastExit = carry.lastExit.flatMap(ExitRecord.init(json:))
        }
        // Controllers where limits (or the operator) ask for them; where the kernel makes it
        // cheap, every agent gets a cgroup anyway, so none of its processes outlives a stop.
        let controllers = CgroupPlacement.wantsCgroup(version: cgroups.version, limits: spec.limits, everyAgent: config.cgroupEveryAgent)
        if controllers || cgroups.tracksEveryAgent {
            do {
                let group = try cgroups.create(agent: agentID.rawValue, limits: spec.limits, controllers: controllers)
                record.cgroup = group
                record.oomKillsSeen = cgroups.oomKills(group)
            } catch {
                releasePorts()
                throw .internalFailure("cannot create the cgroup of \(agentID.processID): \(error)")
            }
        }
        // Desired state is committed before anything starts: when it cannot be written,
        // nothing was changed. The stored run is the one the start below will be.
        do {
            var row = stored(agentID, record)
            row.run += 1
            try state.save(row)
        } catch {
            releasePorts()
            if let group = record.cgroup { cgroups.remove(group) }
            throw .state(error)
        }
        if case .build(let job) = environment {
            // The answer goes out now; the process starts once the dependencies are installed.
            beginPreparing(agentID, &record, job: job)
            update(agentID, record)
            return status(of: agentID)!
        }
        do {
            try startOrWait(agentID, &record)
        } catch {
            releasePorts()
            if let group = record.cgroup { cgroups.remove(group) }
            // The start failed: the stored row goes back to what it was.
            if let previous = agents[agentID] {
                persistQuietly(agentID, previous)
            } else if let carry {
                // A restored agent stays wanted on disk: once the cause is fixed it comes back.
                do { try state.save(carry) } catch { logger.error("cannot write desired state", metadata: ["agent": "\(agentID.rawValue)", "error": "\(error)"]) }
            } else {
                forgetQuietly(agentID)
            }
            // A program that is missing or not executable is the package's fault (422);
            // anything else (no fds, no memory, cgroup refused) is the supervisor's.
            if case .exec(_, let code) = error, [ENOENT, EACCES, ENOEXEC, ENOTDIR, ELOOP].contains(code) {
                throw .spawnFailed("cannot start \(agentID.processID): \(error)")
            }
            throw .internalFailure("cannot start \(agentID.processID): \(error)")
        }
        update(agentID, record)
        if case .ready(let built) = environment { noteReused(built, agentID: agentID, run: record.run) }
        return status(of: agentID)!
    }

    /// The agent's port (`preferring` when it is free) and, for a package with an `a2a:`
    /// surface run by the bundled worker, a second one.
    func allocatePorts(for prepared: Prepared, preferring: Int?) throws(SupervisorError) -> (port: Int, a2aPort: Int?) {
        guard let port = ports.allocate(preferring: preferring, isFreeOnMachine: { PortProbe.isFree($0) }) else {
            throw .noFreePort(range: config.portRange)
        }
        guard prepared.manifest.command == nil, prepared.manifest.surfaces.a2aService != nil else { return (port, nil) }
        guard let second = ports.allocate(preferring: nil, isFreeOnMachine: { PortProbe.isFree($0) }) else {
            ports.release(port)
            throw .noFreePort(range: config.portRange)
        }
        return (port, second)
    }

    /// What to run for `spec` on `port`: argv, environment and folder from the manifest.
    func makePlan(
        _ agentID: AgentID, spec: AgentSpec, prepared: Prepared, port: Int, a2aPort: Int?, python: String?, workDirectory: String
    ) throws(SupervisorError) -> LaunchPlan {
        var context = LaunchContext(
            agentID: agentID.rawValue, packageID: prepared.packageID, packagePath: spec.packagePath, port: port,
            supervisorURL: config.supervisorURL, pythonWorkerPath: workerPath,
            pythonExecutable: python ?? config.pythonExecutable, a2aPort: a2aPort
        )
        context.expansionAllowList = config.environmentAllowList
        context.workDirectory = workDirectory
        do {
            return try LaunchPlan.make(manifest: prepared.manifest, packageDirectory: prepared.directory, requestEnvironment: spec.env, context: context)
        } catch {
            throw .package(error)
        }
    }

    /// Spawns the record's plan and watches the child. Throws only if the kernel refused.
    /// The `spawned` event is stored before the child's pipes are read, so in the agent's
    /// log it always comes before the first line the run prints; `why` ends its message.
    func start(_ agentID: AgentID, _ record: inout AgentRecord, why: String? = nil) throws(SpawnError) {
        guard let plan = record.plan else { throw .setup(step: "find the launch plan (the agent was never prepared)", errno: ENOENT) }
        let confinement = SpawnConfinement(
            cgroupProcsFiles: record.cgroup?.procsFiles ?? [], cgroupDirectory: record.cgroup?.cloneDirectory, nice: Int32(record.spec.limits.nice),
            groupNice: config.agentGroupNice, identity: record.identity
        )
        let spawned = try Spawner.spawn(executable: plan.executable, argv: plan.argv, environment: plan.environment, workingDirectory: plan.workingDirectory, confinement: confinement)
        record.run += 1
        record.pid = spawned.pid
        let now = ResourceSampler.monotonicSeconds()
        if record.healthCheck.kind == .none {
            record.state = .running
            record.health = nil
            record.readyAt = Date()
        } else {
            record.state = .starting
            record.health = HealthTracker(config: record.healthCheck, startedAt: now)
            record.nextProbeAt = now
            record.readyAt = nil
        }
        record.probeInFlight = false
        record.lastProbe = nil
        record.healthKill = nil
        record.startedAt = Date()
        record.startedMonotonic = now
        record.stopRequested = false
        record.nextRestartAt = nil
        record.nextRestartReason = nil
        record.error = nil
        writePidFile(agentID, pid: spawned.pid)
        let port = record.port ?? 0
        logs.appendEvent(
            agentID: agentID.rawValue, event: .spawned, level: .info,
            message: "spawned \(agentID.processID) (pid \(spawned.pid), port \(port))" + (why.map { ": " + $0 } ?? ""),
            fields: ["pid": .number(Double(spawned.pid)), "port": .number(Double(port)), "run": .number(Double(record.run))]
        )
        watch(spawned, agentID: agentID, run: record.run, retention: record.spec.logRetention)
        healthWakeup.signal()
    }

    /// Reads the child's output into the log store (as run `run`) and hands its exit to `run()`.
    func watch(_ spawned: SpawnedProcess, agentID: AgentID, run: Int, retention: LogRetentionPolicy?) {
        let processID = agentID.processID
        let continuation = exitContinuation
        let reactor = self.reactor
        let watchID = reactor.reserveWatchID()
        logs.setRetention(retention, for: processID)
        // When the store falls behind, the reactor stops reading this agent's pipes and the
        // agent blocks on write; the store resumes it once it has caught up.
        let sink = logs.makeSink(processID: processID, run: run, onDrained: { reactor.resume(watchID) })
        reactor.watch(spawned, id: watchID, handlers: ChildHandlers(
            onLines: { stream, lines in sink.write(stream == .stdout ? .stdout : .stderr, lines) },
            onExit: { exit in
                sink.finish()
                continuation.yield((agentID, run, exit))
            }
        ))
    }

    private func handleExit(agentID: AgentID, run: Int, exit: ChildExit) {
        if handleExtraRunExit(agentID: agentID, exit: exit) { return }
        guard var record = agents[agentID], LifecycleRules.acceptsExit(record.lifecycle(shuttingDown: shuttingDown), run: run, pid: exit.pid) else { return }
        let processID = agentID.processID
        // Anything the agent left in its process group dies with it (one syscall); the
        // full session sweep through /proc waits until the replacement is started.
        ProcessSignals.signalGroup(exit.pid, SIGKILL)
        var oomKilled = false
        if let group = record.cgroup {
            cgroups.kill(group)
            let kills = cgroups.oomKills(group)
            oomKilled = kills > record.oomKillsSeen
            record.oomKillsSeen = kills
        }
        // A cgroup holds every process of the run, even one that left the session, and its
        // kill above emptied it: no /proc sweep needed, only the orphans' reaping, coalesced
        // over the exits of the next few milliseconds (a storm's exits share one pass).
        let contained = record.cgroup != nil
        defer { if contained { reapOrphansSoon() } else { sweepSession(of: exit.pid) } }
        removePidFile(agentID)
        // From the exit as the reactor saw it: an exit handled late (queued while the daemon
        // restored its agents) must not count as a longer, stable run.
        let runSeconds = record.startedAt.map { max(0, exit.at.timeIntervalSince($0)) } ?? 0
        var code: Int32?
        var signal: Int32?
        switch exit.termination {
        case .exited(let c): code = c
        case .signaled(let s): signal = s
        }
        record.pid = nil
        sampler.forget(processID)
        let waiters = record.exitWaiters
        record.exitWaiters = []
        defer { waiters.forEach { $0.resume(exited: true) } }

        let healthKill = record.healthKill.map { (reason: ExitReason(rawValue: $0.reason) ?? .unhealthy, detail: $0.detail) }
        let now = ResourceSampler.monotonicSeconds()
        var outcome = ExitPlanner.plan(ExitPlanner.Facts(
            termination: exit.termination, stopRequested: record.stopRequested || shuttingDown, oomKilled: oomKilled,
            healthKill: healthKill, restart: record.spec.restart, consecutiveRestarts: record.consecutiveRestarts, runSeconds: runSeconds,
            exitRules: record.exitRules, restartHistory: record.restartHistory, now: now, jitterDraw: Double.random(in: -1...1)
        ))
        // The policy's delay, then the supervisor-wide budget: over it the restart waits its turn.
        var rateLimited = false
        if let restart = outcome.restart {
            let at = restartBudget.withLock { $0.reserve(now: now, notBefore: now + restart.delaySeconds) }
            rateLimited = at - now > restart.delaySeconds + 0.000_5
            if rateLimited {
                rateLimitedRestarts.add(1, ordering: .relaxed)
                outcome.restart = (delaySeconds: at - now, consecutiveRestarts: restart.consecutiveRestarts)
            }
            if record.spec.restart.startLimitBurst > 0 {
                record.restartHistory = RestartPlanner.recentRestarts(record.restartHistory, config: record.spec.restart, now: now) + [now]
            }
        }
        // A restart by policy takes the agents that declared `restart: true` on this one along.
        if outcome.restart != nil { restartDependants(of: agentID) }
        // The record takes the outcome; then its effects are carried out in the planned order.
        record.healthKill = nil
        record.lastExit = ExitRecord(code: code, signal: signal, at: exit.at, reason: outcome.reason.rawValue, run: run)
        record.state = outcome.state
        if outcome.reason != .stopped { record.health = nil }
        if let restart = outcome.restart {
            record.consecutiveRestarts = restart.consecutiveRestarts
        } else if outcome.reason != .stopped {
            // The policy ended it: a daemon started later leaves it down too.
            record.error = outcome.error
            record.outcome = outcome.state == .failed ? .failed : outcome.state == .crashed ? .crashed : .stopped
        }
        let fields = exitFields(exit, run: run).merging(["reason": .string(outcome.reason.rawValue)]) { $1 }
        for effect in outcome.effects(oomKilled: oomKilled, shuttingDown: shuttingDown) {
            switch effect {
            case .releaseResources:
                releasePort(&record)
                releaseCgroup(agentID, &record)
            case .persist:
                update(agentID, record)
                persistQuietly(agentID, record)
            case .announceStopped:
                logs.appendEvent(agentID: agentID.rawValue, event: .stopped, level: .info, message: "\(processID) stopped (\(exit.termination))", fields: fields)
            case .announceOOMKill:
                let limit = record.spec.limits.memoryMB.map { "memory_limit_mb \($0)" } ?? "its memory limit"
                logs.appendEvent(agentID: agentID.rawValue, event: .oomKilled, level: .critical, message: "\(processID) was killed by the kernel for going over \(limit) (oom_killed)", fields: exitFields(exit, run: run).merging(["reason": .string(ExitReason.oomKilled.rawValue)]) { $1 })
            case .announceExit:
                logs.appendEvent(agentID: agentID.rawValue, event: .exited, level: exit.termination.isFailure ? .error : .info, message: "\(processID) \(exit.termination) after \(String(format: "%.3f", runSeconds)) s", fields: fields)
            case .announceGaveUp(let error):
                logs.appendEvent(agentID: agentID.rawValue, event: .gaveUp, level: .critical, message: "\(processID) \(error)", fields: exitFields(exit, run: run).merging(["reason": .string("gave_up")]) { $1 })
            case .announceRestart(let delay, let consecutive):
                let budget = restartBudget.withLock { $0 }
                let why = rateLimited ? "; rate_limited: the supervisor's restart budget (\(String(format: "%g", budget.ratePerSecond)) per second, burst \(Int(budget.burst))) is spent" : ""
                logs.appendEvent(agentID: agentID.rawValue, event: .restarting, level: .warning, message: "restarting \(processID) in \(String(format: "%.3f", delay)) s (restart \(consecutive) of at most \(record.spec.restart.maxRestarts)\(why))", fields: ["delay_seconds": .number(delay), "reason": .string(rateLimited ? "rate_limited" : "backoff")])
            case .relaunchNow:
                update(agentID, record)
                relaunch(agentID)
                return
            case .scheduleRestart(let delay):
                record.nextRestartAt = Date().addingTimeInterval(delay)
                record.nextRestartReason = rateLimited ? "rate_limited" : "backoff"
                record.pendingRestart = Task { [weak self] in
                    try? await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
                    guard !Task.isCancelled else { return }
                    await self?.relaunch(agentID, expectedRun: run)
                }
            }
        }
        update(agentID, record)
    }

    /// Kills what is left of an ended run's session and reaps orphans that re-parented to us.
    private func sweepSession(of sessionID: Int32) {
        ProcessSignals.signalSession(sessionID, SIGKILL)
        reapOrphans()
    }

    /// One pass over the daemon's children shortly, however many exits ask for it meanwhile.
    private func reapOrphansSoon() {
        guard orphanReap == nil else { return }
        orphanReap = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(20))
            await self?.finishOrphanReap()
        }
    }

    private func finishOrphanReap() {
        orphanReap = nil
        reapOrphans()
    }

    /// On the actor, so the set of managed pids cannot change underneath: a child spawned
    /// a moment ago is in `agents` before anything here could see it as an orphan.
    private func reapOrphans() {
        OrphanReaper.reapOrphans(excluding: Set(agents.values.compactMap(\.pid)).union(helpers.pids))
    }

    private func relaunch(_ agentID: AgentID, expectedRun: Int? = nil) {
        guard var record = agents[agentID], LifecycleRules.mayRelaunch(record.lifecycle(shuttingDown: shuttingDown), expectedRun: expectedRun) else { return }
        record.pendingRestart = nil
        record.restartCount += 1
        do {
            try start(agentID, &record, why: "restart \(record.restartCount)")
        } catch {
            failStart(agentID, &record, error: "restart failed: \(error)")
        }
        update(agentID, record)
        persistQuietly(agentID, record)
    }

    /// A start the kernel refused ends the agent: failed, its port and cgroup released.
    func failStart(_ agentID: AgentID, _ record: inout AgentRecord, error: String) {
        record.state = .failed
        record.outcome = .failed
        record.error = error
        releasePort(&record)
        releaseCgroup(agentID, &record)
        logs.appendEvent(agentID: agentID.rawValue, event: .failed, level: .critical, message: "\(agentID.processID) \(error)")
    }

    private func waitForExit(_ agentID: AgentID, run: Int, timeoutSeconds: Double) async -> Bool {
        guard let record = agents[agentID], record.run == run, record.pid != nil else { return true }
        return await withCheckedContinuation { continuation in
            let waiter = ExitWaiter(continuation)
            agents[agentID]?.exitWaiters.append(waiter)
            Task {
                try? await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000)))
                waiter.resume(exited: false)
            }
        }
    }

    /// Waits until no removal of the agent's old cgroup is running. The task stays in the
    /// table until it has finished, so a request arriving meanwhile waits for it too.
    private func awaitCleanup(of agentID: AgentID) async {
        while let cleanup = cleanups[agentID] {
            await cleanup.value
            if cleanups[agentID] == cleanup { cleanups[agentID] = nil }
        }
    }

    /// Removes the agent's cgroup once its processes are gone; the removal runs on and is
    /// awaited before the agent starts again or the daemon exits.
    func releaseCgroup(_ agentID: AgentID, _ record: inout AgentRecord) {
        guard let group = record.cgroup else { return }
        record.cgroup = nil
        releaseCgroupNamed(agentID, group)
    }

    /// Removes `group` once its processes are gone, in the agent's chain of removals.
    func releaseCgroupNamed(_ agentID: AgentID, _ group: AgentCgroup) {
        let cgroups = self.cgroups
        let previous = cleanups[agentID]
        let logger = self.logger
        cleanups[agentID] = Task {
            await previous?.value
            if !(await cgroups.destroy(group)) {
                logger.warning("a cgroup of \(agentID.processID) is still busy after 5 s and was left in place; the next daemon start removes it")
            }
        }
    }

    func releasePort(_ record: inout AgentRecord) {
        if let port = record.port { ports.release(port) }
        if let port = record.a2aPort { ports.release(port) }
        record.port = nil
        record.a2aPort = nil
        releaseIdentity(&record)
    }

    private func exitFields(_ exit: ChildExit, run: Int) -> [String: JSONValue] {
        var fields: [String: JSONValue] = ["pid": .number(Double(exit.pid)), "run": .number(Double(run))]
        switch exit.termination {
        case .exited(let code): fields["exit_code"] = .number(Double(code))
        case .signaled(let signal): fields["signal"] = .number(Double(signal))
        }
        return fields
    }

    func status(of agentID: AgentID) -> ProcessStatus? {
        agents[agentID].map { makeStatus(agentID, $0) }
    }

    nonisolated func makeStatus(_ agentID: AgentID, _ record: AgentRecord) -> ProcessStatus {
        let uptime = record.pid != nil ? record.startedMonotonic.map { ResourceSampler.monotonicSeconds() - $0 } : nil
        var status = ProcessStatus(
            processID: agentID.processID, agentID: agentID.rawValue, packageID: record.packageID, packagePath: record.spec.packagePath,
            port: record.port, a2aPort: record.a2aPort, environment: record.environmentKey, state: record.state, pid: record.pid, startedAt: record.startedAt, uptimeSeconds: uptime,
            run: record.run, restartCount: record.restartCount, consecutiveRestarts: record.consecutiveRestarts,
            restartPolicy: record.spec.restart.policy, maxRestarts: record.spec.restart.maxRestarts,
            lastExit: record.lastExit, nextRestartAt: record.nextRestartAt, nextRestartReason: record.nextRestartReason, error: record.error,
            dependencies: record.spec.dependencies,
            waitingFor: record.waitingFor.map { dependency in
                (dependency, published.state(of: dependency.agentID))
            },
            resources: record.pid != nil ? sampler.latest(for: agentID.processID) : nil,
            limits: record.spec.limits,
            limitsEnforced: record.spec.limits.needsNoCgroup || cgroups.version != nil,
            limitsReason: record.spec.limits.needsNoCgroup || cgroups.version != nil ? nil : { if case .none(let reason) = cgroups.backend { return reason } else { return nil } }(),
            cgroupPath: record.cgroup?.displayPath,
            healthCheck: record.healthCheck,
            healthStatus: Self.healthStatus(record),
            lastProbe: record.lastProbe,
            consecutiveProbeFailures: record.health?.consecutiveFailures ?? 0,
            readyAt: record.readyAt
        )
        status.judgedByProcess = record.health?.phase == .unprobed
        return status
    }

    /// Where a request for `agentID` goes.
    public enum Route: Sendable {
        case forward(port: Int)
        case unknown(known: [String])
        /// No process can take it now; `retryAfter` seconds when one is expected.
        case unavailable(state: ProcessState, retryAfter: Int?)
    }

    public func route(_ agentID: String) -> Route {
        guard let id = try? AgentID(validating: agentID), let record = agents[id] else {
            return .unknown(known: agents.keys.sorted().map(\.rawValue))
        }
        if let port = record.routablePort { return .forward(port: port) }
        var retryAfter: Int?
        if let next = record.nextRestartAt { retryAfter = max(1, Int(next.timeIntervalSinceNow.rounded(.up))) }
        if record.state == .starting { retryAfter = 1 }
        if record.state == .preparing { retryAfter = 5 }
        if record.state == .waiting { retryAfter = 1 }
        return .unavailable(state: record.state, retryAfter: retryAfter)
    }

    /// Writes a record back and republishes its route, so `routeTable` never lags the records.
    func update(_ agentID: AgentID, _ record: AgentRecord) {
        agents[agentID] = record
        routeTable.publish(agentID.rawValue, port: record.routablePort)
        if record.state == .waiting {
            waitingAgents.insert(agentID)
        } else {
            waitingAgents.remove(agentID)
        }
        if !waitingAgents.isEmpty { scheduleDependencyCheck() }
    }
}
