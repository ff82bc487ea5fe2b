import PARCore
import Testing

@Suite("Exit planning: state, reason and restart after a process ends")
struct ExitPlannerTests {
    typealias Facts = ExitPlanner.Facts

    static let always = RestartConfig(policy: .always, maxRestarts: 3, delaySeconds: 1, backoffMultiplier: 2, maxDelaySeconds: 10, stableSeconds: 60)
    static let onFailure = RestartConfig(policy: .onFailure, maxRestarts: 3, delaySeconds: 1, backoffMultiplier: 2, maxDelaySeconds: 10, stableSeconds: 60)
    static let never = RestartConfig(policy: .never)

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var facts: Facts
        var state: ProcessState
        var reason: ExitReason
        var delay: Double?
        var consecutive: Int?
        var gaveUp = false
        var hasError: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "stop requested wins over everything", facts: Facts(termination: .signaled(signal: 15), stopRequested: true, oomKilled: true, restart: always), state: .stopped, reason: .stopped, hasError: false),
        Case(name: "clean exit, always: restarting, not crashed", facts: Facts(termination: .exited(code: 0), restart: always), state: .restarting, reason: .exited, delay: 1, consecutive: 1, hasError: false),
        Case(name: "clean exit, on-failure: stays stopped", facts: Facts(termination: .exited(code: 0), restart: onFailure), state: .stopped, reason: .exited, hasError: false),
        Case(name: "crash, on-failure: crashed and restarting", facts: Facts(termination: .exited(code: 3), restart: onFailure), state: .crashed, reason: .exited, delay: 1, consecutive: 1, hasError: false),
        Case(name: "signal, never: crashed for good", facts: Facts(termination: .signaled(signal: 11), restart: never), state: .crashed, reason: .signaled, hasError: true),
        Case(name: "backoff doubles", facts: Facts(termination: .exited(code: 1), restart: onFailure, consecutiveRestarts: 2), state: .crashed, reason: .exited, delay: 4, consecutive: 3, hasError: false),
        Case(name: "budget spent: failed", facts: Facts(termination: .exited(code: 1), restart: onFailure, consecutiveRestarts: 3), state: .failed, reason: .exited, gaveUp: true, hasError: true),
        Case(name: "a stable run resets the budget", facts: Facts(termination: .exited(code: 1), restart: onFailure, consecutiveRestarts: 3, runSeconds: 61), state: .crashed, reason: .exited, delay: 1, consecutive: 1, hasError: false),
        Case(name: "OOM kill is the reason", facts: Facts(termination: .signaled(signal: 9), oomKilled: true, restart: onFailure), state: .crashed, reason: .oomKilled, delay: 1, consecutive: 1, hasError: false),
        Case(name: "OOM kill under never says so", facts: Facts(termination: .signaled(signal: 9), oomKilled: true, restart: never), state: .crashed, reason: .oomKilled, hasError: true),
        Case(name: "start timeout is a failure", facts: Facts(termination: .signaled(signal: 9), healthKill: (.startTimeout, "no answer in 30 s"), restart: onFailure), state: .crashed, reason: .startTimeout, delay: 1, consecutive: 1, hasError: false),
        Case(name: "unhealthy, budget spent", facts: Facts(termination: .signaled(signal: 9), healthKill: (.unhealthy, "3 probes failed"), restart: always, consecutiveRestarts: 3), state: .failed, reason: .unhealthy, gaveUp: true, hasError: true),
        Case(name: "SIGTERM listed as success, on-failure: stopped without error", facts: Facts(termination: .signaled(signal: 15), restart: onFailure, exitRules: ExitStatusRules(success: [.signal(15)])), state: .stopped, reason: .signaled, hasError: false),
        Case(name: "an OOM kill is a failure even with SIGKILL listed as success", facts: Facts(termination: .signaled(signal: 9), oomKilled: true, restart: onFailure, exitRules: ExitStatusRules(success: [.signal(9)])), state: .crashed, reason: .oomKilled, delay: 1, consecutive: 1, hasError: false),
        Case(name: "a no-restart exit under always: crashed for good, saying why", facts: Facts(termination: .exited(code: 78), restart: always, exitRules: ExitStatusRules(noRestart: [.code(78)])), state: .crashed, reason: .exited, hasError: true),
        Case(name: "a no-restart exit that is also a success: stopped", facts: Facts(termination: .exited(code: 7), restart: always, exitRules: ExitStatusRules(success: [.code(7)], noRestart: [.code(7)])), state: .stopped, reason: .exited, hasError: false),
        Case(name: "the intensity limit spent: failed", facts: Facts(termination: .exited(code: 1), restart: RestartConfig(policy: .always, maxRestarts: 100, delaySeconds: 1, startLimitBurst: 2, startLimitIntervalSeconds: 10), restartHistory: [95, 99], now: 100), state: .failed, reason: .exited, gaveUp: true, hasError: true),
        Case(name: "jitter moves the delay", facts: Facts(termination: .exited(code: 1), restart: onFailure, jitterDraw: 1), state: .crashed, reason: .exited, delay: 1.1, consecutive: 1, hasError: false),
        Case(name: "a health kill that raced a clean exit still counts as a failure", facts: Facts(termination: .exited(code: 0), healthKill: (.unhealthy, "probe failed"), restart: onFailure), state: .crashed, reason: .unhealthy, delay: 1, consecutive: 1, hasError: false),
    ]

    @Test(arguments: cases)
    func plan(_ test: Case) {
        let outcome = ExitPlanner.plan(test.facts)
        #expect(outcome.state == test.state)
        #expect(outcome.reason == test.reason)
        #expect(outcome.restart?.delaySeconds == test.delay)
        #expect(outcome.restart?.consecutiveRestarts == test.consecutive)
        #expect(outcome.gaveUp == test.gaveUp)
        #expect((outcome.error != nil) == test.hasError)
    }

    @Test func errorsNameTheCause() {
        let oom = ExitPlanner.plan(Facts(termination: .signaled(signal: 9), oomKilled: true, restart: Self.never))
        #expect(oom.error?.hasPrefix("oom_killed; ") == true)
        let health = ExitPlanner.plan(Facts(termination: .signaled(signal: 9), healthKill: (.startTimeout, "no answer"), restart: Self.never))
        #expect(health.error?.hasPrefix("start_timeout: no answer; ") == true)
    }

    @Test func reasonsAreTheDocumentedStrings() {
        #expect(ExitReason.allCases.map(\.rawValue) == ["stopped", "exited", "signaled", "oom_killed", "start_timeout", "unhealthy", "dependencies"])
    }
}

@Suite("A spec written back as its spawn body")
struct AgentSpecDocumentTests {
    @Test func everyFieldRoundTrips() throws {
        var spec = AgentSpec(
            agentID: try AgentID(validating: "bot"), packageID: "bot@1", packagePath: "/srv/bot.apkg", env: ["A": "1", "B": "two"],
            restart: RestartConfig(policy: .always, maxRestarts: 9, delaySeconds: 0.5, backoffMultiplier: 3, maxDelaySeconds: 30, stableSeconds: 5),
            stopTimeoutSeconds: 2.5, limits: ResourceLimits(memoryMB: 256, memorySwapMB: 0, cpu: 0.5, pidsLimit: 64, nice: 5),
            enforceLimits: false, healthCheck: HealthCheckConfig(kind: .http(path: "/ready"), intervalSeconds: 3, timeoutSeconds: 1, failureThreshold: 2, startTimeoutSeconds: 9),
            logRetention: LogRetentionPolicy(maxEntries: 100, maxAgeSeconds: 60, maxBytes: 4096),
            successExitStatuses: [.code(3), .signal(15)], noRestartExitStatuses: [.code(78)]
        )
        spec.restart.jitterFraction = 0.25
        spec.restart.startLimitBurst = 4
        spec.restart.startLimitIntervalSeconds = 30
        #expect(try AgentSpec.fromDocument(spec.documentJSON()) == spec)
        spec.successExitStatuses = nil
        spec.noRestartExitStatuses = []
        #expect(try AgentSpec.fromDocument(spec.documentJSON()) == spec)
        spec.healthCheck = HealthCheckConfig(kind: .tcp)
        spec.logRetention = nil
        spec.packageID = nil
        spec.limits = ResourceLimits()
        #expect(try AgentSpec.fromDocument(spec.documentJSON()) == spec)
        spec.healthCheck = HealthCheckConfig(kind: .none)
        #expect(try AgentSpec.fromDocument(spec.documentJSON()) == spec)
    }

    @Test func defaultsOfTheDaemonDoNotLeakIntoAStoredSpec() throws {
        let spec = AgentSpec(agentID: try AgentID(validating: "bot"), packageID: nil, packagePath: "/srv/bot.apkg")
        var otherDefaults = AgentSpecDefaults()
        otherDefaults.restart.stableSeconds = 1
        otherDefaults.stopTimeoutSeconds = 99
        #expect(try AgentSpec.fromDocument(spec.documentJSON(), defaults: otherDefaults) == spec)
    }

    @Test func equalSpecsGiveEqualBytes() throws {
        let a = AgentSpec(agentID: try AgentID(validating: "bot"), packageID: nil, packagePath: "/p", env: ["Z": "1", "A": "2", "M": "3"])
        let b = AgentSpec(agentID: try AgentID(validating: "bot"), packageID: nil, packagePath: "/p", env: ["M": "3", "Z": "1", "A": "2"])
        #expect(a.documentJSON() == b.documentJSON())
    }
}

@Suite("Exit effects: what is carried out, in which order")
struct ExitEffectTests {
    typealias Facts = ExitPlanner.Facts

    func effects(_ facts: Facts, shuttingDown: Bool = false) -> [ExitEffect] {
        ExitPlanner.plan(facts).effects(oomKilled: facts.oomKilled, shuttingDown: shuttingDown)
    }

    @Test func aStopReleasesWritesAndAnnounces() {
        #expect(effects(Facts(termination: .signaled(signal: 15), stopRequested: true, restart: ExitPlannerTests.always))
            == [.releaseResources, .persist, .announceStopped])
    }

    @Test func aShutdownWritesNothing() {
        #expect(effects(Facts(termination: .signaled(signal: 15), stopRequested: true, restart: ExitPlannerTests.always), shuttingDown: true)
            == [.releaseResources, .announceStopped], "what is desired does not change when the daemon stops")
    }

    @Test func aRestartIsWrittenBeforeItIsScheduled() {
        #expect(effects(Facts(termination: .exited(code: 1), restart: ExitPlannerTests.onFailure, consecutiveRestarts: 1))
            == [.announceExit, .persist, .announceRestart(delaySeconds: 2, consecutiveRestarts: 2), .scheduleRestart(delaySeconds: 2)])
        var immediate = ExitPlannerTests.always
        immediate.delaySeconds = 0
        #expect(effects(Facts(termination: .exited(code: 0), restart: immediate)).last == .relaunchNow)
    }

    @Test func anOOMKillIsAnnouncedFirstAndAnEndKeepsNothing() {
        let ended = effects(Facts(termination: .signaled(signal: 9), oomKilled: true, restart: ExitPlannerTests.never))
        #expect(ended == [.announceOOMKill, .announceExit, .releaseResources, .persist])
    }

    @Test func givingUpIsAnnouncedAfterTheStateIsWritten() {
        let gaveUp = effects(Facts(termination: .exited(code: 1), restart: ExitPlannerTests.onFailure, consecutiveRestarts: 3))
        #expect(gaveUp.prefix(3) == [.announceExit, .releaseResources, .persist])
        guard case .announceGaveUp(let error)? = gaveUp.last else {
            Issue.record("no give-up announcement: \(gaveUp)")
            return
        }
        #expect(error.contains("max_restarts 3"))
    }
}
