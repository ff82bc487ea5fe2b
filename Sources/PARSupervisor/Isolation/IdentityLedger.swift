import Foundation
import PARCore
import PARProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The uids of `--agent-users`, shared by the two kinds of holder: agents (the supervisor)
/// and dependency installs (the environment builder, so a package's `setup.py` never runs
/// as root). A uid in use is claimed machine-wide too (`MachineClaim`): another daemon on
/// the same range passes over it.
final class IdentityLedger: Sendable {
    let range: ClosedRange<UInt32>
    private let state: Mutex<(pool: IdentityPool, claims: [UInt32: Int32])>

    init(range: ClosedRange<UInt32>) {
        self.range = range
        state = Mutex((IdentityPool(range: range), [:]))
    }

    /// `preferred` when free, else the lowest uid that no user has and no daemon holds.
    func take(preferring preferred: UInt32?) -> AgentIdentity? {
        state.withLock { state in
            var claim: Int32 = -1
            let taken = state.pool.allocate(preferring: preferred) { uid in
                guard getpwuid(uid) == nil, let fd = MachineClaim.hold(MachineClaim.agentUID(uid)) else { return false }
                claim = fd
                return true
            }
            if let taken { state.claims[taken.uid] = claim }
            return taken
        }
    }

    func release(_ identity: AgentIdentity) {
        state.withLock { state in
            state.pool.release(identity)
            if let claim = state.claims.removeValue(forKey: identity.uid) { MachineClaim.release(claim) }
        }
    }

    var inUse: Int { state.withLock { $0.pool.inUse } }
}
