import Foundation
import PARCore
import PARSupervisor

/// The JSON shape of one process in status answers: the seed's fields plus the
/// supervision details. Absent values are written as null so clients see every key.
struct ProcessStatusDocument: Encodable {
    let status: ProcessStatus

    private enum Key: String, CodingKey {
        case processID = "process_id", agentID = "agent_id", packageID = "package_id", packagePath = "package_path"
        case port, state, pid, startedAt = "started_at", uptime, run, restartCount = "restart_count"
        case consecutiveRestarts = "consecutive_restarts", restartPolicy = "restart_policy", maxRestarts = "max_restarts"
        case lastExit = "last_exit", nextRestartAt = "next_restart_at", error, resources, limitsEnforced = "limits_enforced"
    }

    private enum ExitKey: String, CodingKey { case code, signal, signalName = "signal_name", at, reason, run }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(status.processID, forKey: .processID)
        try c.encode(status.agentID, forKey: .agentID)
        try c.encode(status.packageID, forKey: .packageID)
        try c.encode(status.packagePath, forKey: .packagePath)
        try c.encode(status.port, forKey: .port)
        try c.encode(status.state, forKey: .state)
        try c.encode(status.pid, forKey: .pid)
        try c.encode(status.startedAt.map(Timestamp.format), forKey: .startedAt)
        try c.encode(status.uptimeSeconds.map { ($0 * 1000).rounded() / 1000 }, forKey: .uptime)
        try c.encode(status.run, forKey: .run)
        try c.encode(status.restartCount, forKey: .restartCount)
        try c.encode(status.consecutiveRestarts, forKey: .consecutiveRestarts)
        try c.encode(status.restartPolicy, forKey: .restartPolicy)
        try c.encode(status.maxRestarts, forKey: .maxRestarts)
        if let exit = status.lastExit {
            var e = c.nestedContainer(keyedBy: ExitKey.self, forKey: .lastExit)
            try e.encode(exit.code, forKey: .code)
            try e.encode(exit.signal, forKey: .signal)
            try e.encode(exit.signal.flatMap(Termination.signalName), forKey: .signalName)
            try e.encode(Timestamp.format(exit.at), forKey: .at)
            try e.encode(exit.reason, forKey: .reason)
            try e.encode(exit.run, forKey: .run)
        } else {
            try c.encodeNil(forKey: .lastExit)
        }
        try c.encode(status.nextRestartAt.map(Timestamp.format), forKey: .nextRestartAt)
        try c.encode(status.error, forKey: .error)
        try c.encode(status.resources, forKey: .resources)
        try c.encode(status.limitsEnforced, forKey: .limitsEnforced)
    }
}

enum Timestamp {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    static func format(_ date: Date) -> String { date.formatted(style) }
}

/// Encoder shared by the routes: ISO 8601 dates for `sampled_at`.
enum APIEncoding {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        return encoder
    }
}
