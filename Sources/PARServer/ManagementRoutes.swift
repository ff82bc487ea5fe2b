import Foundation
import Hummingbird
import PARCore
import PARLogs
import PARSupervisor

/// The seed's lifecycle API over a `Supervisor`.
struct ManagementRoutes<Context: RequestContext>: Sendable {
    let supervisor: Supervisor
    let maxBodyBytes: Int
    let version: String
    let reload: (@Sendable () async throws(SupervisorError) -> ReloadReport)?

    func register(on router: Router<Context>) {
        router.get("/runtime/health") { _, _ in try await self.runtimeHealth() }
        // Health checkers that ask with HEAD (HAProxy's httpchk, many load balancers): the
        // GET's answer, whose body the HTTP layer leaves out for HEAD (its length stays).
        router.head("/runtime/health") { _, _ in try await self.runtimeHealth() }
        router.post("/supervisor/spawn") { request, _ in try await self.spawn(request) }
        router.get("/supervisor/status") { _, _ in try await self.status() }
        router.get("/supervisor/health") { _, _ in await self.fleetHealth() }
        router.get("/supervisor/processes/:process_id") { _, context in
            try await self.process(try context.parameters.require("process_id"))
        }
        router.delete("/supervisor/processes/:process_id") { request, context in
            try await self.remove(request, processID: try context.parameters.require("process_id"))
        }
        router.post("/supervisor/stop/:process_id") { request, context in
            try await self.stop(request, processID: try context.parameters.require("process_id"))
        }
        router.post("/supervisor/restart/:process_id") { request, context in
            try await self.restart(request, processID: try context.parameters.require("process_id"))
        }
        router.post("/supervisor/reload") { request, _ in try await self.reloadConfig(request) }
    }

    /// `POST /supervisor/reload`: applies the config file as it is now, like `kubectl apply`.
    private func reloadConfig(_ request: Request) async throws -> Response {
        let body = try await request.collectBody(limit: maxBodyBytes)
        if body.readableBytes > 0 {
            do {
                let fields = try JSONFields(body: Data(buffer: body))
                try fields.rejectUnknown()
            } catch {
                throw APIError.invalid(error)
            }
        }
        guard let reload else { throw APIError.from(SupervisorError.noConfigFile) }
        let report: ReloadReport
        do {
            report = try await reload()
        } catch {
            throw APIError.from(error)
        }
        return JSONResponse.make([
            "status": "success",
            "added": report.added, "removed": report.removed, "changed": report.changed,
            "adopted": report.adopted, "unchanged": report.unchanged,
            "errors": report.errors, "restart_required": report.restartRequired,
        ] as [String: Any])
    }

    private func runtimeHealth() async throws -> Response {
        JSONResponse.make([
            "status": "healthy",
            "version": version,
            "mode": "supervisor",
            "timestamp": Timestamp.format(Date()),
            "uptime_seconds": (Date().timeIntervalSince(supervisor.startedAt) * 1000).rounded() / 1000,
            "agents": supervisor.agentCount,
            "limits": limitsBackend(),
        ] as [String: Any])
    }

    private func limitsBackend() -> [String: Any] {
        switch supervisor.cgroups.backend {
        case .v2(let directory): ["backend": "cgroup-v2", "enforced": true, "cgroup": directory]
        case .v1(let directories): ["backend": "cgroup-v1", "enforced": true, "cgroup": directories["memory"] ?? ""]
        case .none(let reason): ["backend": "none", "enforced": false, "reason": reason]
        }
    }

    private func spawn(_ request: Request) async throws -> Response {
        let body = try await request.collectBody(limit: maxBodyBytes)
        let spec: AgentSpec
        do {
            var fields = try JSONFields(body: Data(buffer: body))
            spec = try AgentSpec.parse(&fields, defaults: supervisor.config.defaults)
        } catch {
            throw APIError.invalid(error)
        }
        let status: ProcessStatus
        do {
            status = try await supervisor.spawn(spec)
        } catch {
            throw APIError.from(error)
        }
        return launched(status)
    }

    private func restart(_ request: Request, processID: String) async throws -> Response {
        let body = try await request.collectBody(limit: maxBodyBytes)
        var newSpec: AgentSpec?
        if body.readableBytes > 0 {
            let current: AgentSpec
            do {
                current = try await supervisor.spec(processID: processID)
            } catch {
                throw APIError.from(error)
            }
            do {
                var fields = try JSONFields(body: Data(buffer: body))
                if !fields.isEmpty {
                    newSpec = try AgentSpec.parse(&fields, defaults: supervisor.config.defaults, base: current)
                }
            } catch {
                throw APIError.invalid(error)
            }
        }
        let strategy = request.uri.queryParameters.get("strategy") ?? "stop-start"
        guard ["stop-start", "rolling"].contains(strategy) else {
            throw APIError.invalid(ValidationError(field: "strategy", reason: "must be stop-start (stop, then start) or rolling (start the next run beside the current one, switch when it is ready, drain, stop the old one); got \(strategy.debugDescription)"))
        }
        var drain: Double?
        if let raw = request.uri.queryParameters.get("drain_timeout") {
            guard strategy == "rolling" else {
                throw APIError.invalid(ValidationError(field: "drain_timeout", reason: "applies to strategy=rolling only"))
            }
            guard let value = Double(raw), (0...3600).contains(value) else {
                throw APIError.invalid(ValidationError(field: "drain_timeout", reason: "must be a number of seconds from 0 to 3600, got \(raw.debugDescription)"))
            }
            drain = value
        }
        let status: ProcessStatus
        do {
            if strategy == "rolling" {
                status = try await supervisor.rollingRestart(processID: processID, newSpec: newSpec, drainTimeoutSeconds: drain).status
            } else {
                status = try await supervisor.restart(processID: processID, newSpec: newSpec)
            }
        } catch {
            throw APIError.from(error)
        }
        return launched(status)
    }

    private func stop(_ request: Request, processID: String) async throws -> Response {
        let body = try await request.collectBody(limit: maxBodyBytes)
        var timeout: Double?
        do {
            if body.readableBytes > 0 {
                var fields = try JSONFields(body: Data(buffer: body))
                timeout = try fields.double("stop_timeout_seconds", in: 0...3600)
                try fields.rejectUnknown()
            }
            if let raw = request.uri.queryParameters.get("timeout") {
                guard let value = Double(raw), (0...3600).contains(value) else {
                    throw ValidationError(field: "timeout", reason: "must be a number of seconds from 0 to 3600, got \(raw.debugDescription)")
                }
                timeout = value
            }
        } catch let error as ValidationError {
            throw APIError.invalid(error)
        }
        let status: ProcessStatus
        do {
            status = try await supervisor.stop(processID: processID, timeoutSeconds: timeout)
        } catch {
            throw APIError.from(error)
        }
        return success(status, spawned: false)
    }

    /// `DELETE /supervisor/processes/{id}[?force=true]`: the agent leaves the table.
    private func remove(_ request: Request, processID: String) async throws -> Response {
        let force: Bool
        switch request.uri.queryParameters.get("force") {
        case nil, "false": force = false
        case "true": force = true
        case let other?:
            throw APIError.invalid(ValidationError(field: "force", reason: "must be true or false, got \(other.debugDescription)"))
        }
        let final: ProcessStatus
        do {
            final = try await supervisor.remove(processID: processID, force: force)
        } catch {
            throw APIError.from(error)
        }
        var json = JSONWriter()
        json.beginObject()
        json.field("status", "success")
        json.field("process_id", final.processID)
        json.field("removed", true)
        json.key("process")
        json.process(final)
        json.endObject()
        return JSONResponse.make(json)
    }

    private func status() async throws -> Response {
        let (statuses, routes) = supervisor.snapshot()
        let (quota, used) = supervisor.quotas()
        var json = JSONWriter(capacity: 1024 + statuses.count * 1600)
        json.beginObject()
        json.field("supervisor", "running")
        json.key("processes")
        json.beginObject()
        for status in statuses {
            json.key(status.processID)
            json.process(status)
        }
        json.endObject()
        json.key("routes")
        json.beginArray()
        for route in routes { json.string(route) }
        json.endArray()
        json.key("quotas")
        json.beginObject()
        json.key("max_agents"); json.beginObject(); json.field("limit", quota.maxAgents); json.field("used", used.agents); json.endObject()
        json.key("max_total_memory_mb"); json.beginObject(); json.field("limit", quota.maxTotalMemoryMB); json.field("used", used.memoryMB); json.endObject()
        json.key("max_total_cpu"); json.beginObject(); json.field("limit", quota.maxTotalCPU); json.field("used", used.cpu); json.endObject()
        json.endObject()
        json.endObject()
        return JSONResponse.make(json)
    }

    /// The seed's health answer, from cached probe results (no agent is called here).
    private func fleetHealth() async -> Response {
        let statuses = supervisor.statuses()
        // An agent that exited cleanly and waits for its restart (`restarting`) is neither
        // up nor failing: it does not count either way.
        let live = statuses.filter { ($0.pid != nil || $0.nextRestartAt != nil) && $0.state != .restarting }
        let healthy = live.filter { $0.state == .running && $0.healthStatus == "healthy" }.count
        var json = JSONWriter(capacity: 512 + statuses.count * 600)
        json.beginObject()
        let storeFault = supervisor.logs.writeFault
        let failed = statuses.filter { $0.state == .failed }.count
        json.field("status", storeFault != nil ? "degraded" : FleetHealth.status(total: live.count, healthy: healthy, failed: failed))
        json.field("total_agents", live.count)
        json.key("log_store")
        json.beginObject()
        json.field("status", storeFault == nil ? "ok" : "degraded")
        json.field("reason", storeFault.map { "the log store cannot write (\($0.reason)); agents' output waits and nothing is dropped until it can" })
        json.field("since", date: storeFault?.since)
        json.field("lost_lines", supervisor.logs.lostLines)
        json.endObject()
        json.field("healthy_agents", healthy)
        json.field("failed_agents", failed)
        json.field("timestamp", date: Date())
        json.key("agent_health")
        json.beginObject()
        for status in statuses {
            json.key(status.agentID)
            json.beginObject()
            json.field("agent_id", status.agentID)
            json.field("process_id", status.processID)
            json.field("status", status.state == .running ? status.healthStatus : status.state.rawValue)
            json.key("details")
            json.beginObject()
            json.field("state", status.state.rawValue)
            json.field("port", status.port)
            json.field("pid", status.pid)
            json.key("health")
            json.health(status)
            json.key("resources")
            if let usage = status.resources { json.resources(usage) } else { json.null() }
            json.endObject()
            json.endObject()
        }
        json.endObject()
        json.endObject()
        return JSONResponse.make(json)
    }

    private func process(_ processID: String) async throws -> Response {
        var json = JSONWriter()
        json.process(try await statusOrThrow(processID))
        return JSONResponse.make(json)
    }

    private func statusOrThrow(_ processID: String) async throws -> ProcessStatus {
        do {
            return try supervisor.status(processID: processID)
        } catch {
            throw APIError.from(error)
        }
    }

    private func launched(_ status: ProcessStatus) -> Response {
        success(status, spawned: true)
    }

    /// The seed's `{"status": "success", ...}` answer; spawn and restart also give port and pid.
    private func success(_ status: ProcessStatus, spawned: Bool) -> Response {
        var json = JSONWriter()
        json.beginObject()
        json.field("status", "success")
        json.field("process_id", status.processID)
        if spawned {
            json.field("port", status.port)
            json.field("pid", status.pid)
        }
        json.field("state", status.state.rawValue)
        json.key("process")
        json.process(status)
        json.endObject()
        return JSONResponse.make(json)
    }
}
