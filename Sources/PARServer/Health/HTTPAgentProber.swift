import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import PARCore
import PARSupervisor

/// Health probes over loopback: HTTP GET through the shared AsyncHTTPClient (pooled
/// keep-alive connections), or a plain TCP connect.
public struct HTTPAgentProber: AgentProber {
    let client: HTTPClient

    public init(client: HTTPClient) {
        self.client = client
    }

    /// The whole probe, body included, is bounded by `timeoutSeconds` (the client's own
    /// deadline ends when the response head arrives).
    public func probe(port: Int, kind: HealthCheckConfig.Kind, timeoutSeconds: Double) async -> ProbeResult {
        await withTaskGroup(of: ProbeResult?.self) { group in
            group.addTask { await self.unboundedProbe(port: port, kind: kind, timeoutSeconds: timeoutSeconds) }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int64(timeoutSeconds * 1000) + 50))
                return Task.isCancelled ? nil : ProbeResult(healthy: false, latencySeconds: timeoutSeconds, error: "no complete answer within \(timeoutSeconds) s")
            }
            var result: ProbeResult?
            while result == nil, let next = await group.next() { result = next }
            group.cancelAll()
            return result ?? ProbeResult(healthy: false, latencySeconds: timeoutSeconds, error: "probe cancelled")
        }
    }

    private func unboundedProbe(port: Int, kind: HealthCheckConfig.Kind, timeoutSeconds: Double) async -> ProbeResult {
        let start = ContinuousClock.now
        func elapsed() -> Double {
            let duration = ContinuousClock.now - start
            return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        }
        let timeout = TimeAmount.milliseconds(Int64(timeoutSeconds * 1000))
        switch kind {
        case .none:
            return ProbeResult(healthy: true, latencySeconds: 0, error: nil)
        case .http(let path):
            do {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                request.method = .GET
                request.headers.add(name: "User-Agent", value: "par-health")
                let response = try await client.execute(request, timeout: timeout)
                _ = try? await response.body.collect(upTo: 64 * 1024)
                let healthy = (200..<400).contains(Int(response.status.code))
                return ProbeResult(healthy: healthy, latencySeconds: elapsed(), error: healthy ? nil : "GET \(path) answered \(response.status.code)")
            } catch {
                return ProbeResult(healthy: false, latencySeconds: elapsed(), error: "GET \(path): \(ProxyErrors.describe(error))")
            }
        case .tcp:
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(timeout)
                    .connect(host: "127.0.0.1", port: port).get()
                try? await channel.close()
                return ProbeResult(healthy: true, latencySeconds: elapsed(), error: nil)
            } catch {
                return ProbeResult(healthy: false, latencySeconds: elapsed(), error: "TCP connect: \(ProxyErrors.describe(error))")
            }
        }
    }
}
