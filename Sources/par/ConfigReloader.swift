import Foundation
import Logging
import PARConfig
import PARCore
import PARSupervisor
import ServiceLifecycle
import UnixSignals

/// Re-reads the config file and applies its agents; shared by `POST /supervisor/reload`,
/// `par reload` and SIGHUP.
struct ConfigReloader: Sendable {
    let path: String
    let supervisor: Supervisor
    /// The file's options when the daemon started: a change to one needs a daemon restart.
    let startSettings: [String: SettingValue]
    let stableSecondsFlag: Double?

    init(path: String, supervisor: Supervisor, startSettings: [String: SettingValue], flags: Serve) {
        self.path = path
        self.supervisor = supervisor
        self.startSettings = startSettings
        self.stableSecondsFlag = flags.stableSeconds
    }

    func reload() async throws(SupervisorError) -> ReloadReport {
        let file: ConfigFile
        do {
            file = try ConfigFile.load(path: path, environment: ProcessInfo.processInfo.environment, defaults: defaults(for: path))
        } catch {
            throw .configInvalid(error.issues.map(\.description))
        }
        var report = try await supervisor.applyConfig(DeclaredAgents(path: file.path, agents: file.agents))
        let keys = Set(startSettings.keys).union(file.settings.keys)
        report.restartRequired = keys.filter { startSettings[$0] != file.settings[$0] }.sorted()
        return report
    }

    private func defaults(for path: String) -> AgentSpecDefaults {
        var defaults = AgentSpecDefaults()
        if let stable = stableSecondsFlag ?? startSettings["stable_seconds"].flatMap(ServeOptions.double) {
            defaults.restart.stableSeconds = stable
        }
        return defaults
    }
}

/// SIGHUP reloads the config file, as it does for most daemons (`systemctl reload par`).
struct ReloadOnHangup: Service {
    let signals: UnixSignalsSequence
    /// Nil when the daemon runs without --config: the signal is then logged and ignored.
    let reloader: ConfigReloader?
    let logger: Logger

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() {
            guard let reloader else {
                logger.warning("SIGHUP ignored: the daemon was started without --config, so there is no file to reload")
                continue
            }
            do {
                let report = try await reloader.reload()
                logger.info("SIGHUP: config reloaded", metadata: [
                    "added": "\(report.added)", "removed": "\(report.removed)", "changed": "\(report.changed)",
                    "unchanged": "\(report.unchanged.count)", "errors": "\(report.errors)", "restart_required": "\(report.restartRequired)",
                ])
            } catch {
                logger.error("SIGHUP: config not reloaded; nothing was changed", metadata: ["error": "\(error)"])
            }
        }
    }
}
