import PARCore
import Testing

@Suite("ResourceUsage.cpuPercent")
struct ResourceUsageTests {
    @Test func halfASecondOfCPUInOneSecondIsFiftyPercent() {
        #expect(ResourceUsage.cpuPercent(previousSeconds: 1, currentSeconds: 1.5, elapsedSeconds: 1) == 50)
    }

    @Test func moreThanOneCoreGoesAboveOneHundredPercent() {
        #expect(ResourceUsage.cpuPercent(previousSeconds: 0, currentSeconds: 3, elapsedSeconds: 1.5) == 200)
    }

    @Test func isRoundedToOneDecimal() {
        #expect(ResourceUsage.cpuPercent(previousSeconds: 0, currentSeconds: 1, elapsedSeconds: 3) == 33.3)
    }

    @Test(arguments: [0.0, -1.0])
    func isZeroWhenNoTimeElapsed(elapsed: Double) {
        #expect(ResourceUsage.cpuPercent(previousSeconds: 0, currentSeconds: 1, elapsedSeconds: elapsed) == 0)
    }

    @Test func isZeroWhenTheCounterWentBackwards() {
        // e.g. a process of the tree ended between samples
        #expect(ResourceUsage.cpuPercent(previousSeconds: 5, currentSeconds: 4, elapsedSeconds: 1) == 0)
    }
}
