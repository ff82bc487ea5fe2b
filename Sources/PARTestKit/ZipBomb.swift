import Foundation
import ZIPFoundation

/// A small archive that unpacks to a huge file, streamed so the test never holds it in memory.
public enum ZipBomb {
    public static func write(to url: URL, uncompressedMiB: Int) throws {
        try? FileManager.default.removeItem(at: url)
        let archive = try Archive(url: url, accessMode: .create)
        let manifest = Data("name: bomb\ncommand: [\"/bin/true\"]\n".utf8)
        try archive.addEntry(with: "agent.yaml", type: .file, uncompressedSize: Int64(manifest.count), compressionMethod: .none) { position, size in
            manifest.subdata(in: Int(position)..<Int(position) + size)
        }
        let zeros = Data(count: 1 << 20)
        try archive.addEntry(with: "payload.bin", type: .file, uncompressedSize: Int64(uncompressedMiB) << 20, compressionMethod: .deflate, bufferSize: 1 << 20) { _, size in
            size == zeros.count ? zeros : Data(count: size)
        }
    }
}
