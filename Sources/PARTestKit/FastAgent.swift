/// An agent that answers every request at once with a tiny fixed body, for measuring the
/// proxy rather than the agent (Python asyncio, keep-alive, no parsing beyond the head).
public enum FastAgent {
    public static func package() -> APKGBuilder {
        APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: fast-agent
            version: 1.0.0
            runtime: python3.11
            command: ["python3", "agent.py"]
            health: {type: tcp}
            """),
            .file(path: "agent.py", contents: source),
        ])
    }

    static let source = #"""
import asyncio
import os

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class Answer(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.pending = b""

    def data_received(self, data):
        self.pending += data
        while True:
            end = self.pending.find(b"\r\n\r\n")
            if end < 0:
                return
            self.pending = self.pending[end + 4:]
            self.transport.write(RESPONSE)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Answer, "127.0.0.1", int(os.environ["PORT"]), backlog=1024)
    print("fast agent ready", flush=True)
    await server.serve_forever()


asyncio.run(main())
"""#
}
