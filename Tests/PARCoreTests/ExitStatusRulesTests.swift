import Foundation
import PARCore
import Testing

@Suite("ExitStatusRules")
struct ExitStatusRulesTests {
    @Test func readsCodesAndSignalsInEveryAcceptedSpelling() throws {
        let parsed = try ExitStatusRules.parseList([0, 3, "SIGTERM", "hup", "SIG9", NSNumber(value: 255)] as [Any], field: "success_exit_codes")
        #expect(parsed == [.code(0), .code(3), .signal(15), .signal(1), .signal(9), .code(255)])
    }

    @Test func absentOrNullIsNil() throws {
        #expect(try ExitStatusRules.parseList(nil, field: "x") == nil)
        #expect(try ExitStatusRules.parseList(NSNull(), field: "x") == nil)
    }

    @Test(arguments: [
        ("[256]", "success_exit_codes[0]"),
        ("[0, -1]", "success_exit_codes[1]"),
        ("[\"SIGNOPE\"]", "success_exit_codes[0]"),
        ("[1.5]", "success_exit_codes[0]"),
        ("[true]", "success_exit_codes[0]"),
        ("[{\"code\": 1}]", "success_exit_codes[0]"),
        ("[\"SIG65\"]", "success_exit_codes[0]"),
    ])
    func refusesWhatIsNeitherACodeNorASignalNamingTheEntry(json: String, field: String) throws {
        let list = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [Any] ?? []
        #expect(throws: ValidationError.self) { try ExitStatusRules.parseList(list, field: "success_exit_codes") }
        do {
            _ = try ExitStatusRules.parseList(list, field: "success_exit_codes")
        } catch {
            #expect(error.field == field)
        }
    }

    @Test func refusesANonList() {
        #expect(throws: ValidationError.self) { try ExitStatusRules.parseList(3, field: "no_restart_exit_codes") }
        #expect(throws: ValidationError.self) { try ExitStatusRules.parseList("SIGTERM", field: "no_restart_exit_codes") }
    }

    @Test func exitCodeZeroIsAlwaysASuccessAndAListedOneIsToo() {
        let rules = ExitStatusRules(success: [.code(3), .signal(15)])
        #expect(!rules.isFailure(.exited(code: 0)))
        #expect(!rules.isFailure(.exited(code: 3)))
        #expect(!rules.isFailure(.signaled(signal: 15)))
        #expect(rules.isFailure(.exited(code: 4)))
        #expect(rules.isFailure(.signaled(signal: 9)))
        #expect(rules.isFailure(.exited(code: 15)), "exit code 15 is not SIGTERM")
    }

    @Test func onlyListedExitsPreventARestart() {
        let rules = ExitStatusRules(noRestart: [.code(78), .signal(6)])
        #expect(rules.preventsRestart(.exited(code: 78)))
        #expect(rules.preventsRestart(.signaled(signal: 6)))
        #expect(!rules.preventsRestart(.exited(code: 6)))
        #expect(!rules.preventsRestart(.exited(code: 0)))
    }

    @Test func theDocumentSpellsSignalsByNameAndSortsCodesFirst() {
        let document = ExitStatusRules.document([.signal(15), .code(3), .code(0)])
        #expect(document.count == 3)
        #expect(document[0] as? Int == 0)
        #expect(document[1] as? Int == 3)
        #expect(document[2] as? String == "SIGTERM")
    }

    @Test func everyLinuxSignalNameRoundTrips() throws {
        for signal in Int32(1)...31 {
            let name = try #require(Termination.signalName(signal))
            #expect(Termination.signalNumber(named: name) == signal)
            #expect(try ExitStatus.parse(name, field: "x") == .signal(signal))
        }
    }
}
