import Foundation
import PARPackages
import Testing

@Suite("SHA256")
struct SHA256Tests {
    @Test func emptyInput() {
        #expect(SHA256.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abc() {
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func the448BitTwoBlockMessage() {
        let message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        #expect(SHA256.hex(of: Array(message.utf8)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func oneMillionLetterA() {
        #expect(SHA256.hex(of: [UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func feedingInPiecesGivesTheSameDigestAsAtOnce() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var hasher = SHA256()
        var index = 0
        for size in [1, 63, 64, 65, 0, 200, 7] {
            hasher.update(bytes[index..<index + size])
            index += size
        }
        hasher.update(bytes[index...])
        #expect(hasher.finalize() == SHA256.hex(of: bytes))
    }

    /// Lengths around the 55/56/64-byte padding boundaries, checked against coreutils.
    @Test(arguments: [55, 56, 57, 63, 64, 65, 119, 120, 128])
    func paddingBoundariesMatchSha256sum(length: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        let file = directory.path("data.bin")
        try Data(bytes).write(to: file)
        #expect(SHA256.hex(of: bytes) == (try sha256sum(file)))
    }

    @Test func aRandomFileHashesLikeSha256sum() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // Over three 1 MiB read chunks, not a multiple of 64.
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        defer { try? random.close() }
        let bytes = try #require(try random.read(upToCount: (3 << 20) + 4_321))
        let file = directory.path("random.bin")
        try bytes.write(to: file)
        #expect(try SHA256.hex(ofFileAt: file.path) == (try sha256sum(file)))
    }

    @Test func hashingAMissingFileThrows() {
        #expect(throws: (any Error).self) { try SHA256.hex(ofFileAt: "/nonexistent/\(UUID().uuidString)") }
    }

    private func sha256sum(_ file: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let text = String(decoding: output, as: UTF8.self)
        return try #require(text.split(separator: " ").first.map(String.init))
    }
}
