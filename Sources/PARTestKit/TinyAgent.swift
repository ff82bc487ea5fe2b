import Foundation
import PARProcess

/// The cheapest HTTP agent Python can make (no site, no asyncio: about 30 ms of CPU to
/// start here, against 120 ms for `FastAgent`), for benchmarks of starting many agents,
/// where the agents' own start-up would otherwise be the figure. Answers every request
/// `200 ok`, keep-alive.
public enum TinyAgent {
    /// `interpreter`: a real Python executable; a version manager's shim (a shell script
    /// that finds the interpreter) would cost more than the agent.
    public static func package(interpreter: String = resolvedPython()) -> APKGBuilder {
        APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: tiny-agent
            version: 1.0.0
            command: ["\(interpreter)", "-S", "agent.py"]
            health: {type: tcp}
            """),
            .file(path: "agent.py", contents: source),
        ])
    }

    /// The executable `python3` on PATH really runs (`sys.executable`), or `python3`. As
    /// root, agents run as uids of their own: only an interpreter they can reach counts.
    public static func resolvedPython() -> String {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        let reachable = directories.map { "\($0)/python3" }.first { path in
            FileManager.default.isExecutableFile(atPath: path) && (getuid() != 0 || Spawner.runnableByOthers(path))
        }
        guard let reachable else { return "python3" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: reachable)
        process.arguments = ["-c", "import sys; print(sys.executable)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "python3" }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let path = output.trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !path.isEmpty ? path : "python3"
    }

    static let source = #"""
import os, select, socket

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(os.environ["PORT"])))
listener.listen(128)
listener.setblocking(False)
poller = select.epoll()
poller.register(listener.fileno(), select.EPOLLIN)
clients = {}
while True:
    for fd, _ in poller.poll():
        if fd == listener.fileno():
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                continue
            conn.setblocking(False)
            clients[conn.fileno()] = [conn, b""]
            poller.register(conn.fileno(), select.EPOLLIN)
            continue
        conn, pending = clients[fd]
        try:
            data = conn.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionError:
            data = b""
        if not data:
            poller.unregister(fd)
            conn.close()
            del clients[fd]
            continue
        pending += data
        while b"\r\n\r\n" in pending:
            pending = pending.split(b"\r\n\r\n", 1)[1]
            conn.sendall(ANSWER)
        clients[fd][1] = pending
"""#
}
