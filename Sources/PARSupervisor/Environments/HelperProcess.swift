import Foundation
import PARCore
import PARProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Short-lived programs the supervisor runs for itself (an interpreter asked its version,
/// `python -m venv`, `pip install`), through the same spawner and reactor as agents: real
/// pipes, exits the moment they happen, nothing polled. Their pids are known here so the
/// orphan reaper leaves them to the reactor, and shutdown kills whatever still runs. Each
/// has a pid file beside the agents' (`_helper-<pid>.pid`, a name no agent can have), so
/// an install running when the daemon is killed with -9 is killed by the next daemon.
final class HelperProcesses: Sendable {
    private let reactor: ProcessReactor
    private let pidDirectory: URL
    private let running = Mutex<Set<Int32>>([])
    /// Installs weigh what agents weigh against the daemon (`SupervisorConfig.agentGroupNice`).
    private let groupNice: Int32

    init(reactor: ProcessReactor, pidDirectory: URL, groupNice: Int32 = 0) {
        self.reactor = reactor
        self.pidDirectory = pidDirectory
        self.groupNice = groupNice
    }

    /// Pids the orphan reaper must not touch.
    var pids: Set<Int32> { running.withLock { $0 } }

    struct Outcome: Sendable {
        var termination: Termination
        var timedOut: Bool
        /// The last lines printed (stdout and stderr together), oldest first.
        var lastLines: [String]
    }

    /// Runs `argv` to its end, or kills its whole session when `deadline` passes; as
    /// `identity` when given (an install runs package code, which must not run as root).
    /// `onLines` sees every line as it is printed.
    func run(
        _ argv: [String], environment: [String: String], workingDirectory: String, deadline: ContinuousClock.Instant,
        identity: AgentIdentity? = nil, keepLines: Int = 40, onLines: @escaping @Sendable ([String]) -> Void = { _ in }
    ) async throws(SpawnError) -> Outcome {
        let spawned = try Spawner.spawn(
            executable: argv[0], argv: argv, environment: environment, workingDirectory: workingDirectory,
            confinement: SpawnConfinement(groupNice: groupNice, identity: identity)
        )
        running.withLock { _ = $0.insert(spawned.pid) }
        let pidFile = pidDirectory.appendingPathComponent("_helper-\(spawned.pid).pid")
        try? "\(spawned.pid) \(ProcTable.stat(of: spawned.pid)?.startTicks ?? 0)\n".write(to: pidFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: pidFile) }
        let observed = Observed(keep: keepLines)
        let termination: Termination = await withTaskGroup(of: Termination?.self) { group in
            group.addTask { [reactor] in
                await withCheckedContinuation { continuation in
                    reactor.watch(spawned, handlers: ChildHandlers(
                        onLines: { _, lines in
                            let texts = lines.map(\.text)
                            observed.keep(texts)
                            onLines(texts)
                            return true
                        },
                        onExit: { exit in continuation.resume(returning: exit.termination) }
                    ))
                }
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                guard !Task.isCancelled else { return nil }
                observed.timedOut.store(true, ordering: .relaxed)
                ProcessSignals.signalSession(spawned.pid, SIGKILL)
                return nil
            }
            var result: Termination = .signaled(signal: SIGKILL)
            for await value in group {
                if let value {
                    result = value
                    group.cancelAll()
                }
            }
            return result
        }
        // Whatever it left in its session goes with it.
        ProcessSignals.signalSession(spawned.pid, SIGKILL)
        running.withLock { _ = $0.remove(spawned.pid) }
        return Outcome(termination: termination, timedOut: observed.timedOut.load(ordering: .relaxed), lastLines: observed.lines)
    }

    /// What one run's handlers saw, shared between the reactor's thread and the waiter.
    private final class Observed: Sendable {
        let timedOut = Atomic<Bool>(false)
        private let tail = Mutex<[String]>([])
        private let limit: Int

        init(keep limit: Int) {
            self.limit = limit
        }

        func keep(_ lines: [String]) {
            tail.withLock { kept in
                kept.append(contentsOf: lines)
                if kept.count > limit { kept.removeFirst(kept.count - limit) }
            }
        }

        var lines: [String] { tail.withLock { $0 } }
    }

    /// Kills every helper still running (the daemon is stopping); their runs then end.
    func killAll() {
        for pid in pids { ProcessSignals.signalSession(pid, SIGKILL) }
    }
}
