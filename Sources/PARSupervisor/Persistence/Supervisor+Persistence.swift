import Foundation
import PARCore

/// Writing each agent's desired and observed state to the state database.
extension Supervisor {
    func stored(_ agentID: AgentID, _ record: AgentRecord) -> StoredAgent {
        StoredAgent(
            agentID: agentID.rawValue, spec: String(decoding: record.spec.documentJSON(), as: UTF8.self), owner: record.owner,
            desired: record.desired, outcome: record.outcome, port: record.port ?? record.lastPort, run: record.run,
            restartCount: record.restartCount, consecutiveRestarts: record.consecutiveRestarts,
            lastExit: record.lastExit?.json, error: record.error
        )
    }

    /// For requests: a failure is the request's answer (507 on a full disk) and nothing changes.
    func persist(_ agentID: AgentID, _ record: AgentRecord) throws(SupervisorError) {
        do {
            try state.save(stored(agentID, record))
        } catch {
            throw .state(error)
        }
    }

    /// For what happens with nobody to answer (exits, restarts): logged and kept as an event.
    func persistQuietly(_ agentID: AgentID, _ record: AgentRecord) {
        do {
            try state.save(stored(agentID, record))
        } catch {
            reportStateFailure(agentID, error)
        }
    }

    func forgetQuietly(_ agentID: AgentID) {
        do {
            try state.delete(agentID: agentID.rawValue)
        } catch {
            reportStateFailure(agentID, error)
        }
    }

    private func reportStateFailure(_ agentID: AgentID, _ error: StateStoreError) {
        logger.error("cannot write desired state", metadata: ["agent": "\(agentID.rawValue)", "error": "\(error)"])
        logs.appendEvent(agentID: agentID.rawValue, event: .stateNotSaved, level: .error, message: "the state of \(agentID.processID) could not be saved: \(error)", fields: ["reason": .string("state_write_failed")])
    }
}

extension ExitRecord {
    /// `{"code","signal","at","reason","run"}`, `at` in epoch seconds.
    var json: String {
        // Keys in sorted order, as before; JSONWriter rather than JSONSerialization, since this
        // is written on every restart.
        var json = JSONWriter(capacity: 96)
        json.beginObject()
        json.key("at")
        json.double(at.timeIntervalSince1970)
        if let code { json.field("code", Int(code)) }
        json.field("reason", reason)
        json.field("run", run)
        if let signal { json.field("signal", Int(signal)) }
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }

    init?(json: String) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let at = (object["at"] as? NSNumber)?.doubleValue, let reason = object["reason"] as? String,
              let run = (object["run"] as? NSNumber)?.intValue
        else { return nil }
        self.init(
            code: (object["code"] as? NSNumber).map { Int32(truncating: $0) },
            signal: (object["signal"] as? NSNumber).map { Int32(truncating: $0) },
            at: Date(timeIntervalSince1970: at), reason: reason, run: run
        )
    }
}
