import Foundation
import PARConfig
import PARCore
import Testing

@Suite("Config file: options, agents, ${VAR} and errors with lines")
struct ConfigFileTests {
    let path = "/etc/par/par.yaml"

    func parse(_ text: String, env: [String: String] = [:]) throws(ConfigErrors) -> ConfigFile {
        try ConfigFile.parse(text, path: path, environment: env)
    }

    func issues(_ text: String, env: [String: String] = [:]) -> [ConfigIssue] {
        do {
            _ = try parse(text, env: env)
            return []
        } catch {
            return error.issues
        }
    }

    @Test func optionsAndAgentsAreRead() throws {
        let file = try parse("""
            host: 127.0.0.1
            port: 9000
            port_range: 9001-9050
            package_dirs: [/srv/agents]
            proxy_timeout: 5
            cgroup_every_agent: true
            agents:
              bot:
                package_path: agents/bot.apkg
                restart_policy: always
                memory_limit_mb: 256
                env_vars: {MODE: prod, WORKERS: 4}
                health_check: {type: tcp}
              other:
                package_path: /srv/agents/other.apkg
            """)
        #expect(file.settings["port"] == .int(9000))
        #expect(file.settings["host"] == .string("127.0.0.1"))
        #expect(file.settings["package_dirs"] == .strings(["/srv/agents"]))
        #expect(file.settings["proxy_timeout"] == .double(5))
        #expect(file.settings["cgroup_every_agent"] == .bool(true))
        #expect(file.agents.map(\.agentID.rawValue) == ["bot", "other"])
        let bot = try #require(file.agents.first)
        #expect(bot.packagePath == "/etc/par/agents/bot.apkg", "relative to the file's folder")
        #expect(bot.restart.policy == .always)
        #expect(bot.limits.memoryMB == 256)
        #expect(bot.env == ["MODE": "prod", "WORKERS": "4"])
        #expect(bot.healthCheck?.kind == .tcp)
    }

    @Test func variablesExpandFromTheEnvironmentWithDefaults() throws {
        let file = try parse("""
            port: ${PAR_PORT:-8100}
            data_dir: ${STATE}/par
            agents:
              bot:
                package_path: /srv/bot.apkg
                env_vars:
                  API_KEY: ${API_KEY}
                  PRICE: "$$5"
                max_restarts: ${RESTARTS:-7}
            """, env: ["STATE": "/var/lib", "API_KEY": "sk-123"])
        #expect(file.settings["port"] == .int(8100))
        #expect(file.settings["data_dir"] == .string("/var/lib/par"))
        #expect(file.agents[0].env["API_KEY"] == "sk-123")
        #expect(file.agents[0].env["PRICE"] == "$5")
        #expect(file.agents[0].restart.maxRestarts == 7)
    }

    @Test func everyErrorIsReportedWithItsLineAndKey() {
        let found = issues("""
            host: 127.0.0.1
            prot: 9000
            port: nine
            agents:
              good:
                package_path: /srv/a.apkg
              bad:
                package_path: /srv/b.apkg
                memory_limit_mb: 1
              worse:
                package_path: /srv/c.apkg
                restart_policy: sometimes
              "no/slash":
                package_path: /srv/d.apkg
              secret:
                package_path: /srv/e.apkg
                env_vars: {KEY: "${MISSING}"}
            """)
        let byKey = Dictionary(found.map { ($0.key ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(found.count == 6, "\(found)")
        #expect(byKey["prot"]?.line == 2)
        #expect(byKey["prot"]?.message.contains("did you mean port") == true)
        #expect(byKey["port"]?.line == 3)
        #expect(byKey["agents.bad.memory_limit_mb"]?.line == 9)
        #expect(byKey["agents.worse.restart_policy"]?.line == 12)
        #expect(byKey["agents.no/slash"]?.line == 13)
        #expect(byKey["agents.secret.env_vars.KEY"]?.line == 17)
        #expect(found.allSatisfy { $0.file == path })
        #expect(found[0].description.hasPrefix("/etc/par/par.yaml:2: prot: "))
    }

    @Test func duplicateIdsAndAgentIDInsideAreRefused() {
        let duplicate = issues("""
            agents:
              bot:
                package_path: /srv/a.apkg
              bot:
                package_path: /srv/b.apkg
            """)
        #expect(duplicate.count == 1)
        #expect(duplicate.first?.message.contains("bot") == true)
        let inner = issues("""
            agents:
              bot:
                agent_id: bot
                package_path: /srv/a.apkg
            """)
        #expect(inner.first?.key == "agents.bot.agent_id")
    }

    @Test func idsAndOptionsThatDifferOnlyByYAMLTagAreDuplicates() {
        let ids = issues("""
            agents:
              1:
                package_path: /srv/a.apkg
              "1":
                package_path: /srv/b.apkg
            """)
        #expect(ids.count == 1)
        #expect(ids.first?.line == 4)
        #expect(ids.first?.message.contains("declared twice") == true)
        let options = issues("port: 1\n\"port\": 2\n")
        #expect(options.count == 1, "\(options)")
    }

    @Test func environmentValuesAndPathsStayTextWhateverTheyLookLike() throws {
        let file = try parse("""
            agents:
              bot:
                package_path: /srv/007.apkg
                package_id: 1.10
                env_vars:
                  ZIP: 01234
                  VERSION: 1.10
                  BIG: 12345678901234567890
                  FLAG: true
                  TOKEN: ${TOKEN}
                health_check: {path: /1.0}
            """, env: ["TOKEN": "0042"])
        let env = file.agents[0].env
        #expect(env == ["ZIP": "01234", "VERSION": "1.10", "BIG": "12345678901234567890", "FLAG": "true", "TOKEN": "0042"])
        #expect(file.agents[0].packageID == "1.10")
    }

    @Test func optionsOfAKnownFormAreCheckedWithTheirLine() {
        let found = issues("""
            port: 70000
            port_range: 9000
            log_level: loud
            agents:
              bot:
                package_path: /srv/a.apkg
                memory_limit_mb: 1
            """)
        #expect(found.map(\.key) == ["port", "port_range", "log_level", "agents.bot.memory_limit_mb"])
        #expect(found.map(\.line) == [1, 2, 3, 7])
    }

    @Test func anOptionWithNoValueKeepsItsDefault() throws {
        let file = try parse("data_dir: ~\nport:\n")
        #expect(file.settings.isEmpty)
    }

    @Test func quotedScalarsStayStringsAndTypesAreChecked() {
        let found = issues("""
            port: "8000"
            proxy_requires_token: yes
            package_dirs: /srv
            """)
        #expect(Set(found.compactMap(\.key)) == ["port", "proxy_requires_token", "package_dirs"])
    }

    @Test func anEmptyFileIsValidAndNotAMappingIsNot() throws {
        #expect(try parse("").agents.isEmpty)
        #expect(try parse("agents:\n").agents.isEmpty)
        #expect(issues("- a\n- b\n").count == 1)
        #expect(issues("agents: [a]\n").first?.key == "agents")
        #expect(issues("port: [\n").first?.message.contains("not valid YAML") == true)
    }

    @Test func expansionRules() throws {
        #expect(try VariableExpansion.expand("a-${X}-b", environment: ["X": "1"]) == "a-1-b")
        #expect(try VariableExpansion.expand("${X:-d}", environment: [:]) == "d")
        #expect(try VariableExpansion.expand("${X:-d}", environment: ["X": ""]) == "d")
        #expect(try VariableExpansion.expand("$X and $$", environment: ["X": "1"]) == "$X and $")
        #expect(throws: VariableExpansion.Failure.self) { try VariableExpansion.expand("${X}", environment: [:]) }
        #expect(throws: VariableExpansion.Failure.self) { try VariableExpansion.expand("${X", environment: ["X": "1"]) }
        #expect(throws: VariableExpansion.Failure.self) { try VariableExpansion.expand("${A B}", environment: [:]) }
        #expect(throws: VariableExpansion.Failure.self) { try VariableExpansion.expand("${A:-${B}}", environment: ["B": "1"]) }
    }
}
