import PARCore
import Testing

@Suite("Termination")
struct TerminationTests {
    @Test func exitCodeZeroIsNotAFailure() {
        #expect(!Termination.exited(code: 0).isFailure)
    }

    @Test(arguments: [Int32(1), 2, 127, 255, -1])
    func aNonZeroExitCodeIsAFailure(code: Int32) {
        #expect(Termination.exited(code: code).isFailure)
    }

    @Test(arguments: [Int32(1), 2, 9, 15])
    func deathByAnySignalIsAFailure(signal: Int32) {
        #expect(Termination.signaled(signal: signal).isFailure)
    }

    @Test func descriptionNamesTheExitCode() {
        #expect(Termination.exited(code: 3).description == "exited with code 3")
    }

    @Test func descriptionNamesAKnownSignal() {
        #expect(Termination.signaled(signal: 9).description == "was killed by signal 9 (SIGKILL)")
    }

    @Test func descriptionOfAnUnknownSignalGivesOnlyItsNumber() {
        #expect(Termination.signaled(signal: 64).description == "was killed by signal 64")
    }
}
