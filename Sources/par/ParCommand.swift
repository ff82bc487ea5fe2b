import ArgumentParser
import Foundation

@main
struct Par: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "par",
        abstract: "MultiPAR: a supervisor for AI-agent runtimes.",
        version: version,
        subcommands: [Serve.self, ProcessList.self, Describe.self, Top.self, Status.self, Health.self, Spawn.self, Stop.self, Restart.self, Remove.self, Reload.self, Logs.self]
    )
}
