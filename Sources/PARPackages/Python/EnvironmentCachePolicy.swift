/// Names and evicts the virtual environments built for packages' requirements: pure.
public enum EnvironmentCachePolicy {
    /// The folder name of the environment for `requirements` on `interpreter`: the
    /// requirements' and the interpreter version's hash, so every agent and restart that
    /// needs the same set on the same Python shares one environment.
    public static func key(requirements: Requirements, interpreter: PythonInterpreter) -> String {
        let text = "python \(interpreter.version)\n" + requirements.fileText
        return "py\(interpreter.major)\(interpreter.minor)-" + String(SHA256.hex(of: Array(text.utf8)).prefix(16))
    }

    /// One built environment as the cache sees it.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var bytes: Int64
        /// Seconds since the epoch it was last handed to an agent.
        public var lastUsed: Double
        /// Some agent (running, starting or preparing) uses it now.
        public var inUse: Bool

        public init(key: String, bytes: Int64, lastUsed: Double, inUse: Bool) {
            self.key = key
            self.bytes = bytes
            self.lastUsed = lastUsed
            self.inUse = inUse
        }
    }

    /// The environments to remove so the rest fit in `maxBytes`: least recently used
    /// first, never one in use (an over-full cache of environments all in use stays).
    public static func evictions(_ entries: [Entry], maxBytes: Int64) -> [String] {
        var total = entries.reduce(Int64(0)) { $0 + $1.bytes }
        guard total > maxBytes else { return [] }
        var removed: [String] = []
        for entry in entries.filter({ !$0.inUse }).sorted(by: { ($0.lastUsed, $0.key) < ($1.lastUsed, $1.key) }) {
            guard total > maxBytes else { break }
            removed.append(entry.key)
            total -= entry.bytes
        }
        return removed
    }
}
