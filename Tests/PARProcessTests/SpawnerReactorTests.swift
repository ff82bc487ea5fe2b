import Foundation
import PARCore
import PARProcess
import PARTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

func texts(_ lines: [LineSplitter.Line]) -> [String] { lines.map(\.text) }
func flags(_ lines: [LineSplitter.Line]) -> [Bool] { lines.map(\.truncated) }

/// Collects what the reactor reports for one child; waits with a condition variable.
final class ChildRecorder: @unchecked Sendable {
    private let condition = NSCondition()
    private var stdoutLines: [LineSplitter.Line] = []
    private var stderrLines: [LineSplitter.Line] = []
    private var exit: ChildExit?
    /// How many stdout lines had been delivered when onExit ran.
    private(set) var stdoutCountAtExit: Int?

    var handlers: ChildHandlers {
        ChildHandlers(
            onLines: { [self] stream, lines in
                condition.lock()
                if stream == .stdout { stdoutLines += lines } else { stderrLines += lines }
                condition.broadcast()
                condition.unlock()
                return true
            },
            onExit: { [self] exit in
                condition.lock()
                self.exit = exit
                stdoutCountAtExit = stdoutLines.count
                condition.broadcast()
                condition.unlock()
            }
        )
    }

    var stdout: [LineSplitter.Line] { condition.lock(); defer { condition.unlock() }; return stdoutLines }
    var stderr: [LineSplitter.Line] { condition.lock(); defer { condition.unlock() }; return stderrLines }
    var exited: ChildExit? { condition.lock(); defer { condition.unlock() }; return exit }

    /// Waits (generously) until the exit is reported.
    func waitForExit(timeout: TimeInterval = 30) -> ChildExit? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while exit == nil, condition.wait(until: deadline) {}
        return exit
    }
}

/// One reactor and the children started in a test; `finish()` kills what still runs and stops the reactor.
final class ReactorHarness {
    let reactor: ProcessReactor
    private var started: [(pid: Int32, recorder: ChildRecorder)] = []

    init(maxLineBytes: Int = 64 * 1024) throws {
        reactor = try ProcessReactor(maxLineBytes: maxLineBytes)
    }

    func start(_ executable: String, _ argv: [String], environment: [String: String] = ["PATH": "/usr/bin:/bin"], workingDirectory: String = "/") throws -> (pid: Int32, recorder: ChildRecorder) {
        let process = try Spawner.spawn(executable: executable, argv: argv, environment: environment, workingDirectory: workingDirectory)
        let recorder = ChildRecorder()
        reactor.watch(process, handlers: recorder.handlers)
        started.append((process.pid, recorder))
        return (process.pid, recorder)
    }

    func shell(_ script: String, environment: [String: String] = ["PATH": "/usr/bin:/bin"], workingDirectory: String = "/") throws -> (pid: Int32, recorder: ChildRecorder) {
        try start("/bin/sh", ["sh", "-c", script], environment: environment, workingDirectory: workingDirectory)
    }

    func finish() {
        for child in started where child.recorder.exited == nil {
            kill(-child.pid, SIGKILL) // the child leads its own group
            kill(child.pid, SIGKILL)
            _ = child.recorder.waitForExit()
        }
        reactor.shutdown()
    }
}

let outErrTailScript = "echo out; echo err >&2; printf tail; exit 3"

@Suite("Spawner and ProcessReactor")
struct SpawnerReactorTests {
    @Test func stdoutLinesAreDeliveredIncludingAFinalLineWithoutNewline() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell(outErrTailScript)
        try #require(child.recorder.waitForExit() != nil)
        // A final line without a newline is complete only at EOF, which a child spawned
        // by a parallel test may delay by holding a copy of the pipe until its own exec.
        let deadline = Date().addingTimeInterval(10)
        while texts(child.recorder.stdout).count < 2 && Date() < deadline { usleep(1_000) }
        #expect(texts(child.recorder.stdout) == ["out", "tail"])
    }

    @Test func stderrLinesAreDeliveredSeparately() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell(outErrTailScript)
        try #require(child.recorder.waitForExit() != nil)
        #expect(texts(child.recorder.stderr) == ["err"])
    }

    @Test func theExitCodeIsReported() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell(outErrTailScript)
        let exit = try #require(child.recorder.waitForExit())
        #expect(exit.termination == .exited(code: 3))
        #expect(exit.pid == child.pid)
    }

    @Test func aCleanExitIsCodeZero() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("/bin/true", ["true"])
        #expect(child.recorder.waitForExit()?.termination == .exited(code: 0))
    }

    @Test func aChildKilledWithSIGKILLReportsTheSignal() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell("exec sleep 300")
        kill(child.pid, SIGKILL)
        #expect(child.recorder.waitForExit()?.termination == .signaled(signal: 9))
    }

    @Test func aChildThatKillsItselfWithSIGTERMReportsTheSignal() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell("kill -TERM $$; sleep 300")
        #expect(child.recorder.waitForExit()?.termination == .signaled(signal: 15))
    }

    @Test func linesPrintedRightBeforeExitAreDeliveredBeforeTheExit() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        // ~110 KB: more than a pipe holds, written just before exiting.
        let child = try harness.shell("seq 1 20000; exit 0")
        try #require(child.recorder.waitForExit() != nil)
        #expect(child.recorder.stdoutCountAtExit == 20000)
        #expect(texts(child.recorder.stdout) == (1...20000).map(String.init))
    }

    @Test func aFinalLineWithoutNewlineIsDeliveredBeforeTheExit() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell("printf 'last words'; exit 1")
        try #require(child.recorder.waitForExit() != nil)
        #expect(child.recorder.stdoutCountAtExit == 1)
        #expect(texts(child.recorder.stdout) == ["last words"])
    }

    @Test func theReactorCutsLinesLongerThanItsMaximum() throws {
        let harness = try ReactorHarness(maxLineBytes: 8)
        defer { harness.finish() }
        let child = try harness.shell("echo 0123456789abcdef; echo short")
        try #require(child.recorder.waitForExit() != nil)
        #expect(texts(child.recorder.stdout) == ["01234567", "89abcdef", "short"])
        #expect(flags(child.recorder.stdout) == [true, true, false])
    }

    @Test func eachChildOfOneReactorGetsItsOwnOutputAndExit() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let children = try (0..<5).map { index in try harness.shell("echo child-\(index); exit \(10 + index)") }
        for (index, child) in children.enumerated() {
            let exit = try #require(child.recorder.waitForExit())
            #expect(exit.pid == child.pid)
            #expect(exit.termination == .exited(code: Int32(10 + index)))
            #expect(texts(child.recorder.stdout) == ["child-\(index)"])
        }
    }

    @Test func theChildGetsExactlyTheGivenEnvironment() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("/usr/bin/env", ["env"], environment: ["GREETING": "hello world", "EMPTY": ""])
        try #require(child.recorder.waitForExit() != nil)
        #expect(texts(child.recorder.stdout).sorted() == ["EMPTY=", "GREETING=hello world"])
    }

    @Test func theChildRunsInTheGivenWorkingDirectory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("par-cwd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("/bin/pwd", ["pwd", "-P"], workingDirectory: directory.path)
        try #require(child.recorder.waitForExit() != nil)
        #expect(texts(child.recorder.stdout) == [directory.resolvingSymlinksInPath().path])
    }

    @Test func theChildLeadsItsOwnSessionAndGroup() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.shell("exec sleep 300")
        #expect(getsid(child.pid) == child.pid)
        #expect(getpgid(child.pid) == child.pid)
        kill(child.pid, SIGKILL)
        _ = child.recorder.waitForExit()
    }

    @Test func theChildInheritsNoDescriptorBeyondTheStandardThree() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("/bin/sleep", ["sleep", "300"])
        // Right after exec the dynamic loader briefly holds the libraries it maps open; a
        // leaked descriptor would stay, so wait for the set to settle.
        var descriptors: [String] = []
        let deadline = Date().addingTimeInterval(5)
        repeat {
            descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/fd").sorted()) ?? []
            if descriptors == ["0", "1", "2"] { break }
            usleep(10_000)
        } while Date() < deadline
        kill(child.pid, SIGKILL)
        _ = child.recorder.waitForExit()
        #expect(descriptors == ["0", "1", "2"])
    }

    @Test func theChildsStdinIsDevNull() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("/bin/sleep", ["sleep", "300"])
        let stdin = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/fd/0")
        kill(child.pid, SIGKILL)
        _ = child.recorder.waitForExit()
        #expect(stdin == "/dev/null")
    }

    @Test func aProgramWithoutSlashIsSearchedInPATH() throws {
        let harness = try ReactorHarness()
        defer { harness.finish() }
        let child = try harness.start("echo", ["echo", "found"])
        try #require(child.recorder.waitForExit() != nil)
        #expect(texts(child.recorder.stdout) == ["found"])
    }

    @Test(arguments: ["/nonexistent/definitely-missing-program", "definitely-missing-program-\(UUID().uuidString)"])
    func spawningAMissingExecutableThrowsAnExecError(program: String) throws {
        let error = try #require(throws: SpawnError.self) {
            try Spawner.spawn(executable: program, argv: [program], environment: [:], workingDirectory: "/")
        }
        guard case .exec(let named, let code) = error else {
            Issue.record("expected .exec, got \(error)")
            return
        }
        #expect(named == program)
        #expect(code == ENOENT)
    }

    @Test func spawningInAMissingWorkingDirectoryThrows() {
        #expect(throws: SpawnError.self) {
            try Spawner.spawn(executable: "/bin/true", argv: ["true"], environment: [:], workingDirectory: "/nonexistent/\(UUID().uuidString)")
        }
    }
}

@Suite("ProcessReactor at shutdown")
struct ReactorShutdownTests {
    /// Pauses at the first batch (as a full log store does) and counts what arrives.
    final class PausingReceiver: @unchecked Sendable {
        private let lock = NSLock()
        private var lines = 0
        private var paused = false
        var count: Int { lock.lock(); defer { lock.unlock() }; return lines }

        func handlers(onExit: @escaping @Sendable () -> Void) -> ChildHandlers {
            ChildHandlers(
                onLines: { [self] _, batch in
                    lock.lock(); defer { lock.unlock() }
                    lines += batch.count
                    if paused { return true }
                    paused = true
                    return false
                },
                onExit: { _ in onExit() }
            )
        }
    }

    @Test func outputLeftInAPausedPipeIsReadBeforeTheReactorStops() async throws {
        let reactor = try ProcessReactor()
        defer { reactor.shutdown() }
        let receiver = PausingReceiver()
        let exited = DispatchSemaphore(value: 0)
        let id = reactor.reserveWatchID()
        // One line (which pauses the pipe), then, once told, 2999 more that fit in the pipe:
        // the child exits while its pipe is paused and holds its last lines.
        let go = FileManager.default.temporaryDirectory.appendingPathComponent("go-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: go) }
        let script = "echo first; while [ ! -e \(go) ]; do sleep 0.01; done; i=1; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done"
        let process = try Spawner.spawn(executable: "/bin/sh", argv: ["sh", "-c", script], environment: ["PATH": "/usr/bin:/bin"], workingDirectory: "/")
        reactor.watch(process, id: id, handlers: receiver.handlers { exited.signal() })
        #expect(try ProcessInspection.eventually { receiver.count == 1 })
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        #expect(exited.wait(timeout: .now() + 30) == .success)
        #expect(receiver.count == 1, "paused: nothing after the first line was read")
        #expect(reactor.openPipes > 0)

        await reactor.waitForOutputToEnd(timeout: .milliseconds(300))
        #expect(reactor.openPipes > 0, "a paused pipe is not read by waiting alone")

        reactor.resume(id)
        await reactor.waitForOutputToEnd(timeout: .seconds(10))
        #expect(reactor.openPipes == 0)
        #expect(receiver.count == 3000, "every line, once the receiver had room")
    }
}

