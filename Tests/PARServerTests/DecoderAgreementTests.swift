import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import PARServer

/// The end-to-end corpus's syntax and framing cases, fed to NIO's HTTP decoder alone: the
/// decoder refuses each, and the status the daemon answers follows from its error, so the
/// two layers agree on what is malformed. (Host, path and coding rules are `RequestRules`',
/// tested in `RequestRulesTests`: the decoder lets those through.)
@Suite("NIO's decoder agrees with the front door")
struct DecoderAgreementTests {
    static let post = "POST /agents/echo/echo HTTP/1.1\r\nHost: a\r\n"
    static let get = "GET /agents/echo/echo HTTP/1.1\r\nHost: a\r\n"

    static let cases: [(String, String, Int)] = [
        ("CL with TE", post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("two Content-Length", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
        ("CL +5", post + "Content-Length: +5\r\n\r\nhello", 400),
        ("CL 1,1", post + "Content-Length: 1,1\r\n\r\nh", 400),
        ("CL -1", post + "Content-Length: -1\r\n\r\n", 400),
        ("CL 0x5", post + "Content-Length: 0x5\r\n\r\nhello", 400),
        ("CL huge", post + "Content-Length: 99999999999999999999999\r\n\r\n", 400),
        ("TE folded", post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE space before colon", post + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
        ("TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n", 400),
        ("bare LF", "GET /agents/echo/echo HTTP/1.1\nHost: a\n\n", 400),
        ("CR in a value", get + "Foo: b\rar\r\n\r\n", 400),
        ("space before a colon", get + "Foo : bar\r\n\r\n", 400),
        ("relative target", "GET supervisor/status HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("1 MB header line", get + "Foo: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n", 431),
        ("10,000 headers", get + (0..<10_000).map { "X-\($0): y\r\n" }.joined() + "\r\n", 431),
    ]

    @Test(arguments: cases.indices)
    func theDecoderRefusesWhatTheFrontDoorRefuses(index: Int) throws {
        let (name, text, status) = Self.cases[index]
        // The limits the daemon's server runs with (Hummingbird's defaults: 80 KiB, 1,000 fields).
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldCount = 1000
        let decoder = HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .drop, limitConfiguration: limits)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(decoder))
        defer { _ = try? channel.finish() }
        var refusal: HTTPParserError?
        do {
            try channel.writeInbound(ByteBuffer(string: text))
        } catch let error as HTTPParserError {
            refusal = error
        }
        let error = try #require(refusal, "\(name): the decoder took it")
        let answer = MalformedRequestAnswer.answer(for: error)
        #expect(answer.status.code == status, "\(name): \(error)")
        #expect(String(decoding: answer.jsonBody, as: UTF8.self).contains("\"detail\""))
    }
}
