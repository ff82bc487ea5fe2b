import NIOHTTP1
import Testing
@testable import PARServer

/// The proxy's head rewriting, without sockets.
@Suite("Proxy headers")
struct ProxyHeadersTests {
    @Test(arguments: [
        ("/agents/a", 9, "/"),
        ("/agents/a/", 9, "/"),
        ("/agents/a?x=1", 9, "/?x=1"),
        ("/agents/a/deep/path?q=%20", 9, "/deep/path?q=%20"),
    ])
    func theAgentSeesThePathAfterItsPrefix(uri: String, prefixLength: Int, expected: String) {
        #expect(ProxyHeaders.agentURI(uri, prefixLength: prefixLength) == expected)
    }

    @Test func aPrefixThatDoesNotEndAtASegmentIsNotTheAgents() {
        #expect(ProxyHeaders.agentURI("/agents/ab", prefixLength: 9) == nil)
    }

    @Test(arguments: [
        ("Content-Length", "contentLength"), ("content-length", "contentLength"), ("TRANSFER-ENCODING", "transferEncoding"),
        ("Host", "host"), ("X-Forwarded-For", "forwardedFor"), ("x-forwarded-host", "otherForwarded"),
        ("Expect", "expect"), ("Authorization", "authorization"), ("Connection", "hopByHop"), ("Keep-Alive", "hopByHop"),
        ("Proxy-Connection", "hopByHop"), ("Proxy-Authenticate", "hopByHop"), ("Proxy-Authorization", "hopByHop"),
        ("TE", "hopByHop"), ("Trailer", "hopByHop"), ("Upgrade", "hopByHop"),
        ("Content-Type", "other"), ("X-Forwarded", "other"), ("Hosts", "other"), ("X", "other"), ("A-Very-Long-Custom-Header-Name", "other"),
    ])
    func headerNamesAreClassifiedWithoutRegardToCase(name: String, expected: String) {
        #expect("\(ProxyHeaders.HeaderName(name))" == expected)
    }

    @Test func theRequestToAnAgentDropsHopByHopAndAddsForwardedHeaders() {
        let headers: HTTPHeaders = [
            "Host": "public.example:8000", "Connection": "keep-alive, X-Secret", "X-Secret": "s", "Keep-Alive": "timeout=5",
            "X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "spoofed", "Content-Length": "3", "X-Custom": "kept",
            "Authorization": "Bearer t", "Expect": "100-continue",
        ]
        let head = ProxyHeaders.agentRequest(
            HTTPRequestHead(version: .http1_1, method: .POST, uri: "/agents/a/x", headers: headers),
            uri: "/x", agentPort: 8123, prefix: "/agents/a", clientAddress: "127.0.0.1", stripAuthorization: true
        )
        #expect(head.uri == "/x")
        #expect(head.method == .POST)
        #expect(head.headers["Host"] == ["127.0.0.1:8123"])
        #expect(head.headers["X-Custom"] == ["kept"])
        #expect(head.headers["Content-Length"] == ["3"])
        #expect(head.headers["X-Forwarded-For"] == ["10.0.0.1, 127.0.0.1"])
        #expect(head.headers["X-Forwarded-Host"] == ["public.example:8000"])
        #expect(head.headers["X-Forwarded-Proto"] == ["http"])
        #expect(head.headers["X-Forwarded-Prefix"] == ["/agents/a"])
        for dropped in ["Connection", "X-Secret", "Keep-Alive", "Authorization", "Expect"] {
            #expect(head.headers[dropped].isEmpty, "\(dropped) must not reach the agent")
        }
    }

    @Test func framingIsRestated() {
        func framed(_ method: HTTPMethod, _ headers: HTTPHeaders) -> HTTPHeaders {
            ProxyHeaders.agentRequest(
                HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: headers),
                uri: "/", agentPort: 1, prefix: "/agents/a", clientAddress: "127.0.0.1", stripAuthorization: false
            ).headers
        }
        #expect(framed(.POST, ["Transfer-Encoding": "chunked"])["Transfer-Encoding"] == ["chunked"])
        #expect(framed(.POST, ["Transfer-Encoding": "gzip, chunked"])["Transfer-Encoding"] == ["gzip, chunked"], "the coding the body still has is kept")
        #expect(framed(.POST, [:])["Content-Length"] == ["0"], "a body-less POST says so")
        #expect(framed(.GET, [:])["Content-Length"].isEmpty)
        #expect(framed(.GET, [:])["Transfer-Encoding"].isEmpty)
    }

    @Test func theAnswerKeepsItsLengthAndLosesConnectionHeaders() {
        let agent = HTTPResponseHead(version: .http1_0, status: .created, headers: [
            "Content-Length": "2", "Connection": "X-Internal", "X-Internal": "1", "Keep-Alive": "timeout=5", "Set-Cookie": "a=b",
        ])
        let answer = ProxyHeaders.clientResponse(agent, closing: false)
        #expect(answer.status == .created)
        #expect(answer.version == .http1_1)
        #expect(answer.headers["Content-Length"] == ["2"])
        #expect(answer.headers["Set-Cookie"] == ["a=b"])
        #expect(answer.headers["X-Internal"].isEmpty)
        #expect(answer.headers["Keep-Alive"].isEmpty)
        #expect(answer.headers["Connection"].isEmpty)
        #expect(ProxyHeaders.clientResponse(agent, closing: true).headers["Connection"] == ["close"])
        let old = ProxyHeaders.clientResponse(agent, version: .http1_0, closing: false)
        #expect(old.version == .http1_0)
        #expect(old.headers["Connection"] == ["keep-alive"], "an HTTP/1.0 client keeps the connection only when told")
    }
}
