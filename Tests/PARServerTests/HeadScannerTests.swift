import NIOCore
import Testing

@testable import PARServer

@Suite("Relay head scanner")
struct HeadScannerTests {
    private func scanRequest(_ text: String) -> HeadScanner.RequestVerdict {
        Array(text.utf8).withUnsafeBytes { HeadScanner.scanRequest($0) }
    }

    private func agentRequest(_ text: String, address: String = "10.1.2.3") -> String? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> String? in
            guard case .relay(let request) = HeadScanner.scanRequest(raw) else { return nil }
            var out = ByteBufferAllocator().buffer(capacity: 256)
            HeadScanner.writeAgentRequest(raw, request, port: Array("8001".utf8), clientAddress: Array(address.utf8), into: &out)
            return String(buffer: out)
        }
    }

    private func scanResponse(_ text: String, head: Bool = false) -> HeadScanner.ResponseVerdict {
        Array(text.utf8).withUnsafeBytes { HeadScanner.scanResponse($0, requestWasHead: head) }
    }

    @Test func aPlainRequestForAnAgentIsRelayed() throws {
        let head = "GET /agents/my-agent/echo?x=1 HTTP/1.1\r\nHost: example\r\n\r\n"
        let verdict = scanRequest(head + "GET /agents/next HTTP/1.1\r\n")
        guard case .relay(let request) = verdict else { Issue.record("got \(verdict)"); return }
        #expect(request.headLength == head.utf8.count)
        #expect(request.contentLength == nil)
        #expect(request.isIdempotent)
        #expect(!request.wantsClose)
    }

    @Test(arguments: [
        "GET /supervisor/status HTTP/1.1\r\n\r\n",
        "GET /agents/a HTTP/1.0\r\n\r\n",
        "GET /agents/a//b HTTP/1.1\r\n\r\n",
        "GET /agents/ HTTP/1.1\r\n\r\n",
        "GET /agents/Upper HTTP/1.1\r\n\r\n",
        "GET /agents/a%2Fb HTTP/1.1\r\n\r\n",
        "GET /agentsx/a HTTP/1.1\r\n\r\n",
        "GET /agents/a HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "POST /agents/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST /agents/a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        "GET /agents/a HTTP/1.1\r\nConnection: x-secret\r\n\r\n",
        "POST /agents/a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        "POST /agents/a HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n",
        "GET /agents/a HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET /agents/a HTTP/1.1\r\n folded: x\r\n\r\n",
        "get /agents/a HTTP/1.1\r\n\r\n",
        "GET http://host/agents/a HTTP/1.1\r\n\r\n",
    ])
    func anythingUnusualGoesToTheFullStack(_ text: String) {
        // With a Host line, so its absence is not why.
        let line = text.range(of: "\r\n")!
        let withHost = text[..<line.upperBound] + "Host: h\r\n" + text[line.upperBound...]
        #expect(scanRequest(String(withHost)) == .fullStack, "\(withHost.debugDescription)")
    }

    @Test(arguments: [
        "GET /agents/a HTTP/1.1\r\n\r\n",
        "GET /agents/a HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
        "GET /agents/a/../b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /agents/a/./b HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /agents/a/.. HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /agents/a/b\nHost: h\r\n",
        "GET / HTTP/1.0\r\n",
        "GET /\r\n",
    ])
    func whatTheRulesRefuseOrResolveGoesToTheFullStack(_ text: String) {
        #expect(scanRequest(text) == .fullStack, "\(text.debugDescription)")
    }

    @Test func dotsThatAreNotSegmentsStayWithTheRelay() {
        guard case .relay = scanRequest("GET /agents/a/.well-known/x...y/..z?p=/../ HTTP/1.1\r\nHost: h\r\n\r\n") else {
            Issue.record("not relayed")
            return
        }
    }

    @Test func aHeadWithoutItsEmptyLineIsIncomplete() {
        #expect(scanRequest("GET /agents/a HTTP/1.1\r\nHost: x\r\n") == .incomplete)
        #expect(scanRequest("GET /agen") == .incomplete)
    }

    @Test func aHeadLongerThanTheLimitGoesToTheFullStack() {
        let long = "GET /agents/a HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: HeadScanner.maxHeadBytes) + "\r\n\r\n"
        #expect(scanRequest(String(long.dropLast(4))) == .fullStack)
    }

    @Test func theAgentSeesItsOwnPathHostAndForwardedHeaders() throws {
        let text = try #require(agentRequest(
            "POST /agents/a/run?q=1 HTTP/1.1\r\nHost: public:8000\r\nContent-Length: 2\r\nX-Forwarded-For: 1.1.1.1\r\n"
                + "X-Forwarded-Host: spoofed\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\nAuthorization: Bearer t\r\nX-Trace: 7\r\n\r\nhi"
        ))
        #expect(text == "POST /run?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8001\r\nAuthorization: Bearer t\r\nX-Trace: 7\r\nContent-Length: 2\r\n"
            + "X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: public:8000\r\nX-Forwarded-Prefix: /agents/a\r\n\r\n")
    }

    @Test(arguments: [("/agents/a", "/"), ("/agents/a?x=1", "/?x=1"), ("/agents/a/", "/"), ("/agents/a/b/c", "/b/c")])
    func theTargetLosesItsPrefix(target: String, expected: String) throws {
        let text = try #require(agentRequest("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(text.hasPrefix("GET \(expected) HTTP/1.1\r\n"))
    }

    @Test func aBodylessPostSaysItsLengthIsZero() throws {
        let text = try #require(agentRequest("POST /agents/a HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(text.contains("\r\nContent-Length: 0\r\n"))
        let get = try #require(agentRequest("GET /agents/a HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(!get.contains("Content-Length"))
    }

    @Test func connectionCloseIsNoticed() {
        guard case .relay(let request) = scanRequest("GET /agents/a HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n") else {
            Issue.record("not relayed")
            return
        }
        #expect(request.wantsClose)
    }

    @Test func responsesAreFramedAsTheySay() {
        #expect(scanResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            == .response(.init(headLength: 38, status: 200, framing: .length(5), keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
            == .response(.init(headLength: 53, status: 200, framing: .chunked, keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
            == .response(.init(headLength: 44, status: 200, framing: .untilClose, keepsAlive: false)))
        #expect(scanResponse("HTTP/1.1 200 OK\r\n\r\n")
            == .response(.init(headLength: 19, status: 200, framing: .untilClose, keepsAlive: false)))
        #expect(scanResponse("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n")
            == .response(.init(headLength: 46, status: 204, framing: .empty, keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head: true)
            == .response(.init(headLength: 38, status: 200, framing: .empty, keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 100 Continue\r\n\r\n")
            == .response(.init(headLength: 25, status: 100, framing: .empty, keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
            == .response(.init(headLength: 35, status: 200, framing: .length(0), keepsAlive: true)))
    }

    @Test func keepAliveFollowsTheVersionAndConnectionHeader() {
        #expect(scanResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            == .response(.init(headLength: 38, status: 200, framing: .length(0), keepsAlive: false)))
        #expect(scanResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
            == .response(.init(headLength: 62, status: 200, framing: .length(0), keepsAlive: true)))
        #expect(scanResponse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            == .response(.init(headLength: 57, status: 200, framing: .length(0), keepsAlive: false)))
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nConnection: x-other\r\n\r\n",
        "HTTP/1.1 200 OK\r\nbad line\r\n\r\n",
        "HTTP/1.1 200 OK\nX-Smuggled: 1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: \u{0B}\r\n\r\n",
    ])
    func unreadableAnswersAreRefused(_ text: String) {
        guard case .invalid = scanResponse(text) else { Issue.record("accepted \(text.debugDescription)"); return }
    }

    @Test func theClientsHeadIsHTTP11WithoutConnectionHeaders() throws {
        let text = "HTTP/1.0 201 Created\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\nX-App: 1\r\n\r\n"
        let bytes = Array(text.utf8)
        let rendered = bytes.withUnsafeBytes { raw -> String? in
            guard case .response(let response) = HeadScanner.scanResponse(raw, requestWasHead: false) else { return nil }
            var out = ByteBufferAllocator().buffer(capacity: 256)
            HeadScanner.writeClientResponse(raw, response, closing: true, into: &out)
            return String(buffer: out)
        }
        #expect(rendered == "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-App: 1\r\nConnection: close\r\n\r\n")
    }

    @Test func aChunkedBodyEndsAfterItsTrailers() {
        let body = Array("4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Checksum: 9\r\n\r\nNEXT".utf8)
        var framing = HeadScanner.ChunkedBody()
        let taken = body.withUnsafeBytes { framing.consume($0) }
        #expect(taken == body.count - 4)
        #expect(framing.isComplete)
    }

    @Test func aChunkedBodyIsFollowedAcrossReadsOfAnySize() {
        let body = Array("a\r\n0123456789\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n".utf8)
        for split in 1..<body.count {
            var framing = HeadScanner.ChunkedBody()
            let first = body[..<split].withUnsafeBytes { framing.consume($0) }
            #expect(first == split)
            #expect(!framing.isComplete)
            let second = body[split...].withUnsafeBytes { framing.consume($0) }
            #expect(second == body.count - split)
            #expect(framing.isComplete)
        }
    }

    @Test(arguments: ["x\r\n", "4\r\nWikiXX", "4\nWiki", "fffffffffffffffff\r\n", "4;a\nb\r\nWiki\r\n", "0\r\nX-T: 1\nY: 2\r\n\r\n"])
    func brokenChunkingIsRefused(_ text: String) {
        var framing = HeadScanner.ChunkedBody()
        let taken = Array(text.utf8).withUnsafeBytes { framing.consume($0) }
        #expect(taken == nil)
    }

    @Test func transferEncodingWinsOverContentLength() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
        let rendered = Array(text.utf8).withUnsafeBytes { raw -> String? in
            guard case .response(let response) = HeadScanner.scanResponse(raw, requestWasHead: false) else { return nil }
            #expect(response.framing == .chunked)
            var out = ByteBufferAllocator().buffer(capacity: 256)
            HeadScanner.writeClientResponse(raw, response, closing: false, into: &out)
            return String(buffer: out)
        }
        #expect(rendered == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    }
}
