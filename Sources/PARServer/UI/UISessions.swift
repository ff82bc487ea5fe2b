import Foundation
import Synchronization

/// Browser sessions of the dashboard: the token is entered once and exchanged for a random
/// session id in an `HttpOnly`, `SameSite=Strict` cookie (so `EventSource` and WebSocket
/// work, which cannot send an `Authorization` header), each with its own CSRF token that
/// every state-changing request must echo in `X-CSRF-Token`. Kept in memory: a daemon
/// restart signs everyone out, which is the safe way round.
public final class UISessions: Sendable {
    public static let cookieName = "par_session"
    public static let csrfHeader = "X-CSRF-Token"

    struct Session {
        var csrf: String
        var expires: Double
    }

    public let lifetimeSeconds: Double
    /// Oldest sessions give way beyond this, so sign-ins cannot grow memory without bound.
    private let capacity: Int
    private let sessions = Mutex<[String: Session]>([:])

    public init(lifetimeSeconds: Double = 12 * 3600, capacity: Int = 1_000) {
        self.lifetimeSeconds = lifetimeSeconds
        self.capacity = capacity
    }

    /// A new session: its id (the cookie's value) and its CSRF token.
    func open() -> (id: String, csrf: String) {
        let id = Self.randomHex(), csrf = Self.randomHex()
        let now = Self.now()
        sessions.withLock { table in
            table = table.filter { $0.value.expires > now }
            if table.count >= capacity, let oldest = table.min(by: { $0.value.expires < $1.value.expires })?.key {
                table[oldest] = nil
            }
            table[id] = Session(csrf: csrf, expires: now + lifetimeSeconds)
        }
        return (id, csrf)
    }

    /// The live session a `Cookie` header names, with its id.
    func session(cookieHeader: String?) -> (id: String, csrf: String)? {
        guard let id = Self.cookieValue(cookieHeader) else { return nil }
        let now = Self.now()
        return sessions.withLock { table in
            guard let session = table[id] else { return nil }
            guard session.expires > now else {
                table[id] = nil
                return nil
            }
            return (id, session.csrf)
        }
    }

    func close(id: String) {
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// `Set-Cookie` for a new session; for closing one, `maxAge` 0. No `Secure`: the daemon
    /// speaks plain HTTP on loopback, where a `Secure` cookie would never be sent back.
    func setCookie(_ id: String, maxAge: Int? = nil) -> String {
        "\(Self.cookieName)=\(id); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge ?? Int(lifetimeSeconds))"
    }

    static func cookieValue(_ header: String?) -> String? {
        guard let header else { return nil }
        for part in header.split(separator: ";") {
            let pair = part.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix(cookieName + "=") {
                let value = String(pair.dropFirst(cookieName.count + 1))
                return value.count == 64 && value.allSatisfy(\.isHexDigit) ? value : nil
            }
        }
        return nil
    }

    private static func randomHex() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }

    private static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
