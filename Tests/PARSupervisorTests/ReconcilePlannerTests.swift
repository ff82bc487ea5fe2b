import Foundation
import PARCore
@testable import PARSupervisor
import Testing

@Suite("Reconcile: what a starting daemon brings back, what a reload changes")
struct ReconcilePlannerTests {
    let file = "/etc/par/par.yaml"

    func spec(_ id: String, path: String = "/srv/a.apkg", policy: RestartPolicy = .onFailure) -> AgentSpec {
        AgentSpec(agentID: try! AgentID(validating: id), packageID: nil, packagePath: path, restart: RestartConfig(policy: policy))
    }

    func row(_ spec: AgentSpec, owner: String? = nil, desired: StoredAgent.Desired = .running, outcome: StoredAgent.Outcome? = nil, port: Int? = 8001) -> (row: StoredAgent, spec: AgentSpec) {
        (StoredAgent(agentID: spec.agentID.rawValue, spec: String(decoding: spec.documentJSON(), as: UTF8.self), owner: owner, desired: desired, outcome: outcome, port: port, run: 3, restartCount: 2), spec)
    }

    @Test(arguments: [
        // desired, outcome -> started, shown state
        (StoredAgent.Desired.running, StoredAgent.Outcome?.none, true, ProcessState.starting),
        (.stopped, nil, false, .stopped),
        (.running, .failed, false, .failed),
        (.running, .crashed, false, .crashed),
        (.running, .stopped, false, .stopped),
        (.stopped, .failed, false, .failed),
    ])
    func apiAgentsComeBackAsTheyWere(desired: StoredAgent.Desired, outcome: StoredAgent.Outcome?, started: Bool, state: ProcessState) {
        let plan = ReconcilePlanner.boot(stored: [row(spec("a"), desired: desired, outcome: outcome)], file: nil)
        #expect(plan.forget.isEmpty)
        #expect(plan.agents.count == 1)
        #expect(plan.agents[0].start == started)
        #expect(plan.agents[0].state == state)
        #expect(plan.agents[0].preferredPort == 8001, "asks for its old port")
        #expect(plan.agents[0].stored?.restartCount == 2, "counters are kept")
    }

    @Test func fileAgentsAreAddedKeptChangedAndForgotten() {
        let kept = spec("kept")
        let changedBefore = spec("changed")
        let changedAfter = spec("changed", policy: .always)
        let plan = ReconcilePlanner.boot(
            stored: [
                row(kept, owner: file),
                row(changedBefore, owner: file, outcome: .failed),
                row(spec("gone"), owner: file),
                row(spec("api")),
            ],
            file: (file, [kept, changedAfter, spec("new")])
        )
        #expect(plan.forget == ["gone"])
        let byID = Dictionary(uniqueKeysWithValues: plan.agents.map { ($0.spec.agentID.rawValue, $0) })
        #expect(Set(byID.keys) == ["kept", "changed", "new", "api"])
        #expect(byID["kept"]?.start == true)
        #expect(byID["changed"]?.start == true, "a changed spec gets a fresh start even after failing")
        #expect(byID["changed"]?.spec.restart.policy == .always)
        #expect(byID["new"]?.start == true)
        #expect(byID["new"]?.owner == file)
        #expect(byID["api"]?.owner == nil)
    }

    @Test func aManualStopOfAFileAgentIsRemembered() {
        let agent = spec("bot")
        let plan = ReconcilePlanner.boot(stored: [row(agent, owner: file, desired: .stopped)], file: (file, [agent]))
        #expect(plan.agents.first?.start == false)
        #expect(plan.agents.first?.state == .stopped)
    }

    @Test func theFileAdoptsAnAgentSpawnedThroughTheAPI() {
        let agent = spec("bot")
        let plan = ReconcilePlanner.boot(stored: [row(agent)], file: (file, [agent]))
        #expect(plan.agents.first?.owner == file)
        #expect(plan.agents.first?.start == true)
    }

    @Test func withoutTheFileItsAgentsAreKeptAndTheAPIMayManageThem() {
        let plan = ReconcilePlanner.boot(stored: [row(spec("bot"), owner: file)], file: nil)
        #expect(plan.forget.isEmpty)
        #expect(plan.agents.first?.start == true)
        #expect(plan.agents.first?.owner == nil, "no file to change them in: they are the API's")
    }

    @Test func reloadStartsAnAgentThatFailedToStartEvenIfUnchanged() {
        let agent = spec("bot")
        let diff = ReconcilePlanner.reload(
            current: [ReconcilePlanner.CurrentAgent(spec: agent, owner: file, packageDigest: nil, needsStart: true)],
            filePath: file, declared: [agent], fileDigests: [agent.agentID: "d"]
        )
        #expect(diff.changed.map(\.agentID) == [agent.agentID])
        #expect(diff.unchanged.isEmpty)
    }

    @Test func reloadSortsAgentsIntoAddedRemovedChangedAdoptedAndUnchanged() {
        let current = [
            ReconcilePlanner.CurrentAgent(spec: spec("same"), owner: file, packageDigest: "d1"),
            ReconcilePlanner.CurrentAgent(spec: spec("respec"), owner: file, packageDigest: "d1"),
            ReconcilePlanner.CurrentAgent(spec: spec("rebuilt"), owner: file, packageDigest: "d1"),
            ReconcilePlanner.CurrentAgent(spec: spec("dropped"), owner: file, packageDigest: "d1"),
            ReconcilePlanner.CurrentAgent(spec: spec("api"), owner: nil, packageDigest: "d1"),
            ReconcilePlanner.CurrentAgent(spec: spec("other-api"), owner: nil, packageDigest: "d1"),
        ]
        let declared = [spec("same"), spec("respec", policy: .never), spec("rebuilt"), spec("api"), spec("fresh")]
        let diff = ReconcilePlanner.reload(
            current: current, filePath: file, declared: declared,
            fileDigests: [declared[0].agentID: "d1", declared[1].agentID: "d1", declared[2].agentID: "d2", declared[3].agentID: "d1"]
        )
        #expect(diff.unchanged.map(\.rawValue) == ["same"])
        #expect(diff.changed.map(\.agentID.rawValue) == ["rebuilt", "respec"])
        #expect(diff.removed.map(\.rawValue) == ["dropped"], "API agents the file never declared are not its to remove")
        #expect(diff.adopted.map(\.agentID.rawValue) == ["api"])
        #expect(diff.added.map(\.agentID.rawValue) == ["fresh"])
    }

    @Test func reloadingTheSameFileChangesNothing() {
        let specs = (1...100).map { spec("agent-\($0)") }
        let current = specs.map { ReconcilePlanner.CurrentAgent(spec: $0, owner: file, packageDigest: "d") }
        let diff = ReconcilePlanner.reload(current: current, filePath: file, declared: specs, fileDigests: Dictionary(uniqueKeysWithValues: specs.map { ($0.agentID, "d") }))
        #expect(diff.unchanged.count == 100)
        #expect(diff.added.isEmpty && diff.removed.isEmpty && diff.changed.isEmpty && diff.adopted.isEmpty)
    }
}

@Suite("Desired state on disk")
struct DesiredStateStoreTests {
    func temporaryPath() -> (URL, String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("par-state-\(UUID().uuidString)")
        return (folder, folder.appendingPathComponent("state/state.sqlite").path)
    }

    @Test func rowsSurviveReopening() throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            let store = try DesiredStateStore(path: path)
            try store.save(StoredAgent(agentID: "a", spec: "{}", owner: "/f.yaml", desired: .running, port: 8001, run: 4, restartCount: 3, consecutiveRestarts: 1, lastExit: "{\"reason\":\"exited\"}", error: "x"))
            try store.save(StoredAgent(agentID: "b", spec: "{}", owner: nil, desired: .stopped, outcome: .failed))
            try store.delete(agentID: "missing")
        }
        let reopened = try DesiredStateStore(path: path)
        let rows = try reopened.loadAll()
        #expect(rows.map(\.agentID) == ["a", "b"])
        #expect(rows[0] == StoredAgent(agentID: "a", spec: "{}", owner: "/f.yaml", desired: .running, port: 8001, run: 4, restartCount: 3, consecutiveRestarts: 1, lastExit: "{\"reason\":\"exited\"}", error: "x"))
        #expect(rows[1].outcome == .failed)
        try reopened.delete(agentID: "a")
        #expect(try reopened.loadAll().map(\.agentID) == ["b"])
    }

    @Test func aDamagedFileIsRefusedNotReset() throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let garbage = Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try DesiredStateStore(path: path)
        } throws: { error in
            guard case .corrupt(let named, _)? = error as? StateStoreError else { return false }
            return named == path
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage, "the file is left as it was")
    }

    @Test func aFileFromANewerDaemonIsRefused() throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        do {
            let store = try DesiredStateStore(path: path)
            try store.setUserVersion(DesiredStateStore.schemaVersion + 1)
        }
        #expect {
            _ = try DesiredStateStore(path: path)
        } throws: { error in
            guard case .newerVersion(let named, let found, _)? = error as? StateStoreError else { return false }
            return named == path && found == DesiredStateStore.schemaVersion + 1
        }
    }

    @Test func aFullDiskFailsTheWriteAndKeepsWhatWasThere() throws {
        let (folder, path) = temporaryPath()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try DesiredStateStore(path: path)
        try store.save(StoredAgent(agentID: "kept", spec: "{}", owner: nil, desired: .running))
        try store.limitPages(try store.pageCount())
        let big = String(repeating: "x", count: 64 * 1024)
        #expect {
            try store.save(StoredAgent(agentID: "new", spec: big, owner: nil, desired: .running))
        } throws: { error in
            if case .diskFull? = error as? StateStoreError { return true }
            return false
        }
        #expect(try store.loadAll().map(\.agentID) == ["kept"])
    }
}
