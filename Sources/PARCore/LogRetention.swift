/// How many log lines of one process are kept. Any limit reached first wins.
public struct LogRetentionPolicy: Sendable, Equatable {
    public var maxEntries: Int
    public var maxAgeSeconds: Double
    public var maxBytes: Int

    public static let `default` = LogRetentionPolicy(maxEntries: 5_000_000, maxAgeSeconds: 7 * 86_400, maxBytes: 1 << 30)

    public init(maxEntries: Int, maxAgeSeconds: Double, maxBytes: Int) {
        self.maxEntries = maxEntries
        self.maxAgeSeconds = maxAgeSeconds
        self.maxBytes = maxBytes
    }

    /// Reads `{"max_entries", "max_age_seconds", "max_bytes"}` over `base`.
    public static func parse(_ object: [String: Any], over base: LogRetentionPolicy, field: String) throws(ValidationError) -> LogRetentionPolicy {
        var fields = JSONFields(object: object)
        var policy = base
        do {
            policy.maxEntries = try fields.int("max_entries", in: 1...1_000_000_000) ?? policy.maxEntries
            policy.maxAgeSeconds = try fields.double("max_age_seconds", in: 1...(10 * 365 * 86_400)) ?? policy.maxAgeSeconds
            policy.maxBytes = try fields.int("max_bytes", in: 1_024...(1 << 40)) ?? policy.maxBytes
            try fields.rejectUnknown()
        } catch {
            throw ValidationError(field: "\(field).\(error.field)", reason: error.reason)
        }
        return policy
    }
}
