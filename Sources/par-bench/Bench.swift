import ArgumentParser
import Foundation
import PARClient
import PARTestKit
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Measures the supervisor end to end, the way a user would feel it, and prints a table
/// plus one JSON line per figure. Run it on a release build:
/// `swift build -c release && .build/release/par-bench`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "par-bench", abstract: "Benchmarks of the MultiPAR supervisor.")

    @Option(help: "Comma-separated workloads: W1 (spawn N), W2 (crash to restart), W4 (idle daemon cost), W5 (status latency), L1 (spawn N with cgroup limits, cost per agent over W1), L2 (cpu_limit 0.5 against a 4-process burner), W6 (proxy throughput, latency and CPU per request against direct and, when installed, nginx with 1 and 2 workers), P2 (daemon memory while 1 GiB streams through the proxy each way), H1 (/supervisor/health latency with N agents), W3 (log ingest: one agent, then ten, printing w3-lines each), Q1 (log queries over what W3 stored), L3 (agent print to SSE subscriber), W8 (kill -9 of the daemon to every agent answering again), R1 (config reload with one agent changed), W4H (idle cost with HTTP, TCP and no health probes), RR (3 rolling restarts under keep-alive load: non-200 answers and socket errors), D1 (a chain of 10 agents depending on the one before, condition healthy: time beyond their own start times), C1 (par ps end to end with agents and large agents, against starting /bin/true), SL (slow-loris: sl-connections clients sending one head line per 5 s, their close against the head timeout, a normal client's proxy p99 beside its value without them), W7 (restart storm: 50 agents exiting after 50 ms, restarts/s, CPU per restart against a bare spawn, status and proxy p99, with and without the restart budget), S1 (spawn and stop request latency, state writes included), SOAK (status, health and /metrics latency, full-text backlog, CPU and RSS under floods, crash loops, proxy load and a live tail; not in the default set), PX (the pixell-kit demo's cold and warm start against a bare install and a bare uvicorn start; fetches pixell-kit and wheels from PyPI once).")
    var workloads = "W1,W2,W4,W5,C1,L1,L2,W6,P2,H1,W3,Q1,L3,W8,R1,W4H,S1,W7,RR,D1,SL"

    @Option(name: .customLong("rr-seconds"), help: "Seconds of load in RR.")
    var rrSeconds = 10.0

    @Option(name: .customLong("w7-seconds"), help: "How long each W7 storm lasts.")
    var w7Seconds = 30.0

    @Flag(name: .customLong("w7-peers"), help: "Also run W7's storm under supervisord (installed from PyPI into .build/bench-peers once).")
    var w7Peers = false

    @Option(name: .customLong("w3-lines"), help: "Lines each W3 agent prints.")
    var w3Lines = 1_000_000

    @Option(name: .customLong("l3-samples"), help: "Live lines timed in L3.")
    var l3Samples = 500

    @Option(name: .customLong("w6-seconds"), help: "Seconds of load per W6 run.")
    var w6Seconds = 10.0

    @Option(name: .customLong("w6-connections"), help: "Keep-alive connections in W6 (one thread each).")
    var w6Connections = 32

    @Option(name: .customLong("w6-rounds"), help: "W6 pairs (direct, then proxied); the median pair is reported, since direct alone varies by 20% between runs here.")
    var w6Rounds = 3

    @Option(name: .customLong("sl-connections"), help: "Slow-loris clients in SL.")
    var slConnections = 300

    @Option(name: .customLong("sl-head-timeout"), help: "The daemon's --request-head-timeout in SL (seconds).")
    var slHeadTimeout = 10.0

    @Option(name: .customLong("soak-seconds"), help: "How long SOAK keeps the load on.")
    var soakSeconds = 60.0

    @Option(name: .customLong("soak-live-tail"), help: "Whether SOAK keeps a live tail (SSE) of a flooding agent open.")
    var soakLiveTail = true

    @Option(name: .customLong("soak-floods"), help: "SOAK's agents printing 100,000-line bursts.")
    var soakFloods = 6

    @Option(name: .customLong("soak-crashers"), help: "SOAK's crash-looping agents.")
    var soakCrashers = 8

    @Option(name: .customLong("soak-proxy-connections"), help: "Keep-alive connections of SOAK's proxy load (0 for none).")
    var soakProxyConnections = 4

    @Option(name: .customLong("soak-agent-nice"), help: "nice of SOAK's flooding and crashing agents (0: they compete with the daemon as equals).")
    var soakAgentNice = 0

    @Option(name: .customLong("soak-daemon-nice"), help: "Experiment: renice every thread of SOAK's daemon by this much after it starts (0: as started).")
    var soakDaemonNice = 0

    @Option(name: .customLong("soak-control-plane-nice"), help: "SOAK's daemon --control-plane-nice (default -10, the daemon's own; 0 for the weight it had before).")
    var soakControlPlaneNice = -10

    @Option(name: .customLong("soak-sampler-nice"), help: "nice of SOAK's latency sampler alone (default: that of --soak-daemon-nice), to tell the bench's own scheduling delays (its load generator shares the cores) from the daemon's.")
    var soakSamplerNice: Int?

    @Option(name: .customLong("soak-settle"), help: "Seconds SOAK waits after the floods before it reads the daemon's RSS again.")
    var soakSettle = 30.0

    @Option(name: .customLong("px-rounds"), help: "Rounds of PX (each: a bare install, a daemon, a cold and a warm start).")
    var pxRounds = 3

    @Option(help: "Agents for W1, W4, W5, W4H, W8, R1 and S1.")
    var agents = 100

    @Option(help: "Also run W1 and W5 with this many agents (0 to skip).")
    var large = 1000

    @Option(name: .customLong("w2-samples"), help: "Crashes measured in W2.")
    var w2Samples = 20

    @Option(name: .customLong("w4-seconds"), help: "How long W4 watches the idle daemon.")
    var w4Seconds = 30.0

    @Option(name: .customLong("w5-requests"), help: "Status requests measured in W5.")
    var w5Requests = 2000

    @Option(name: .customLong("load-only"), help: ArgumentHelp("Internal: run only a closed-loop load against PORT,PATH,CONNECTIONS,SECONDS and print its result as JSON (SOAK runs it in a session of its own).", visibility: .hidden))
    var loadOnly: String?

    func run() throws {
        if let loadOnly {
            try LoadGenerator.runAlone(loadOnly)
            return
        }
        let selected = Set(workloads.uppercased().split(separator: ",").map(String.init))
        var report = Report()
        if selected.contains("W2") {
            try crashToRestart(&report, daemonArguments: [], label: "")
            try crashToRestart(&report, daemonArguments: ["--cgroup-root", "none"], label: ", no cgroups")
        }
        if selected.contains("W1") || selected.contains("W4") || selected.contains("W5") || selected.contains("C1") {
            try fleet(size: agents, selected: selected, report: &report)
            if large > 0 {
                try fleet(size: large, selected: selected.subtracting(["W4"]), report: &report)
            }
        }
        if selected.contains("W6") { try proxyThroughput(&report) }
        if selected.contains("P2") { try proxyStreamingMemory(&report) }
        if selected.contains("H1") { try fleetHealthLatency(&report) }
        if selected.contains("L1") { try spawnWithLimits(&report) }
        if selected.contains("L2") { try cpuLimitAccuracy(&report) }
        if selected.contains("W3") || selected.contains("Q1") { try logIngest(&report, selected: selected) }
        if selected.contains("L3") { try liveTailLatency(&report) }
        if selected.contains("S1") { try spawnLatency(&report) }
        if selected.contains("W8") { try crashRecovery(&report) }
        if selected.contains("W7") {
            try restartStorm(&report)
            if w7Peers { try supervisordStorm(&report) }
        }
        if selected.contains("RR") { try rollingRestartUnderLoad(&report) }
        if selected.contains("SL") { try slowloris(&report) }
        if selected.contains("D1") { try dependencyChain(&report) }
        if selected.contains("R1") { try configReload(&report) }
        if selected.contains("W4H") { try idleWithHealthProbes(&report) }
        if selected.contains("PX") { try pixellStarts(&report) }
        if selected.contains("SOAK") { try soak(&report) }
        report.printTable()
    }

    /// W6: the same load straight to an agent, through `/agents/{id}/`, and (when installed)
    /// through nginx with one and two workers, interleaved round by round so every proxy sees
    /// the same machine. Each proxy's share of direct throughput is read against the direct
    /// run of its own round; CPU per request is the proxy process's CPU over its requests.
    func proxyThroughput(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 10)
        defer { daemon.stop() }
        let answer = try daemon.client().post("/supervisor/spawn", json: ["agent_id": "fast", "package_path": try daemon.install(FastAgent.package())])
        guard answer.status == 200, let port = answer.json["port"] as? Int else { throw BenchError.failed("spawn fast agent: \(answer.text)") }
        try Self.waitUntilRunning(daemon.client(), count: 1)
        let useWrk = Wrk.isInstalled
        let run = { (port: Int, path: String) throws -> LoadGenerator.Result in
            useWrk ? try Wrk.run(port: port, path: path, connections: w6Connections, seconds: w6Seconds)
                : try LoadGenerator.run(port: port, path: path, connections: w6Connections, seconds: w6Seconds)
        }
        var peers: [NginxReference] = []
        defer { peers.forEach { $0.stop() } }
        if let nginx = NginxReference.executable {
            for workers in [1, 2] { peers.append(try NginxReference(executable: nginx, targetPort: port, workers: workers)) }
        } else {
            print("W6: nginx is not installed; comparing against direct only (apt-get install nginx for the peer)")
        }
        /// One proxy's run: its share of the same round's direct throughput, CPU per request.
        struct ProxyRun { var result: LoadGenerator.Result; var share: Double; var cpuMicroseconds: Double }
        func measured(_ cpu: () throws -> Double, port: Int, path: String, direct: LoadGenerator.Result) throws -> ProxyRun {
            let before = try cpu()
            let result = try run(port, path)
            let used = try cpu() - before
            let requests = result.requestsPerSecond * w6Seconds
            return ProxyRun(result: result, share: result.requestsPerSecond / direct.requestsPerSecond, cpuMicroseconds: used / max(1, requests) * 1e6)
        }
        let daemonPid = daemon.process.processIdentifier
        var directs: [LoadGenerator.Result] = []
        var ours: [ProxyRun] = []
        var theirs: [[ProxyRun]] = Array(repeating: [], count: peers.count)
        for _ in 0..<max(1, w6Rounds) {
            let direct = try run(port, "/")
            directs.append(direct)
            ours.append(try measured({ try ProcStat.cpuSeconds(daemonPid) }, port: daemon.port, path: "/agents/fast/", direct: direct))
            for (index, peer) in peers.enumerated() {
                theirs[index].append(try measured(peer.cpuSeconds, port: peer.port, path: "/", direct: direct))
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        func range(_ values: [Double], _ format: String) -> String {
            "\(String(format: format, values.min() ?? 0))-\(String(format: format, values.max() ?? 0))"
        }
        let relay = try ReferenceRelay(targetPort: port)
        defer { relay.stop() }
        let relayed = try run(relay.port, "/")
        let directRate = median(directs.map(\.requestsPerSecond))
        let c = "\(w6Connections) connections, \(useWrk ? "wrk -t2" : "built-in load"), \(ours.count) rounds"
        report.add("W6", "direct: requests/s, median (\(c))", agents: 1, value: directRate, unit: "req/s", bar: nil)
        report.add("W6", "proxied: requests/s, median", agents: 1, value: median(ours.map(\.result.requestsPerSecond)), unit: "req/s", bar: nil)
        report.add("W6", "proxied share of direct, median (range \(range(ours.map(\.share), "%.3f")))", agents: 1, value: median(ours.map(\.share)), unit: "ratio", bar: nil, floor: 0.5)
        report.add("W6", "proxied CPU per request, median (range \(range(ours.map(\.cpuMicroseconds), "%.1f")))", agents: 1, value: median(ours.map(\.cpuMicroseconds)), unit: "us", bar: nil)
        for (index, peer) in peers.enumerated() {
            let runs = theirs[index]
            let name = "nginx \(peer.workers) worker\(peer.workers == 1 ? "" : "s")"
            report.add("W6", "\(name): share of direct, median (range \(range(runs.map(\.share), "%.3f")))", agents: 1, value: median(runs.map(\.share)), unit: "ratio", bar: nil)
            report.add("W6", "\(name): CPU per request, median (range \(range(runs.map(\.cpuMicroseconds), "%.1f")))", agents: 1, value: median(runs.map(\.cpuMicroseconds)), unit: "us", bar: nil)
            report.add("W6", "\(name): latency p99, median", agents: 1, value: median(runs.map(\.result.p99Milliseconds)), unit: "ms", bar: nil)
            // Ahead means a larger share of direct in the same rounds: the median of the per-round quotients.
            let lead = median(zip(ours, runs).map { $0.share / $1.share })
            report.add("W6", "ours over \(name), share of direct (per-round quotients, median)", agents: 1, value: lead, unit: "ratio", bar: nil, floor: 1)
        }
        report.add("W6", "yardstick: NIO byte relay (no HTTP) as a share of direct", agents: 1, value: relayed.requestsPerSecond / directRate, unit: "ratio", bar: nil)
        report.add("W6", "direct latency p99, median", agents: 1, value: median(directs.map(\.p99Milliseconds)), unit: "ms", bar: nil)
        report.add("W6", "proxied latency p99, median", agents: 1, value: median(ours.map(\.result.p99Milliseconds)), unit: "ms", bar: nil)
        let added = median(zip(ours, directs).map { $0.result.p99Milliseconds - $1.p99Milliseconds })
        report.add("W6", "latency added by the proxy, p99 (per-round differences, median)", agents: 1, value: added, unit: "ms", bar: 2)
        let errors = directs.reduce(0) { $0 + $1.errors } + ours.reduce(0) { $0 + $1.result.errors }
        report.add("W6", "errors (direct + proxied, all rounds)", agents: 1, value: Double(errors), unit: "requests", bar: 0)
    }

    /// P2: the daemon's RSS while 1 GiB goes down and 1 GiB goes up through the proxy.
    func proxyStreamingMemory(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 10)
        defer { daemon.stop() }
        let answer = try daemon.client().post("/supervisor/spawn", json: ["agent_id": "echo", "package_path": try daemon.install(EchoAgent.package())])
        guard answer.status == 200 else { throw BenchError.failed("spawn echo agent: \(answer.text)") }
        try Self.waitUntilRunning(daemon.client(), count: 1)
        let pid = daemon.process.processIdentifier
        let before = Double(try ProcStat.rssKiB(pid)) / 1024
        let peak = RSSWatcher(pid: pid)
        defer { peak.stop() }
        let start = Clock.now()
        let downloaded = try StreamingClient.download(port: daemon.port, path: "/agents/echo/download?mb=1024")
        let downSeconds = Clock.now() - start
        let upStart = Clock.now()
        let uploaded = try StreamingClient.upload(port: daemon.port, path: "/agents/echo/upload", bytes: 1 << 30)
        let upSeconds = Clock.now() - upStart
        usleep(50_000)
        peak.stop()
        guard downloaded == 1 << 30, uploaded == 1 << 30 else { throw BenchError.failed("streamed \(downloaded) down and \(uploaded) up") }
        let growth = max(0, peak.peakMiB - before)
        report.add("P2", "daemon RSS growth while 1 GiB streams down then up", agents: 1, value: growth, unit: "MiB", bar: 64)
        report.add("P2", "download through the proxy", agents: 1, value: 1024 / downSeconds, unit: "MiB/s", bar: nil)
        report.add("P2", "upload through the proxy", agents: 1, value: 1024 / upSeconds, unit: "MiB/s", bar: nil)
    }

    /// H1: `/supervisor/health` latency with `agents` agents (answered from cached probes).
    func fleetHealthLatency(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: agents + 10)
        defer { daemon.stop() }
        let package = try daemon.install(Self.sleeper())
        let client = daemon.client()
        try Self.spawnFleet(client, package: package, count: agents)
        let latencies = try Self.latencies(client, path: "/supervisor/health", count: w5Requests)
        report.add("H1", "/supervisor/health latency p50", agents: agents, value: percentile(latencies, 50), unit: "ms", bar: nil)
        report.add("H1", "/supervisor/health latency p99", agents: agents, value: percentile(latencies, 99), unit: "ms", bar: 5)
    }

    /// Seconds to spawn `agents` agents until all run, with or without cgroup limits.
    func timeSpawns(limits: [String: Any]) throws -> Double {
        let daemon = try DaemonHarness(agentPorts: agents + 10)
        defer { daemon.stop() }
        let package = try daemon.install(Self.sleeper())
        let client = daemon.client()
        let start = Clock.now()
        try Self.spawnFleet(client, package: package, count: agents, fields: limits)
        try Self.waitUntilRunning(client, count: agents)
        return Clock.now() - start
    }

    /// L1: what a cgroup with memory, CPU and pids limits adds to each spawn.
    func spawnWithLimits(_ report: inout Report) throws {
        let plain = try timeSpawns(limits: [:])
        let limited = try timeSpawns(limits: ["memory_limit_mb": 64, "cpu_limit": 0.25, "pids_limit": 64])
        report.add("L1", "spawn \(agents) agents with cgroup limits until all running", agents: agents, value: limited, unit: "s", bar: nil)
        report.add("L1", "added per agent by limits (vs \(String(format: "%.3f", plain)) s without)", agents: agents, value: (limited - plain) / Double(agents) * 1000, unit: "ms", bar: 5)
    }

    /// L2: cores used by four busy processes under cpu_limit 0.5, from the cgroup's own counter over 3 s.
    func cpuLimitAccuracy(_ report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: 10, extraArguments: ["--sample-interval", "0.1"])
        defer { daemon.stop() }
        let package = try daemon.install(.commandPackage(name: "burner", script: "for i in 1 2 3 4; do (while :; do :; done) & done\nwait"))
        let client = daemon.client()
        let answer = try client.post("/supervisor/spawn", json: ["agent_id": "burner", "package_path": package, "cpu_limit": 0.5])
        guard answer.status == 200 else { throw BenchError.failed("spawn burner: \(answer.text)") }
        func reading() throws -> (Double, Date)? {
            guard let resources = try client.get("/supervisor/processes/par-burner").json["resources"] as? [String: Any],
                  let cpu = (resources["cgroup"] as? [String: Any])?["cpu_usage_seconds"] as? Double,
                  let at = (resources["sampled_at"] as? String).flatMap(parseDate) else { return nil }
            return (cpu, at)
        }
        Thread.sleep(forTimeInterval: 1)
        guard let first = try reading() else { throw BenchError.failed("no cgroup figures (is a cgroup backend available?)") }
        Thread.sleep(forTimeInterval: 3)
        guard let second = try reading() else { throw BenchError.failed("no cgroup figures") }
        let cores = (second.0 - first.0) / second.1.timeIntervalSince(first.1)
        report.add("L2", "cores used by a 4-process burner, cpu_limit 0.5, over 3 s", agents: 1, value: cores, unit: "cores", bar: 0.55)
    }

    /// Spawns `bench-0` ... `bench-<count-1>` one request after another.
    static func spawnFleet(_ client: PARAPIClient, package: String, count: Int, fields: [String: Any] = [:]) throws {
        for index in 0..<count {
            var body: [String: Any] = ["agent_id": "bench-\(index)", "package_path": package]
            body.merge(fields) { _, new in new }
            let answer = try client.post("/supervisor/spawn", json: body)
            guard answer.status == 200 else { throw BenchError.failed("spawn \(index): \(answer.text)") }
        }
    }

    /// Polls status until `count` processes are running (each poll is one request).
    static func waitUntilRunning(_ client: PARAPIClient, count: Int) throws {
        let deadline = Clock.now() + 120
        while Clock.now() < deadline {
            let processes = try client.get("/supervisor/status").json["processes"] as? [String: [String: Any]] ?? [:]
            if processes.values.filter({ $0["state"] as? String == "running" }).count >= count { return }
        }
        throw BenchError.failed("fewer than \(count) agents running after 120 s")
    }

    /// Milliseconds per GET on one keep-alive connection.
    static func latencies(_ client: PARAPIClient, path: String, count: Int) throws -> [Double] {
        try latencies(client, paths: Array(repeating: path, count: count))
    }

    /// A tiny agent: a shell script that execs sleep, so the agent's pid is the one to kill.
    static func sleeper() -> APKGBuilder {
        .commandPackage(name: "bench-sleeper", script: "exec sleep 100000")
    }

    /// W1, W4, W5 on one daemon with `size` agents.
    func fleet(size: Int, selected: Set<String>, report: inout Report) throws {
        let daemon = try DaemonHarness(agentPorts: size + 10)
        defer { daemon.stop() }
        let package = try daemon.install(Self.sleeper())
        let client = daemon.client()

        // W1: spawn `size` agents one request after another until all are running.
        let start = Clock.now()
        try Self.spawnFleet(client, package: package, count: size, fields: ["restart_policy": "always"])
        try Self.waitUntilRunning(client, count: size)
        let spawnSeconds = Clock.now() - start
        if selected.contains("W1") {
            report.add("W1", "spawn \(size) agents until all running", agents: size, value: spawnSeconds, unit: "s", bar: size <= 100 ? 1.0 : nil)
        }

        // W5: status latency with `size` agents, on one keep-alive connection.
        if selected.contains("W5") {
            let latencies = try Self.latencies(client, path: "/supervisor/status", count: w5Requests)
            report.add("W5", "status latency p50", agents: size, value: percentile(latencies, 50), unit: "ms", bar: nil)
            report.add("W5", "status latency p99", agents: size, value: percentile(latencies, 99), unit: "ms", bar: size <= 100 ? 2.0 : nil)
        }

        // C1: `par ps` end to end (process start to exit), as a user runs it, against the
        // cost of starting any program here (`/bin/true`) in the same run.
        if selected.contains("C1") {
            let par = try DaemonHarness.locateBinary()
            var environment = ProcessInfo.processInfo.environment
            environment["PAR_URL"] = "http://127.0.0.1:\(daemon.port)"
            environment["PAR_TOKEN"] = daemon.token
            // posix_spawn and waitpid: Foundation's waitUntilExit polls in 50 ms steps here.
            let environmentLines = environment.map { "\($0.key)=\($0.value)" }
            func timed(_ executable: URL, _ arguments: [String]) throws -> [Double] {
                try (0..<21).map { _ in
                    let argv = ([executable.path] + arguments).map { strdup($0) } + [nil]
                    let envp = environmentLines.map { strdup($0) } + [nil]
                    defer { (argv + envp).forEach { free($0) } }
                    var actions = posix_spawn_file_actions_t()
                    posix_spawn_file_actions_init(&actions)
                    defer { posix_spawn_file_actions_destroy(&actions) }
                    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
                    var pid: pid_t = 0
                    let t0 = Clock.now()
                    guard posix_spawn(&pid, executable.path, &actions, nil, argv, envp) == 0 else { throw BenchError.failed("cannot start \(executable.path)") }
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                    let elapsed = (Clock.now() - t0) * 1000
                    guard status == 0 else { throw BenchError.failed("\(executable.lastPathComponent) \(arguments) exited with status \(status)") }
                    return elapsed
                }
            }
            let floor = try timed(URL(fileURLWithPath: "/bin/true"), [])
            let json = try timed(par, ["ps", "-o", "json"])
            let table = try timed(par, ["ps", "-o", "table"])
            report.add("C1", "par ps -o json, end to end, median (p90 \(String(format: "%.1f", percentile(json, 90))))", agents: size, value: percentile(json, 50), unit: "ms", bar: size <= 100 ? 50 : nil)
            report.add("C1", "par ps (table), end to end, median (p90 \(String(format: "%.1f", percentile(table, 90))))", agents: size, value: percentile(table, 50), unit: "ms", bar: size <= 100 ? 50 : nil)
            report.add("C1", "reference: /bin/true started and reaped, median", agents: size, value: percentile(floor, 50), unit: "ms", bar: nil)
        }

        // W4: the daemon's own cost with `size` idle agents.
        if selected.contains("W4") {
            let pid = daemon.process.processIdentifier
            let before = try ProcStat.cpuSeconds(pid)
            let t0 = Clock.now()
            Thread.sleep(forTimeInterval: w4Seconds)
            let cpu = (try ProcStat.cpuSeconds(pid) - before) / (Clock.now() - t0) * 100
            let rssMiB = Double(try ProcStat.rssKiB(pid)) / 1024
            report.add("W4", "daemon RSS, \(size) idle agents", agents: size, value: rssMiB, unit: "MiB", bar: 30)
            report.add("W4", "daemon CPU over \(Int(w4Seconds)) s, \(size) idle agents", agents: size, value: cpu, unit: "% of a core", bar: 0.2)
        }
    }

    /// W2: kill -9 an agent, time until its replacement is running (seen through the API).
    func crashToRestart(_ report: inout Report, daemonArguments: [String], label: String) throws {
        let daemon = try DaemonHarness(agentPorts: 10, extraArguments: daemonArguments)
        defer { daemon.stop() }
        let package = try daemon.install(Self.sleeper())
        let client = daemon.client()
        let answer = try client.post("/supervisor/spawn", json: [
            "agent_id": "victim", "package_path": package, "restart_policy": "always",
            "restart_delay_seconds": 0, "max_restarts": 1_000_000, "stable_seconds": 0,
        ])
        guard answer.status == 200, var pid = (answer.json["pid"] as? NSNumber)?.int32Value else {
            throw BenchError.failed("spawn: \(answer.text)")
        }
        var observed: [Double] = []
        var daemonSide: [Double] = []
        for _ in 0..<w2Samples {
            Thread.sleep(forTimeInterval: 0.05)
            let t0 = Clock.now()
            kill(pid, SIGKILL)
            var status: [String: Any] = [:]
            while true {
                status = try client.get("/supervisor/processes/par-victim").json
                if let next = (status["pid"] as? NSNumber)?.int32Value, next != pid, status["state"] as? String == "running" {
                    pid = next
                    break
                }
                if Clock.now() - t0 > 10 { throw BenchError.failed("no restart within 10 s: \(status)") }
            }
            observed.append((Clock.now() - t0) * 1000)
            // The daemon's own view: from reaping the old process to starting the new one.
            if let exitAt = ((status["last_exit"] as? [String: Any])?["at"] as? String).flatMap(parseDate),
               let startedAt = (status["started_at"] as? String).flatMap(parseDate) {
                daemonSide.append(startedAt.timeIntervalSince(exitAt) * 1000)
            }
        }
        report.add("W2", "kill -9 to replacement running, median\(label)", agents: 1, value: percentile(observed, 50), unit: "ms", bar: label.isEmpty ? 10 : nil)
        report.add("W2", "kill -9 to replacement running, p95\(label)", agents: 1, value: percentile(observed, 95), unit: "ms", bar: nil)
        if !daemonSide.isEmpty {
            report.add("W2", "reaped to respawned in the daemon, median\(label)", agents: 1, value: percentile(daemonSide, 50), unit: "ms", bar: nil)
        }
    }
}

enum BenchError: Error, CustomStringConvertible {
    case failed(String)
    var description: String {
        switch self { case .failed(let what): "benchmark failed: \(what)" }
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[min(sorted.count - 1, max(0, rank))]
}

func parseDate(_ text: String) -> Date? {
    try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
}

enum Clock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

enum ProcStat {
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = text.lastIndex(of: ")") else { throw BenchError.failed("cannot read /proc/\(pid)/stat") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (Double(fields[11]) ?? 0) / ticks + (Double(fields[12]) ?? 0) / ticks
    }

    static func rssKiB(_ pid: Int32) throws -> Int {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = text.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return line.split(separator: " ").compactMap { Int($0) }.first ?? 0
    }
}

/// Collects figures; prints them as a table and as JSON lines.
struct Report {
    struct Row {
        var workload: String
        var metric: String
        var agents: Int
        var value: Double
        var unit: String
        var bar: Double?
        /// A bar the value must reach (higher is better), instead of stay under.
        var floor: Double?

        var meetsBar: Bool? {
            if let bar { return value <= bar }
            if let floor { return value >= floor }
            return nil
        }
    }

    private(set) var rows: [Row] = []

    mutating func add(_ workload: String, _ metric: String, agents: Int, value: Double, unit: String, bar: Double?, floor: Double? = nil) {
        let row = Row(workload: workload, metric: metric, agents: agents, value: value, unit: unit, bar: bar, floor: floor)
        rows.append(row)
        var object: [String: Any] = ["workload": workload, "metric": metric, "agents": agents, "value": (value * 1000).rounded() / 1000, "unit": unit]
        if let bar { object["bar"] = bar }
        if let floor { object["floor"] = floor }
        if let meets = row.meetsBar { object["meets_bar"] = meets }
        if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
            print(String(decoding: data, as: UTF8.self))
            fflush(nil)
        }
    }

    func printTable() {
        print("")
        print(pad("workload", 9) + pad("metric", 58) + pad("value", 14) + "bar")
        for row in rows {
            let value = String(format: "%.3f %@", row.value, row.unit)
            let verdict = row.meetsBar.map { $0 ? "ok" : "MISSED" } ?? ""
            let bar = row.bar.map { String(format: "<= %g %@ %@", $0, row.unit, verdict) }
                ?? row.floor.map { String(format: ">= %g %@ %@", $0, row.unit, verdict) } ?? "-"
            print(pad(row.workload, 9) + pad(row.metric, 58) + pad(value, 14 + max(0, row.unit.count - 2)) + bar)
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }
}
