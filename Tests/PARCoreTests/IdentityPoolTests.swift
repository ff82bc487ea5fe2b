import PARCore
import Testing

@Suite("Identity pool")
struct IdentityPoolTests {
    @Test func theLowestFreeUidIsHandedOutWithTheSameGid() {
        var pool = IdentityPool(range: 100...102)
        #expect(pool.allocate(preferring: nil) == AgentIdentity(uid: 100, gid: 100))
        #expect(pool.allocate(preferring: nil)?.uid == 101)
        #expect(pool.allocate(preferring: nil)?.uid == 102)
        #expect(pool.allocate(preferring: nil) == nil, "the range is used up")
        pool.release(AgentIdentity(uid: 101, gid: 101))
        #expect(pool.allocate(preferring: nil)?.uid == 101)
    }

    @Test func anAgentGetsBackTheUidItsFolderBelongsTo() {
        var pool = IdentityPool(range: 100...199)
        #expect(pool.allocate(preferring: 150)?.uid == 150)
        #expect(pool.allocate(preferring: 150)?.uid == 100, "taken: the lowest free instead")
        #expect(pool.allocate(preferring: 0)?.uid == 101, "outside the range: never root")
        #expect(pool.inUse == 3)
    }

    @Test func aRangeIsRead() throws {
        #expect(try IdentityPool.parseRange("61184-65519") == 61184...65519)
        #expect(try IdentityPool.parseRange("1000-1000") == 1000...1000)
    }

    @Test(arguments: [("0-100", "uid 0"), ("65000-65600", "65534"), ("10-5", "FIRST-LAST"), ("abc", "FIRST-LAST"), ("70000-2000000", "1000000")])
    func badRangesAreRefused(text: String, phrase: String) {
        do {
            _ = try IdentityPool.parseRange(text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect(error.description.contains(phrase), "\(error)")
        }
    }
}

@Suite struct IdentityPoolUsableTests {
    @Test func uidsTheMachineNamesArePassedOver() {
        var pool = IdentityPool(range: 100...104)
        let named: Set<UInt32> = [100, 101, 103]
        #expect(pool.allocate(preferring: nil, usable: { !named.contains($0) })?.uid == 102)
        #expect(pool.allocate(preferring: 103, usable: { !named.contains($0) })?.uid == 104, "a preferred uid the machine names is not kept")
        #expect(pool.allocate(preferring: nil, usable: { !named.contains($0) }) == nil, "every usable uid is taken")
    }

    @Test func theDefaultRangeIsSystemdsDynamicRangeAndParsesAsAFlagWould() throws {
        #expect(IdentityPool.defaultRange == 61184...65519)
        #expect(try IdentityPool.parseRange("61184-65519") == IdentityPool.defaultRange)
    }
}
