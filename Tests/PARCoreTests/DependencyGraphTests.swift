import Foundation
import PARCore
import Testing

@Suite("Dependencies: parsing, cycles, order")
struct DependencyGraphTests {
    func id(_ raw: String) -> AgentID { try! AgentID(validating: raw) }

    func edges(_ pairs: [String: [String]]) -> [AgentID: [AgentID]] {
        Dictionary(uniqueKeysWithValues: pairs.map { (id($0.key), $0.value.map(id)) })
    }

    @Test func readsTheShortAndTheLongForm() throws {
        let list = try Dependency.parseList(["db", ["agent": "cache", "condition": "healthy", "restart": true]], field: "depends_on")
        #expect(list == [
            Dependency(agentID: id("db"), condition: .started, restart: false),
            Dependency(agentID: id("cache"), condition: .healthy, restart: true),
        ])
    }

    @Test(arguments: [
        ("[3]", "depends_on[0]"),
        ("[{\"agent\": \"db\", \"condition\": \"ready\"}]", "depends_on[0].condition"),
        ("[{\"agent\": \"db\", \"when\": 1}]", "depends_on[0].when"),
        ("[{\"condition\": \"healthy\"}]", "depends_on[0].agent"),
        ("[{\"agent\": \"db\", \"restart\": \"yes\"}]", "depends_on[0].restart"),
        ("[\"db\", {\"agent\": \"db\"}]", "depends_on[1]"),
        ("[\"UPPER\"]", "depends_on[0]"),
    ])
    func refusesMalformedEntriesNamingThem(json: String, field: String) throws {
        let items = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any] ?? []
        do {
            _ = try Dependency.parseList(items, field: "depends_on")
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.field.hasPrefix(field), "\(error)")
        }
    }

    @Test func aStartedConditionNeedsAProcessAHealthyOneReadiness() {
        let started = Dependency(agentID: id("db"), condition: .started)
        let healthy = Dependency(agentID: id("db"), condition: .healthy)
        let starting = DependencyState(started: true, healthy: false, state: "starting")
        let running = DependencyState(started: true, healthy: true, state: "running")
        let down = DependencyState(started: false, healthy: false, state: "crashed")
        #expect(DependencyGraph.isMet(started, by: starting))
        #expect(!DependencyGraph.isMet(healthy, by: starting))
        #expect(DependencyGraph.isMet(healthy, by: running))
        #expect(!DependencyGraph.isMet(started, by: down))
        #expect(!DependencyGraph.isMet(started, by: nil), "an unknown agent meets nothing")
    }

    @Test func unmetKeepsTheDeclaredOrder() {
        let list = [Dependency(agentID: id("b")), Dependency(agentID: id("a")), Dependency(agentID: id("c"))]
        let unmet = DependencyGraph.unmet(list) { $0.rawValue == "a" ? DependencyState(started: true, healthy: true, state: "running") : nil }
        #expect(unmet.map(\.agentID.rawValue) == ["b", "c"])
    }

    @Test func findsACycleAndNamesItAsAPath() {
        #expect(DependencyGraph.cycle(edges(["a": ["b"], "b": ["c"], "c": ["a"]])) == ["a", "b", "c", "a"].map(id))
        #expect(DependencyGraph.cycle(edges(["a": ["a"]])) == ["a", "a"].map(id))
        #expect(DependencyGraph.cycle(edges(["a": ["b"], "b": [], "c": ["a", "b"]])) == nil)
        // A diamond is no cycle.
        #expect(DependencyGraph.cycle(edges(["top": ["l", "r"], "l": ["base"], "r": ["base"], "base": []])) == nil)
    }

    @Test func aCycleDeepInALargeGraphIsFound() {
        var pairs: [String: [String]] = [:]
        for index in 0..<500 { pairs["n\(index)"] = ["n\(index + 1)"] }
        #expect(DependencyGraph.cycle(edges(pairs)) == nil)
        pairs["n500"] = ["n250"]
        let cycle = DependencyGraph.cycle(edges(pairs))
        #expect(cycle?.first == cycle?.last)
        #expect(cycle?.count == 252)
    }

    @Test func aChainOfTenThousandIsCheckedWithoutRecursion() {
        var pairs: [String: [String]] = [:]
        for index in 0..<10_000 { pairs["n\(index)"] = index == 0 ? [] : ["n\(index - 1)"] }
        #expect(DependencyGraph.cycle(edges(pairs)) == nil)
        pairs["n0"] = ["n9999"]
        #expect(DependencyGraph.cycle(edges(pairs))?.count == 10_001)
    }

    @Test func anUnknownAgentIsNamed() {
        let problem = DependencyGraph.problem(edges(["app": ["db", "ghost"]]), known: Set(["app", "db"].map(id)))
        #expect(problem?.agent == id("app"))
        #expect(problem?.reason.contains("ghost") == true)
        #expect(DependencyGraph.problem(edges(["app": ["db"]]), known: Set(["app", "db"].map(id))) == nil)
    }

    @Test func dependantsStopBeforeWhatTheyDependOn() {
        let graph = edges(["web": ["api", "db"], "api": ["db"], "db": [], "cron": []])
        let waves = DependencyGraph.stopWaves(Set(["web", "api", "db", "cron"].map(id)), edges: graph)
        #expect(waves == [["cron", "web"].map(id), ["api"].map(id), ["db"].map(id)])
    }

    @Test func stopWavesIgnoreAgentsOutsideTheSetAndEndEvenOnACycle() {
        #expect(DependencyGraph.stopWaves(Set(["api"].map(id)), edges: edges(["api": ["db"]])) == [["api"].map(id)])
        let waves = DependencyGraph.stopWaves(Set(["a", "b", "c"].map(id)), edges: edges(["a": ["b"], "b": ["a"], "c": ["a"]]))
        #expect(waves == [["c"].map(id), ["a", "b"].map(id)])
    }

    @Test func onlyDependantsWithRestartTrueAreRestarted() {
        let dependencies: [AgentID: [Dependency]] = [
            id("follower"): [Dependency(agentID: id("db"), restart: true)],
            id("bystander"): [Dependency(agentID: id("db"))],
            id("other"): [Dependency(agentID: id("cache"), restart: true)],
        ]
        #expect(DependencyGraph.restartingDependants(of: id("db"), in: dependencies) == [id("follower")])
    }

    @Test func aSpecRoundTripsItsDependencies() throws {
        var spec = AgentSpec(agentID: id("app"), packageID: nil, packagePath: "/p")
        spec.dependencies = [Dependency(agentID: id("db"), condition: .healthy, restart: true), Dependency(agentID: id("cache"))]
        #expect(try AgentSpec.fromDocument(spec.documentJSON()) == spec)
    }
}
