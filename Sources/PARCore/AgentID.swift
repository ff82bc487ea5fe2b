/// An agent's name as the user chose it. It becomes file and cgroup names, so it is
/// restricted to a safe alphabet: `^[a-z0-9][a-z0-9._-]{0,62}$`.
public struct AgentID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let rawValue: String

    public init(validating raw: String) throws(ValidationError) {
        guard Self.isValid(raw) else {
            throw ValidationError(
                field: "agent_id",
                reason: "must match ^[a-z0-9][a-z0-9._-]{0,62}$ (lowercase letters, digits, '.', '_', '-'; 1-63 characters; first a letter or digit), got \(raw.debugDescription)"
            )
        }
        self.rawValue = raw
    }

    public static func isValid(_ raw: String) -> Bool {
        let bytes = Array(raw.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func isAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
        guard isAlnum(bytes[0]) else { return false }
        return bytes.dropFirst().allSatisfy { isAlnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    /// The seed's process id: `par-{agent_id}`.
    public var processID: String { "par-\(rawValue)" }

    /// The agent id inside a process id, if it is one.
    public static func fromProcessID(_ processID: String) -> AgentID? {
        guard processID.hasPrefix("par-") else { return nil }
        return try? AgentID(validating: String(processID.dropFirst(4)))
    }

    public var description: String { rawValue }
    public static func < (lhs: AgentID, rhs: AgentID) -> Bool { lhs.rawValue < rhs.rawValue }
}
