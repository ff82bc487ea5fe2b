import PARCore
import Testing

/// Feeds `chunks` in order, then finishes; returns (text, truncated) pairs.
func split(_ chunks: [[UInt8]], maxLineBytes: Int = 64 * 1024, finish: Bool = true) -> [LineSplitter.Line] {
    var splitter = LineSplitter(maxLineBytes: maxLineBytes)
    var lines: [LineSplitter.Line] = []
    for chunk in chunks {
        chunk.withUnsafeBytes { splitter.feed($0, into: &lines) }
    }
    if finish { splitter.finish(into: &lines) }
    return lines
}

func split(_ text: String, maxLineBytes: Int = 64 * 1024, finish: Bool = true) -> [LineSplitter.Line] {
    split([Array(text.utf8)], maxLineBytes: maxLineBytes, finish: finish)
}

func texts(_ lines: [LineSplitter.Line]) -> [String] { lines.map(\.text) }
func flags(_ lines: [LineSplitter.Line]) -> [Bool] { lines.map(\.truncated) }

@Suite("LineSplitter")
struct LineSplitterTests {
    @Test func splitsOnNewlines() {
        let lines = split("one\ntwo\nthree\n")
        #expect(texts(lines) == ["one", "two", "three"])
        #expect(flags(lines) == [false, false, false])
    }

    @Test func stripsTheCarriageReturnOfCRLF() {
        #expect(texts(split("one\r\ntwo\r\n")) == ["one", "two"])
    }

    @Test func keepsACarriageReturnInsideALine() {
        #expect(texts(split("a\rb\n")) == ["a\rb"])
    }

    @Test func keepsEmptyLines() {
        #expect(texts(split("a\n\n\nb\n")) == ["a", "", "", "b"])
    }

    @Test func aPartialLineIsHeldUntilFinish() {
        #expect(texts(split("done\npartial", finish: false)) == ["done"])
    }

    @Test func finishGivesTheFinalLineWithoutANewline() {
        let lines = split("done\npartial")
        #expect(texts(lines) == ["done", "partial"])
        #expect(flags(lines) == [false, false])
    }

    @Test func finishWithNothingPendingGivesNothing() {
        #expect(split("done\n").count == 1)
        #expect(split("").isEmpty)
    }

    @Test func aLineSplitAcrossFeedsIsJoined() {
        #expect(texts(split([Array("hel".utf8), Array("lo\nwor".utf8), Array("ld\n".utf8)])) == ["hello", "world"])
    }

    @Test func bytesFedOneAtATimeGiveTheSameLines() {
        let text = "alpha\r\nbeta\n\ngamma without newline"
        let whole = split(text, maxLineBytes: 4)
        let bytewise = split(Array(text.utf8).map { [$0] }, maxLineBytes: 4)
        #expect(texts(bytewise) == texts(whole))
        #expect(flags(bytewise) == flags(whole))
    }

    @Test func aLineLongerThanTheMaximumIsCutIntoPiecesAllMarkedTruncated() {
        let lines = split("abcdefghij\nnext\n", maxLineBytes: 4)
        #expect(texts(lines) == ["abcd", "efgh", "ij", "next"])
        #expect(flags(lines) == [true, true, true, false])
    }

    @Test func aLineOfExactlyTheMaximumIsNotTruncated() {
        let lines = split("abcd\nefgh\n", maxLineBytes: 4)
        #expect(texts(lines) == ["abcd", "efgh"])
        #expect(flags(lines) == [false, false])
    }

    @Test func aLineOfExactlyTheMaximumFedByteByByteIsNotTruncated() {
        let lines = split(Array("abcd\n".utf8).map { [$0] }, maxLineBytes: 4)
        #expect(texts(lines) == ["abcd"])
        #expect(flags(lines) == [false])
    }

    @Test func aLineOfTwiceTheMaximumGivesTwoTruncatedPieces() {
        let lines = split("abcdefgh\n", maxLineBytes: 4)
        #expect(texts(lines) == ["abcd", "efgh"])
        #expect(flags(lines) == [true, true])
    }

    @Test func theLastPieceOfALongUnterminatedLineIsMarkedTruncated() {
        let lines = split("abcdef", maxLineBytes: 4)
        #expect(texts(lines) == ["abcd", "ef"])
        #expect(flags(lines) == [true, true])
    }

    @Test func truncationDoesNotCarryOverToTheNextLine() {
        let lines = split("abcdef\nxy\n", maxLineBytes: 4)
        #expect(flags(lines) == [true, true, false])
    }

    @Test
    func aCRLFLineOfExactlyTheMaximumIsNotTruncated() {
        let lines = split("abcd\r\n", maxLineBytes: 4)
        #expect(texts(lines) == ["abcd"])
        #expect(flags(lines) == [false])
    }

    @Test func invalidUTF8IsReplacedNotFatal() {
        let lines = split([[0x6F, 0x6B, 0xFF, 0xFE, 0x21, 0x0A, 0x6E, 0x65, 0x78, 0x74, 0x0A]])
        #expect(texts(lines) == ["ok\u{FFFD}\u{FFFD}!", "next"])
    }

    @Test func multibyteCharactersSplitAcrossFeedsAreKept() {
        let bytes = Array("héllo wörld ✓\n".utf8)
        #expect(texts(split(bytes.map { [$0] })) == ["héllo wörld ✓"])
    }

    @Test func aMaximumBelowOneIsTreatedAsOne() {
        let lines = split("ab\n", maxLineBytes: 0)
        #expect(texts(lines) == ["a", "b"])
        #expect(flags(lines) == [true, true])
    }
}
