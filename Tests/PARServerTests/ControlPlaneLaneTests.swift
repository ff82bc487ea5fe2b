import NIOCore
import NIOPosix
import Testing

@testable import PARServer

@Suite("Control plane lane")
struct ControlPlaneLaneTests {
    private func takes(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { ControlPlaneLane.takes($0) }
    }

    @Test(arguments: [
        "GET /supervisor/status HTTP/1.1\r\n", "GET /supervisor/health HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\n",
        "GET /runtime/health HTTP/1.1\r\n", "HEAD /runtime/health HTTP/1.1\r\n", "GET /supervisor/status?x=1 HTTP/1.1\r\n",
        "GET /supervisor/processes/par-my-agent HTTP/1.1\r\n", "GET /supervisor/processes/my_agent.2 HTTP/1.1\r\n",
        // The request line is all it reads: the rest of the head may still be on its way.
        "GET /metrics ",
    ])
    func quickReadsTakeTheLane(_ head: String) {
        #expect(takes(head), "\(head)")
    }

    @Test(arguments: [
        // Other routes, and the log and event streams, stay on the shared loops.
        "GET /supervisor/logs HTTP/1.1\r\n", "GET /supervisor/logs/stream HTTP/1.1\r\n", "GET /supervisor/events HTTP/1.1\r\n",
        "GET /supervisor/logs/ws HTTP/1.1\r\n", "GET /ui HTTP/1.1\r\n", "GET / HTTP/1.1\r\n", "GET /openapi.json HTTP/1.1\r\n",
        "GET /agents/a/metrics HTTP/1.1\r\n",
        // Writes, even to the same paths.
        "POST /supervisor/status HTTP/1.1\r\n", "DELETE /supervisor/processes/par-a HTTP/1.1\r\n", "POST /supervisor/spawn HTTP/1.1\r\n",
        // Longer paths that begin like a quick read.
        "GET /supervisor/statusx HTTP/1.1\r\n", "GET /metrics/x HTTP/1.1\r\n", "GET /supervisor/status/ HTTP/1.1\r\n",
        "GET /supervisor/processes/ HTTP/1.1\r\n", "GET /supervisor/processes/a/b HTTP/1.1\r\n", "GET /supervisor/processes/A HTTP/1.1\r\n",
        // Not whole yet, or not a request line.
        "GET /metrics", "GET /supervisor/sta", "", "GET", "get /metrics HTTP/1.1\r\n", "GET  /metrics HTTP/1.1\r\n",
        "\r\nGET /metrics HTTP/1.1\r\n",
    ])
    func everythingElseStaysOnTheSharedLoops(_ head: String) {
        #expect(!takes(head), "\(head)")
    }

    /// A task that prefers the lane runs on the lane's thread, awaits and all.
    @Test func aTaskPreferringTheLaneRunsOnItsLoop() async {
        let lane = ControlPlaneLane.shared
        let onLoop = await withTaskGroup(of: [Bool].self) { group in
            group.addTask(executorPreference: lane.executor) {
                var seen = [lane.eventLoop.inEventLoop]
                try? await Task.sleep(for: .milliseconds(5))
                seen.append(lane.eventLoop.inEventLoop)
                await Task.yield()
                seen.append(lane.eventLoop.inEventLoop)
                return seen
            }
            return await group.next() ?? []
        }
        #expect(onLoop == [true, true, true])
        #expect(!lane.eventLoop.inEventLoop)
    }
}
