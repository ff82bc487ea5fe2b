import Foundation
import PARCore
import Testing

@Suite("JSONWriter")
struct JSONWriterTests {
    func written(_ text: String) -> String {
        var json = JSONWriter(capacity: 16)
        json.string(text)
        return json.text
    }

    @Test(arguments: [
        ("plain", "\"plain\""),
        ("", "\"\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\nbreak\ttab\rreturn", "\"line\\nbreak\\ttab\\rreturn\""),
        ("bell\u{07}nul\u{00}esc\u{1B}", "\"bell\\u0007nul\\u0000esc\\u001b\""),
        ("héllo ✓ 🙂", "\"héllo ✓ 🙂\""),
    ])
    func escapesWhatJSONNeedsAndKeepsTheRest(text: String, expected: String) throws {
        let output = written(text)
        #expect(output == expected)
        // And it reads back as the same string.
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(output)]".utf8)) as? [String]
        #expect(parsed == [text])
    }

    @Test func aStringFromABridgedOrSlicedSourceIsWrittenWhole() throws {
        let long = String(repeating: "abc\"", count: 10_000)
        let slice = String(long.dropFirst(3).prefix(9))
        let parsed = try JSONSerialization.jsonObject(with: Data("[\(written(slice))]".utf8)) as? [String]
        #expect(parsed == [slice])
        let fromData = String(decoding: Data("x\u{01}y".utf8), as: UTF8.self)
        #expect(written(fromData) == "\"x\\u0001y\"")
    }

    @Test func keysAreQuotedAndObjectsSeparated() {
        var json = JSONWriter()
        json.beginObject()
        json.field("a\"b", "c")
        json.field("n", 3)
        json.endObject()
        #expect(json.text == "{\"a\\\"b\":\"c\",\"n\":3}")
    }
}
