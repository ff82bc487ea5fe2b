import Foundation
import Hummingbird
import HummingbirdCore
import PARCore
import PARLogs

/// The query string of the log endpoints, validated: every bad or unknown parameter is a
/// 400 that names it, so a typo (`proces_id`) never silently widens a query.
struct LogRequest: Sendable {
    enum Endpoint {
        case query, live, clear, events

        var allowed: [String] {
            switch self {
            case .query: ["process_id", "with_events", "level", "min_level", "since", "until", "stream", "q", "order", "limit", "cursor"]
            case .live: ["process_id", "with_events", "level", "min_level", "since", "until", "stream", "q", "tail", "after"]
            case .clear: ["process_id"]
            case .events: ["tail", "after"]
            }
        }
    }

    var filter = LogFilter()
    var order = LogOrder.desc
    var limit = 100
    var cursor: UInt64?
    var tail = 0
    /// Live tails: resume after this sequence (`after=`, or the `Last-Event-ID` a browser's
    /// EventSource sends when it reconnects), replaying every matching line stored since.
    var after: UInt64?

    static let maxLimit = 10_000

    init(_ parameters: FlatDictionary<Substring, Substring>, for endpoint: Endpoint, lastEventID: String? = nil) throws(APIError) {
        let allowed = endpoint.allowed
        for (key, _) in parameters where !allowed.contains(String(key)) {
            throw Self.invalid(String(key), "is not a parameter of this endpoint; use \(allowed.joined(separator: ", "))")
        }
        func value(_ name: String) throws(APIError) -> String? {
            guard let raw = parameters.get(name) else { return nil }
            guard !raw.isEmpty else { throw Self.invalid(name, "is empty; give a value or leave it out") }
            return raw
        }
        if let processID = try value("process_id") {
            guard processID.utf8.count <= 256 else { throw Self.invalid("process_id", "is longer than 256 bytes") }
            filter.processID = processID
        }
        if let raw = try value("with_events") {
            guard let wanted = Bool(raw.lowercased()) else { throw Self.invalid("with_events", "must be true or false, got \(raw.debugDescription)") }
            if wanted {
                guard let agent = filter.processID.flatMap(AgentID.fromProcessID) else {
                    throw Self.invalid("with_events", "needs process_id naming an agent (par-NAME): it adds the supervisor's events about that agent")
                }
                filter.eventsOfAgent = agent.rawValue
            }
        }
        filter.level = try Self.level("level", try value("level"))
        filter.minLevel = try Self.level("min_level", try value("min_level"))
        filter.sinceMicros = try Self.time("since", try value("since"))
        filter.untilMicros = try Self.time("until", try value("until"))
        if let since = filter.sinceMicros, let until = filter.untilMicros, since > until {
            throw Self.invalid("until", "is before since; swap them")
        }
        if let raw = try value("stream") {
            guard let stream = LogStream(rawValue: raw.lowercased()) else {
                throw Self.invalid("stream", "must be stdout, stderr, supervisor or install, got \(raw.debugDescription)")
            }
            filter.stream = stream
        }
        if let raw = try value("q") {
            guard raw.utf8.count <= 1_000 else { throw Self.invalid("q", "is longer than 1000 bytes") }
            guard let search = TextSearch(raw) else { throw Self.invalid("q", "has no letters or digits to search for") }
            filter.text = search
        }
        if let raw = try value("order") {
            guard let parsed = LogOrder(rawValue: raw.lowercased()) else { throw Self.invalid("order", "must be asc or desc, got \(raw.debugDescription)") }
            order = parsed
        }
        if let raw = try value("limit") {
            guard let parsed = Int(raw), (1...Self.maxLimit).contains(parsed) else {
                throw Self.invalid("limit", "must be an integer from 1 to \(Self.maxLimit), got \(raw.debugDescription)")
            }
            limit = parsed
        }
        if let raw = try value("cursor") {
            guard let parsed = UInt64(raw) else {
                throw Self.invalid("cursor", "must be a next_cursor from an earlier answer (digits), got \(raw.debugDescription)")
            }
            cursor = parsed
        }
        if let raw = try value("tail") {
            guard let parsed = Int(raw), (0...Self.maxLimit).contains(parsed) else {
                throw Self.invalid("tail", "must be an integer from 0 to \(Self.maxLimit), got \(raw.debugDescription)")
            }
            tail = parsed
        }
        if let raw = try value("after") {
            guard let parsed = UInt64(raw) else {
                throw Self.invalid("after", "must be the sequence of the last line received (digits), got \(raw.debugDescription)")
            }
            after = parsed
        } else if let lastEventID, !lastEventID.isEmpty {
            guard let parsed = UInt64(lastEventID.trimmingCharacters(in: .whitespaces)) else {
                throw Self.invalid("Last-Event-ID", "must be the id of an event this stream sent (digits), got \(lastEventID.debugDescription)")
            }
            after = parsed
        }
        if after != nil, tail > 0 {
            throw Self.invalid("tail", "cannot be combined with after (or Last-Event-ID): after already replays what was missed")
        }
    }

    var query: LogQuery { LogQuery(filter: filter, order: order, limit: limit, cursor: cursor) }

    private static func level(_ name: String, _ raw: String?) throws(APIError) -> LogLevel? {
        guard let raw else { return nil }
        guard let level = LogLevel(alias: raw) else {
            throw invalid(name, "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or an alias such as warn, err, fatal), got \(raw.debugDescription)")
        }
        return level
    }

    private static func time(_ name: String, _ raw: String?) throws(APIError) -> Int64? {
        guard let raw else { return nil }
        guard let micros = Timestamps.parse(raw) else {
            throw invalid(name, "must be an ISO 8601 time such as 2026-11-27T10:00:00Z (no zone means UTC) or epoch seconds, got \(raw.debugDescription)")
        }
        return micros
    }

    static func invalid(_ field: String, _ reason: String) -> APIError {
        .invalid(ValidationError(field: field, reason: reason))
    }
}
