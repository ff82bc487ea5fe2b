/// The user and group an agent's processes run as.
public struct AgentIdentity: Sendable, Equatable, Hashable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

/// Hands each agent an unprivileged uid of its own (its gid the same number) from a
/// configured range, as systemd's `DynamicUser=` does: agents then cannot read each
/// other's files or signal each other, and none is root. Pure: the supervisor says which
/// uid an agent's folder already belongs to, so an agent keeps its uid across restarts.
public struct IdentityPool: Sendable, Equatable {
    public let range: ClosedRange<UInt32>
    private var taken: Set<UInt32> = []

    public init(range: ClosedRange<UInt32>) {
        self.range = range
    }

    public var inUse: Int { taken.count }

    /// `preferring` when it is in the range and free, else the lowest free uid; nil when
    /// every uid of the range is taken. `usable` says no to uids the machine already gives
    /// to someone (a user in the password database, another daemon's agent). It may claim
    /// the uid it says yes to: it is asked only about free uids, and its first yes is the
    /// uid returned.
    public mutating func allocate(preferring preferred: UInt32?, usable: (UInt32) -> Bool = { _ in true }) -> AgentIdentity? {
        if let preferred, range.contains(preferred), !taken.contains(preferred), usable(preferred) {
            taken.insert(preferred)
            return AgentIdentity(uid: preferred, gid: preferred)
        }
        guard taken.count < range.count, let free = range.first(where: { !taken.contains($0) && usable($0) }) else { return nil }
        taken.insert(free)
        return AgentIdentity(uid: free, gid: free)
    }

    public mutating func release(_ identity: AgentIdentity) {
        taken.remove(identity.uid)
    }

    /// The range agents get when the daemon runs as root and none is configured: systemd's
    /// for dynamic users, whose uids in use are known to the password database and skipped.
    public static let defaultRange: ClosedRange<UInt32> = 61184...65519

    /// `FIRST-LAST`, e.g. `61184-65519` (systemd's range for dynamic users). Root (0) and
    /// the nobody id (65534) are refused; so is a range wider than 1,000,000.
    public static func parseRange(_ text: String) throws(ValidationError) -> ClosedRange<UInt32> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = UInt32(parts[0]), let high = UInt32(parts[1]), low <= high else {
            throw ValidationError(field: "agent_users", reason: "must be FIRST-LAST uids, e.g. 61184-65519, got \(text.debugDescription)")
        }
        guard low > 0 else { throw ValidationError(field: "agent_users", reason: "must not include uid 0 (root)") }
        guard !(low...high).contains(65534) else { throw ValidationError(field: "agent_users", reason: "must not include 65534 (nobody), which other programs share") }
        guard high - low < 1_000_000 else { throw ValidationError(field: "agent_users", reason: "must span at most 1000000 uids") }
        return low...high
    }
}
