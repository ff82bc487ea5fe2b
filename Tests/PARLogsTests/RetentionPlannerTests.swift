import PARCore
import PARLogs
import Testing

private typealias Block = RetentionPlanner.BlockSummary

/// "Now" for every case: 2024-01-01T12:00:00Z in microseconds.
private let now: Int64 = 1_704_110_400_000_000
private let second: Int64 = 1_000_000

private func policy(entries: Int = 1_000_000, ageSeconds: Double = 86_400, bytes: Int = 1 << 30) -> LogRetentionPolicy {
    LogRetentionPolicy(maxEntries: entries, maxAgeSeconds: ageSeconds, maxBytes: bytes)
}

/// A young block (stored a second ago) unless `age` says otherwise.
private func block(_ id: Int64, lines: Int, hidden: Int = 0, bytes: Int = 1_000, ageSeconds: Int64 = 1) -> Block {
    Block(id: id, lineCount: lines, hiddenLines: hidden, bytes: bytes, storedMicros: now - ageSeconds * second)
}

/// Totals as the store keeps them: visible lines and all bytes.
private func totals(_ blocks: [Block], extraLines: Int = 0, extraBytes: Int = 0) -> RetentionPlanner.Totals {
    RetentionPlanner.Totals(
        lines: blocks.reduce(0) { $0 + $1.lineCount - $1.hiddenLines } + extraLines,
        bytes: blocks.reduce(0) { $0 + $1.bytes } + extraBytes
    )
}

private func plan(_ blocks: [Block], _ policy: LogRetentionPolicy, extraLines: Int = 0, extraBytes: Int = 0) -> RetentionPlanner.Plan {
    RetentionPlanner.plan(totals: totals(blocks, extraLines: extraLines, extraBytes: extraBytes), policy: policy, oldestFirst: blocks, nowMicros: now)
}

/// Checks every field of a plan, so a failure says which one is off.
private func expectPlan(
    _ plan: RetentionPlanner.Plan, deletes: [Int64], floor: (Int64, Int)?, lines: Int, bytes: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(plan.deleteBlocks == deletes, "deleteBlocks", sourceLocation: sourceLocation)
    #expect(plan.floor?.blockID == floor?.0, "floor block", sourceLocation: sourceLocation)
    #expect(plan.floor?.hiddenLines == floor?.1, "floor hidden lines", sourceLocation: sourceLocation)
    #expect(plan.linesRemoved == lines, "linesRemoved", sourceLocation: sourceLocation)
    #expect(plan.bytesRemoved == bytes, "bytesRemoved", sourceLocation: sourceLocation)
    #expect(plan.isEmpty == (deletes.isEmpty && floor == nil), "isEmpty", sourceLocation: sourceLocation)
}

@Suite("RetentionPlanner.plan: under the limits")
struct RetentionUnderLimitTests {
    @Test func underEveryLimitIsAnEmptyPlan() {
        let blocks = [block(1, lines: 100), block(2, lines: 100), block(3, lines: 100)]
        expectPlan(plan(blocks, policy(entries: 1_000, ageSeconds: 60, bytes: 10_000)), deletes: [], floor: nil, lines: 0, bytes: 0)
    }

    @Test func exactlyAtEveryLimitIsAnEmptyPlan() {
        let blocks = [block(1, lines: 100, bytes: 500), block(2, lines: 200, bytes: 500)]
        expectPlan(plan(blocks, policy(entries: 300, ageSeconds: 1, bytes: 1_000)), deletes: [], floor: nil, lines: 0, bytes: 0)
    }

    @Test func noBlocksIsAnEmptyPlanEvenWhenOver() {
        let p = RetentionPlanner.plan(totals: .init(lines: 5_000, bytes: 1 << 20), policy: policy(entries: 10, bytes: 1_024), oldestFirst: [], nowMicros: now)
        expectPlan(p, deletes: [], floor: nil, lines: 0, bytes: 0)
    }

    @Test(arguments: [(0, 0), (99, 0), (100, 100), (1_000, 1_000)])
    func anEmptyPlanHasNoRemovals(lines: Int, maxEntries: Int) {
        let blocks = lines == 0 ? [] : [block(1, lines: lines)]
        let p = plan(blocks, policy(entries: max(maxEntries, lines)))
        #expect(p.isEmpty)
        #expect(p.linesRemoved == 0 && p.bytesRemoved == 0)
    }
}

@Suite("RetentionPlanner.plan: by count")
struct RetentionCountTests {
    @Test(arguments: [1, 2, 30, 50, 99])
    func overByLessThanTheOldestBlockIsAFloorInsideIt(over: Int) {
        let blocks = [block(1, lines: 100, bytes: 4_000), block(2, lines: 100), block(3, lines: 100)]
        expectPlan(plan(blocks, policy(entries: 300 - over)), deletes: [], floor: (1, over), lines: over, bytes: 0)
    }

    @Test func overByExactlyTheOldestBlockDeletesItWithoutAFloor() {
        let blocks = [block(1, lines: 100, bytes: 4_000), block(2, lines: 100), block(3, lines: 100)]
        expectPlan(plan(blocks, policy(entries: 200)), deletes: [1], floor: nil, lines: 100, bytes: 4_000)
    }

    @Test func overByExactlyTwoBlocks() {
        let blocks = [block(1, lines: 100, bytes: 10), block(2, lines: 50, bytes: 20), block(3, lines: 100, bytes: 40)]
        expectPlan(plan(blocks, policy(entries: 100)), deletes: [1, 2], floor: nil, lines: 150, bytes: 30)
    }

    @Test(arguments: [
        // (over, deletes, floor block, floor hidden, bytes removed) with blocks of 100/50/200/100 lines.
        (101, [Int64(1)], Int64(2), 1, 10),
        (149, [1], 2, 49, 10),
        (150, [1, 2], nil, 0, 30),
        (151, [1, 2], 3, 1, 30),
        (349, [1, 2], 3, 199, 30),
        (350, [1, 2, 3], nil, 0, 70),
        (351, [1, 2, 3], 4, 1, 70),
    ] as [(Int, [Int64], Int64?, Int, Int)])
    func overAcrossSeveralBlocksPlusAPartialOne(over: Int, deletes: [Int64], floorBlock: Int64?, floorHidden: Int, bytes: Int) {
        let blocks = [block(1, lines: 100, bytes: 10), block(2, lines: 50, bytes: 20), block(3, lines: 200, bytes: 40), block(4, lines: 100, bytes: 80)]
        let p = plan(blocks, policy(entries: 450 - over))
        expectPlan(p, deletes: deletes, floor: floorBlock.map { ($0, floorHidden) }, lines: over, bytes: bytes)
    }

    @Test func overByMoreThanTheBlocksGivenDeletesThemAll() {
        // The store passes at most a page of blocks; the rest of the excess is for the next page.
        let blocks = [block(1, lines: 100, bytes: 10), block(2, lines: 100, bytes: 20)]
        let p = plan(blocks, policy(entries: 1_000), extraLines: 1_500)
        expectPlan(p, deletes: [1, 2], floor: nil, lines: 200, bytes: 30)
    }

    @Test(arguments: [
        // (hidden already, over, deletes, floor hidden total, lines removed)
        (40, 10, [Int64](), 50, 10),
        (40, 59, [], 99, 59),
        (40, 60, [1], 0, 60),
        (40, 70, [1], 10, 70),
        (99, 1, [1], 0, 1),
    ] as [(Int, Int, [Int64], Int, Int)])
    func anExistingFloorCounts(hidden: Int, over: Int, deletes: [Int64], floorHidden: Int, linesRemoved: Int) {
        // Block 1 has 100 lines of which `hidden` are already hidden; block 2 has 100.
        let blocks = [block(1, lines: 100, hidden: hidden, bytes: 7), block(2, lines: 100, bytes: 9)]
        let visible = 200 - hidden
        let p = plan(blocks, policy(entries: visible - over))
        let floor: (Int64, Int)? = floorHidden == 0 ? nil : (deletes.isEmpty ? 1 : 2, floorHidden)
        expectPlan(p, deletes: deletes, floor: floor, lines: linesRemoved, bytes: deletes.isEmpty ? 0 : 7)
    }

    @Test func theFloorKeepsExactlyMaxEntriesVisible() {
        for maxEntries in [1, 7, 100, 101, 250, 399, 400] {
            let blocks = [block(1, lines: 100), block(2, lines: 100), block(3, lines: 100), block(4, lines: 100)]
            let p = plan(blocks, policy(entries: maxEntries))
            let deletedLines = blocks.filter { p.deleteBlocks.contains($0.id) }.reduce(0) { $0 + $1.lineCount }
            let remaining = 400 - deletedLines - (p.floor?.hiddenLines ?? 0)
            #expect(remaining == maxEntries, "maxEntries \(maxEntries)")
            #expect(p.linesRemoved == 400 - maxEntries)
        }
    }
}

@Suite("RetentionPlanner.plan: by bytes")
struct RetentionBytesTests {
    @Test(arguments: [
        // (maxBytes, deletes, bytes removed) with blocks of 1000, 2000, 3000, 4000 bytes (10000 total).
        (10_000, [Int64](), 0),
        (9_999, [1], 1_000),
        (9_000, [1], 1_000),
        (8_999, [1, 2], 3_000),
        (7_000, [1, 2], 3_000),
        (6_999, [1, 2, 3], 6_000),
        (4_000, [1, 2, 3], 6_000),
        (3_999, [1, 2, 3, 4], 10_000),
        (1_024, [1, 2, 3, 4], 10_000),
    ] as [(Int, [Int64], Int)])
    func wholeBlocksGoUntilAtMostMaxBytes(maxBytes: Int, deletes: [Int64], bytesRemoved: Int) {
        let blocks = [block(1, lines: 10, bytes: 1_000), block(2, lines: 20, bytes: 2_000), block(3, lines: 30, bytes: 3_000), block(4, lines: 40, bytes: 4_000)]
        let p = plan(blocks, policy(bytes: maxBytes))
        let linesRemoved = blocks.filter { deletes.contains($0.id) }.reduce(0) { $0 + $1.lineCount }
        expectPlan(p, deletes: deletes, floor: nil, lines: linesRemoved, bytes: bytesRemoved)
        #expect(10_000 - p.bytesRemoved <= maxBytes)
    }

    @Test func bytesCountOnlyVisibleLinesOfAFlooredBlock() {
        let blocks = [block(1, lines: 100, hidden: 30, bytes: 500), block(2, lines: 100, bytes: 500)]
        expectPlan(plan(blocks, policy(bytes: 999)), deletes: [1], floor: nil, lines: 70, bytes: 500)
    }
}

@Suite("RetentionPlanner.plan: by age")
struct RetentionAgeTests {
    @Test func blocksStoredBeforeTheCutoffGo() {
        let blocks = [block(1, lines: 10, bytes: 1, ageSeconds: 100), block(2, lines: 20, bytes: 2, ageSeconds: 61), block(3, lines: 30, bytes: 4, ageSeconds: 59)]
        expectPlan(plan(blocks, policy(ageSeconds: 60)), deletes: [1, 2], floor: nil, lines: 30, bytes: 3)
    }

    @Test func stopsAtTheFirstYoungBlockEvenIfALaterOneIsOld() {
        let blocks = [block(1, lines: 10, bytes: 1, ageSeconds: 100), block(2, lines: 20, bytes: 2, ageSeconds: 5), block(3, lines: 30, bytes: 4, ageSeconds: 100)]
        expectPlan(plan(blocks, policy(ageSeconds: 60)), deletes: [1], floor: nil, lines: 10, bytes: 1)
    }

    @Test func aYoungOldestBlockStopsEverything() {
        let blocks = [block(1, lines: 10, ageSeconds: 5), block(2, lines: 20, ageSeconds: 100)]
        expectPlan(plan(blocks, policy(ageSeconds: 60)), deletes: [], floor: nil, lines: 0, bytes: 0)
    }

    @Test func aBlockStoredExactlyAtTheCutoffStays() {
        let atCutoff = Block(id: 1, lineCount: 10, bytes: 1, storedMicros: now - 60 * second)
        let justBefore = Block(id: 1, lineCount: 10, bytes: 1, storedMicros: now - 60 * second - 1)
        #expect(plan([atCutoff], policy(ageSeconds: 60)).isEmpty)
        expectPlan(plan([justBefore], policy(ageSeconds: 60)), deletes: [1], floor: nil, lines: 10, bytes: 1)
    }

    @Test func fractionalAgeSeconds() {
        #expect(RetentionPlanner.ageCutoff(policy: policy(ageSeconds: 1.5), nowMicros: now) == now - 1_500_000)
        let blocks = [Block(id: 1, lineCount: 1, bytes: 1, storedMicros: now - 1_500_001), Block(id: 2, lineCount: 1, bytes: 1, storedMicros: now - 1_499_999)]
        expectPlan(plan(blocks, policy(ageSeconds: 1.5)), deletes: [1], floor: nil, lines: 1, bytes: 1)
    }

    @Test func anOldFlooredBlockRemovesOnlyItsVisibleLines() {
        let blocks = [block(1, lines: 100, hidden: 60, bytes: 9, ageSeconds: 1_000), block(2, lines: 10, bytes: 1)]
        expectPlan(plan(blocks, policy(ageSeconds: 60)), deletes: [1], floor: nil, lines: 40, bytes: 9)
    }
}

@Suite("RetentionPlanner.plan: combined limits")
struct RetentionCombinedTests {
    @Test func ageDeletionCountsTowardTheLineExcess() {
        // 150 over: the old block (100) goes for age and the rest of the excess is a floor in the next.
        let blocks = [block(1, lines: 100, bytes: 1, ageSeconds: 1_000), block(2, lines: 100, bytes: 2), block(3, lines: 100, bytes: 4)]
        expectPlan(plan(blocks, policy(entries: 150, ageSeconds: 60)), deletes: [1], floor: (2, 50), lines: 150, bytes: 1)
    }

    @Test func ageRemovingMoreThanTheLineExcessLeavesNoFloor() {
        let blocks = [block(1, lines: 100, bytes: 1, ageSeconds: 1_000), block(2, lines: 100, bytes: 2)]
        expectPlan(plan(blocks, policy(entries: 170, ageSeconds: 60)), deletes: [1], floor: nil, lines: 100, bytes: 1)
    }

    @Test func bytesForceAWholeBlockWhereCountWouldOnlyFloor() {
        let blocks = [block(1, lines: 100, bytes: 600), block(2, lines: 100, bytes: 600)]
        expectPlan(plan(blocks, policy(entries: 170, bytes: 1_000)), deletes: [1], floor: nil, lines: 100, bytes: 600)
    }

    @Test func countGoesFurtherThanBytes() {
        // Bytes need only block 1 to go; count needs 250 lines: blocks 1 and 2 and a floor of 50 in 3.
        let blocks = [block(1, lines: 100, bytes: 600), block(2, lines: 100, bytes: 600), block(3, lines: 100, bytes: 600)]
        expectPlan(plan(blocks, policy(entries: 50, bytes: 1_500)), deletes: [1, 2], floor: (3, 50), lines: 250, bytes: 1_200)
    }

    @Test func bytesGoFurtherThanCount() {
        let blocks = [block(1, lines: 100, bytes: 600), block(2, lines: 100, bytes: 600), block(3, lines: 100, bytes: 600)]
        expectPlan(plan(blocks, policy(entries: 290, bytes: 700)), deletes: [1, 2], floor: nil, lines: 200, bytes: 1_200)
    }

    @Test func allThreeAtOnce() {
        // Block 1 old, bytes then need block 2, count then needs 10 more lines of block 3.
        let blocks = [
            block(1, lines: 50, bytes: 100, ageSeconds: 500), block(2, lines: 50, bytes: 1_000),
            block(3, lines: 100, bytes: 100), block(4, lines: 100, bytes: 100),
        ]
        expectPlan(plan(blocks, policy(entries: 190, ageSeconds: 60, bytes: 300)), deletes: [1, 2], floor: (3, 10), lines: 110, bytes: 1_100)
    }
}

@Suite("RetentionPlanner.isOver")
struct RetentionIsOverTests {
    private let limits = policy(entries: 100, ageSeconds: 60, bytes: 10_000)

    @Test(arguments: [
        (100, 10_000, Int64?.none, false),
        (101, 10_000, nil, true),
        (100, 10_001, nil, true),
        (0, 0, nil, false),
        (100, 10_000, now - 60 * second, false),
        (100, 10_000, now - 60 * second - 1, true),
        (100, 10_000, now - 59 * second, false),
        (100, 10_000, now + 5 * second, false),
        (101, 10_001, now - 1_000 * second, true),
    ] as [(Int, Int, Int64?, Bool)])
    func table(lines: Int, bytes: Int, oldest: Int64?, over: Bool) {
        #expect(RetentionPlanner.isOver(.init(lines: lines, bytes: bytes), policy: limits, oldestStoredMicros: oldest, nowMicros: now) == over)
    }

    @Test func isOverAgreesWithPlanBeingNonEmpty() {
        let blocks = [block(1, lines: 60, bytes: 3_000, ageSeconds: 30), block(2, lines: 60, bytes: 3_000, ageSeconds: 10)]
        for maxEntries in [50, 119, 120, 200] {
            for maxBytes in [1_024, 5_999, 6_000] {
                for age in [5.0, 20.0, 60.0] {
                    let p = policy(entries: maxEntries, ageSeconds: age, bytes: maxBytes)
                    let t = totals(blocks)
                    let over = RetentionPlanner.isOver(t, policy: p, oldestStoredMicros: blocks[0].storedMicros, nowMicros: now)
                    let planned = RetentionPlanner.plan(totals: t, policy: p, oldestFirst: blocks, nowMicros: now)
                    #expect(over == !planned.isEmpty, "entries \(maxEntries) bytes \(maxBytes) age \(age)")
                }
            }
        }
    }
}
