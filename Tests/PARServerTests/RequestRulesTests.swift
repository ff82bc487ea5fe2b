@testable import PARServer
import Testing

@Suite("Request rules")
struct RequestRulesTests {
    @Test(arguments: [
        (0, true, RequestRules.Refusal?.some(.missingHost)), (1, true, nil), (2, true, .repeatedHost),
        (0, false, nil), (1, false, nil), (3, false, .repeatedHost),
    ])
    func hostLines(lines: Int, isHTTP11: Bool, expected: RequestRules.Refusal?) {
        #expect(RequestRules.hostRefusal(hostLines: lines, isHTTP11: isHTTP11) == expected)
    }

    @Test(arguments: [
        ("/a/b", false), ("/a/./b", true), ("/a/../b", true), ("/a/..", true), ("/a/.", true), ("/.", true),
        ("/a/...", false), ("/a/.b", false), ("/a/b.", false), ("/a/b?x=/../", false), ("/a/..b/c", false), ("/", false),
    ])
    func dotSegmentsAreFound(target: String, expected: Bool) {
        #expect(RequestRules.hasDotSegment(target.utf8) == expected)
    }

    @Test(arguments: [
        ("/a/b/../c", "/a/c"), ("/a/./b", "/a/b"), ("/a/b/..", "/a/"), ("/a/b/.", "/a/b/"), ("/a/../../b", nil),
        ("/..", nil), ("/a/b/../c?q=/../x", "/a/c?q=/../x"), ("/a//../b", "/a/b"),
    ])
    func dotSegmentsAreRemoved(target: String, expected: String?) {
        #expect(RequestRules.removingDotSegments(target) == expected)
    }

    @Test func agentTargetsStayWithinTheirAgent() {
        #expect(RequestRules.agentTarget("/agents/web/x/../y") == .success("/agents/web/y"))
        #expect(RequestRules.agentTarget("/agents/web/plain") == .success("/agents/web/plain"))
        #expect(RequestRules.agentTarget("/agents/web/..") == .failure(.climbsOutOfAgent))
        #expect(RequestRules.agentTarget("/agents/web/../other/x") == .failure(.climbsOutOfAgent))
        #expect(RequestRules.agentTarget("/agents/web/../../supervisor/status") == .failure(.climbsOutOfAgent))
        #expect(RequestRules.agentTarget("/agents/web/../web/x") == .success("/agents/web/x"))
        #expect(RequestRules.agentTarget("/supervisor/./status") == .success("/supervisor/./status"), "only agent paths are resolved here")
    }
}

@Suite("Request rules: transfer codings and header names")
struct TransferCodingRulesTests {
    @Test func onlyChunkedAloneIsRelayed() {
        #expect(RequestRules.transferCodingRefusal([]) == nil)
        #expect(RequestRules.transferCodingRefusal(["chunked"]) == nil)
        #expect(RequestRules.transferCodingRefusal(["Chunked "]) == nil)
        #expect(RequestRules.transferCodingRefusal(["xchunked"]) == .unsupportedTransferCoding("xchunked"))
        #expect(RequestRules.transferCodingRefusal(["gzip, chunked"]) == .unsupportedTransferCoding("gzip, chunked"))
        #expect(RequestRules.transferCodingRefusal(["gzip", "chunked"]) == .unsupportedTransferCoding("gzip, chunked"))
        #expect(RequestRules.answer(.unsupportedTransferCoding("gzip")).status.code == 501)
    }

    @Test func underscoredNamesAreTheirOwnKind() {
        func kind(_ name: String) -> HeadScanner.FieldKind {
            Array(name.utf8).withUnsafeBytes { HeadScanner.classify($0, name: 0..<$0.count) }
        }
        #expect(kind("X_User") == .underscored)
        #expect(kind("x_forwarded_for") == .underscored)
        #expect(kind("X-User") == .other)
        #expect(kind("Host") == .host)
    }
}
