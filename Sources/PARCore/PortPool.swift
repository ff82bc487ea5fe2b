/// The agents' port range and which ports are handed out. Pure: whether a port is
/// free on the machine is asked through the closure given to `allocate`.
public struct PortPool: Sendable {
    public let range: ClosedRange<Int>
    public private(set) var inUse: Set<Int> = []
    /// Allocation walks the range round-robin so a port just released (perhaps still in
    /// TIME_WAIT) is the last to be handed out again.
    private var cursor: Int

    public init(range: ClosedRange<Int>) {
        self.range = range
        self.cursor = range.lowerBound
    }

    public var available: Int { range.count - inUse.count }

    /// The next port that is neither handed out nor taken on the machine, or nil.
    public mutating func allocate(isFreeOnMachine: (Int) -> Bool) -> Int? {
        guard inUse.count < range.count else { return nil }
        for offset in 0..<range.count {
            let port = range.lowerBound + (cursor - range.lowerBound + offset) % range.count
            guard !inUse.contains(port), isFreeOnMachine(port) else { continue }
            inUse.insert(port)
            cursor = port == range.upperBound ? range.lowerBound : port + 1
            return port
        }
        return nil
    }

    /// `preferred` when it is in the range, not handed out and free; else the next free one.
    public mutating func allocate(preferring preferred: Int?, isFreeOnMachine: (Int) -> Bool) -> Int? {
        if let preferred, range.contains(preferred), !inUse.contains(preferred), isFreeOnMachine(preferred) {
            inUse.insert(preferred)
            return preferred
        }
        return allocate(isFreeOnMachine: isFreeOnMachine)
    }

    /// Marks `port` handed out, if it is in the range and free in the pool.
    public mutating func reserve(_ port: Int) -> Bool {
        guard range.contains(port), !inUse.contains(port) else { return false }
        inUse.insert(port)
        return true
    }

    public mutating func release(_ port: Int) {
        inUse.remove(port)
    }

    /// Parses `8001-8100`.
    public static func parseRange(_ text: String) throws(ValidationError) -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]),
              (1...65535).contains(low), (1...65535).contains(high), low <= high
        else {
            throw ValidationError(field: "port_range", reason: "expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535, e.g. 8001-8100, got \(text.debugDescription)")
        }
        return low...high
    }
}
