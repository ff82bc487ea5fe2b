/// The supervisor-wide restart budget: a token bucket of `burst` tokens refilled at
/// `ratePerSecond`. A restart over the budget is not refused: it reserves the next token
/// and waits for it (the balance goes negative), so restarts are delayed, never dropped,
/// and come back in the order they were asked for. Pure: the caller passes the time.
public struct RestartBudget: Sendable, Equatable {
    public let ratePerSecond: Double
    public let burst: Double
    /// Whole tokens may go below zero: each one below is a restart already waiting.
    public private(set) var tokens: Double
    private var updatedAt: Double

    /// - Parameter ratePerSecond: 0 (or less) turns the budget off: every restart may go at once.
    public init(ratePerSecond: Double, burst: Int, now: Double = 0) {
        self.ratePerSecond = ratePerSecond
        self.burst = Double(max(1, burst))
        self.tokens = self.burst
        self.updatedAt = now
    }

    public var isUnlimited: Bool { ratePerSecond <= 0 || !ratePerSecond.isFinite }

    /// Takes a token for a restart wanted at `notBefore` (its backoff) and says when it may
    /// run: `notBefore`, or later when the bucket is empty.
    public mutating func reserve(now: Double, notBefore: Double) -> Double {
        guard !isUnlimited else { return notBefore }
        refill(now: now)
        tokens -= 1
        let available = tokens >= 0 ? now : now + (-tokens) / ratePerSecond
        return max(notBefore, available)
    }

    /// The balance at `now` without taking anything (for metrics).
    public func balance(at now: Double) -> Double {
        guard !isUnlimited else { return burst }
        return min(burst, tokens + max(0, now - updatedAt) * ratePerSecond)
    }

    private mutating func refill(now: Double) {
        tokens = balance(at: now)
        updatedAt = max(updatedAt, now)
    }
}
