import PARCore
import Testing

@Suite("AgentID")
struct AgentIDTests {
    @Test(arguments: ["a", "0", "agent-1", "my.agent_v2", "a-", "9lives", String(repeating: "x", count: 63)])
    func acceptsNamesOfTheSafeAlphabet(name: String) throws {
        let id = try AgentID(validating: name)
        #expect(id.rawValue == name)
    }

    @Test(arguments: [
        "", "Agent", "-a", ".a", "_a", "a b", "a/b", "a:b", "ä", "a\n", "a\0",
        String(repeating: "x", count: 64),
    ])
    func refusesOtherNames(name: String) {
        #expect(!AgentID.isValid(name))
        #expect(throws: ValidationError.self) { try AgentID(validating: name) }
    }

    @Test func validationErrorNamesTheAgentIDField() throws {
        let error = try #require(throws: ValidationError.self) { try AgentID(validating: "Bad") }
        #expect(error.field == "agent_id")
    }

    @Test func processIDIsParDashAgentID() throws {
        #expect(try AgentID(validating: "x").processID == "par-x")
    }

    @Test func fromProcessIDRecoversTheAgentID() throws {
        #expect(AgentID.fromProcessID("par-my-agent") == (try AgentID(validating: "my-agent")))
    }

    @Test(arguments: ["my-agent", "par-", "par-Bad", "PAR-x", "xpar-x"])
    func fromProcessIDRefusesWhatIsNotAProcessID(text: String) {
        #expect(AgentID.fromProcessID(text) == nil)
    }

    @Test func processIDRoundTrips() throws {
        let id = try AgentID(validating: "a.b_c-d")
        #expect(AgentID.fromProcessID(id.processID) == id)
    }
}
