import PARCore
import Synchronization

/// The supervisor's records, each change mirrored key by key into a copy behind a lock.
/// Reads (status, health, metrics) take the mirror instead of waiting for the actor, and
/// a change costs one dictionary write there, not a copy of every record (which a
/// whole-table republish costs as soon as a reader shares the storage).
struct RecordTable: Sequence {
    private var records: [AgentID: AgentRecord] = [:]
    let mirror: RecordMirror

    init(mirror: RecordMirror) {
        self.mirror = mirror
    }

    subscript(id: AgentID) -> AgentRecord? {
        get { records[id] }
        set {
            records[id] = newValue
            mirror.set(id, newValue)
        }
    }

    var values: Dictionary<AgentID, AgentRecord>.Values { records.values }
    var keys: Dictionary<AgentID, AgentRecord>.Keys { records.keys }
    var count: Int { records.count }

    func makeIterator() -> Dictionary<AgentID, AgentRecord>.Iterator { records.makeIterator() }
}

/// The lock-guarded copy of the records; `snapshot` is what nonisolated reads see.
final class RecordMirror: Sendable {
    private let records = Mutex<[AgentID: AgentRecord]>([:])

    func set(_ id: AgentID, _ record: AgentRecord?) {
        records.withLock { $0[id] = record }
    }

    /// One record's state, for what its dependants show they wait on.
    func state(of id: AgentID) -> ProcessState? {
        records.withLock { $0[id]?.state }
    }

    func snapshot() -> [AgentID: AgentRecord] {
        records.withLock { $0 }
    }
}
