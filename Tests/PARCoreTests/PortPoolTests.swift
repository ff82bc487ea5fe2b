import PARCore
import Testing

@Suite("PortPool")
struct PortPoolTests {
    let everythingFree: (Int) -> Bool = { _ in true }

    @Test func allocatesFromTheLowEndUpward() {
        var pool = PortPool(range: 8000...8004)
        let ports = (0..<3).map { _ in pool.allocate(isFreeOnMachine: everythingFree) }
        #expect(ports == [8000, 8001, 8002])
    }

    @Test func aReleasedPortIsHandedOutAgainOnlyAfterTheOthers() {
        var pool = PortPool(range: 8000...8002)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == 8000)
        pool.release(8000)
        let next = (0..<3).map { _ in pool.allocate(isFreeOnMachine: everythingFree) }
        #expect(next == [8001, 8002, 8000])
    }

    @Test func allocationWrapsAroundTheEndOfTheRange() {
        var pool = PortPool(range: 8000...8002)
        _ = (0..<3).map { _ in pool.allocate(isFreeOnMachine: everythingFree) }
        pool.release(8001)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == 8001)
    }

    @Test func skipsPortsTakenOnTheMachine() {
        var pool = PortPool(range: 8000...8004)
        let port = pool.allocate { $0 != 8000 && $0 != 8001 }
        #expect(port == 8002)
    }

    @Test func aPortSkippedAsTakenIsNotMarkedInUse() {
        var pool = PortPool(range: 8000...8004)
        _ = pool.allocate { $0 != 8000 }
        #expect(pool.inUse == [8001])
        #expect(pool.available == 4)
    }

    @Test func returnsNilWhenEveryPortIsHandedOut() {
        var pool = PortPool(range: 8000...8001)
        _ = pool.allocate(isFreeOnMachine: everythingFree)
        _ = pool.allocate(isFreeOnMachine: everythingFree)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == nil)
        #expect(pool.available == 0)
    }

    @Test func returnsNilWhenNoPortIsFreeOnTheMachine() {
        var pool = PortPool(range: 8000...8009)
        #expect(pool.allocate { _ in false } == nil)
        #expect(pool.inUse.isEmpty)
    }

    @Test func releaseMakesAPortAvailableAgain() {
        var pool = PortPool(range: 8000...8000)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == 8000)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == nil)
        pool.release(8000)
        #expect(pool.available == 1)
        #expect(pool.allocate(isFreeOnMachine: everythingFree) == 8000)
    }

    @Test func neverHandsOutTheSamePortTwiceWhileInUse() {
        var pool = PortPool(range: 9000...9049)
        var seen: Set<Int> = []
        while let port = pool.allocate(isFreeOnMachine: everythingFree) {
            #expect(seen.insert(port).inserted, "port \(port) handed out twice")
        }
        #expect(seen == Set(9000...9049))
    }

    // MARK: parseRange

    @Test func parseRangeReadsLowDashHigh() throws {
        #expect(try PortPool.parseRange("8001-8100") == 8001...8100)
    }

    @Test func parseRangeAcceptsASinglePortRange() throws {
        #expect(try PortPool.parseRange("8080-8080") == 8080...8080)
    }

    @Test(arguments: ["", "8001", "8100-8001", "0-100", "1-65536", "a-b", "8001-", "-8001", "-5-10", "8001-8100-8200", " 8001-8100", "8001..8100"])
    func parseRangeRefusesMalformedText(text: String) {
        #expect(throws: ValidationError.self) { try PortPool.parseRange(text) }
    }

    @Test func parseRangeErrorNamesThePortRangeField() throws {
        let error = try #require(throws: ValidationError.self) { try PortPool.parseRange("9-1") }
        #expect(error.field == "port_range")
    }
}

@Suite("Port pool: a restored agent gets its old port back")
struct PortPoolPreferenceTests {
    @Test func preferredPortIsTakenWhenFree() {
        var pool = PortPool(range: 8001...8003)
        #expect(pool.allocate(preferring: 8003, isFreeOnMachine: { _ in true }) == 8003)
        #expect(pool.allocate(preferring: 8003, isFreeOnMachine: { _ in true }) == 8001, "handed out already: the next free one")
        #expect(pool.allocate(preferring: 9000, isFreeOnMachine: { _ in true }) == 8002, "outside the range: ignored")
        pool.release(8002)
        #expect(pool.allocate(preferring: 8002, isFreeOnMachine: { $0 != 8002 }) == nil, "taken on the machine and nothing else free")
    }

    @Test func reservedPortsAreSkippedUntilReleased() {
        var pool = PortPool(range: 8001...8003)
        let first = pool.reserve(8001)
        let again = pool.reserve(8001)
        let outside = pool.reserve(9000)
        #expect(first)
        #expect(!again, "once")
        #expect(!outside, "outside the range")
        #expect(pool.allocate(isFreeOnMachine: { _ in true }) == 8002)
        pool.release(8001)
        #expect(pool.allocate(preferring: 8001, isFreeOnMachine: { _ in true }) == 8001)
    }
}
