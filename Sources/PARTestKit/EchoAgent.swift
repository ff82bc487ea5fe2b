/// A Python agent for proxy and health tests: echoes requests, streams both ways, serves
/// server-sent events, answers slowly on demand, and reports unhealthy while the file
/// named by `HEALTH_FILE` exists. `START_DELAY` seconds pass before it listens.
public enum EchoAgent {
    public static func package(name: String = "echo-agent", health: String? = nil) -> APKGBuilder {
        APKGBuilder(items: [
            .file(path: "agent.yaml", contents: """
            name: \(name)
            version: 1.0.0
            runtime: python3.11
            command: ["python3", "agent.py"]
            """ + (health.map { "\nhealth: \($0)" } ?? "")),
            .file(path: "agent.py", contents: source),
        ])
    }

    static let source = #"""
import base64
import hashlib
import json
import struct
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(os.environ["PORT"])
HEALTH_FILE = os.environ.get("HEALTH_FILE")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        digest = hashlib.sha256()
        total = 0
        length = self.headers.get("Content-Length")
        if length is not None:
            remaining = int(length)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                digest.update(chunk)
                total += len(chunk)
                remaining -= len(chunk)
        elif "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                remaining = size
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    digest.update(chunk)
                    total += len(chunk)
                    remaining -= len(chunk)
                self.rfile.readline()
        return total, digest.hexdigest()

    def send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([len(payload)])
        elif len(payload) < 65536:
            header += bytes([126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([127]) + struct.pack(">Q", len(payload))
        self.wfile.write(header + payload)
        self.wfile.flush()

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        if offered:
            self.send_header("Sec-WebSocket-Protocol", offered[0])
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack(">H", self.rfile.read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self.rfile.read(8))[0]
            mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
            data = bytearray(self.rfile.read(length))
            for i in range(length):
                data[i] ^= mask[i % 4]
            if opcode == 8:
                self.send_frame(8, bytes(data[:2]))
                return
            if opcode == 9:
                self.send_frame(10, bytes(data))
            elif opcode == 1:
                text = data.decode()
                if text == "headers":
                    reply = json.dumps({k.lower(): v for k, v in self.headers.items()})
                else:
                    reply = "echo: " + text
                self.send_frame(1, reply.encode())
            elif opcode == 2:
                self.send_frame(2, bytes(data))

    def handle_any(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/ws" and (self.headers.get("Upgrade") or "").lower() == "websocket":
            self.websocket()
            return
        if url.path == "/health":
            if HEALTH_FILE and os.path.exists(HEALTH_FILE):
                self.send_json(500, {"status": "unhealthy"})
            else:
                self.send_json(200, {"status": "healthy"})
            return
        if url.path == "/stall":
            # Headers, then a body that never comes.
            self.send_response(200)
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.flush()
            time.sleep(3600)
            return
        if url.path == "/slow":
            time.sleep(float(query.get("seconds", ["5"])[0]))
            self.send_json(200, {"slow": True})
            return
        if url.path == "/download":
            size = int(float(query.get("mb", ["1"])[0]) * (1 << 20))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            block = b"x" * (1 << 16)
            sent = 0
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                self.wfile.write(piece)
                sent += len(piece)
            return
        if url.path == "/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            tick = 0
            try:
                while True:
                    self.wfile.write(f"data: tick {tick}\n\n".encode())
                    self.wfile.flush()
                    tick += 1
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                return
        if url.path == "/chunked":
            # Two chunks in separate writes, then a trailer.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Sum")
            self.end_headers()
            self.wfile.write(b"5\r\nhello\r\n")
            self.wfile.flush()
            time.sleep(0.05)
            self.wfile.write(b"6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n")
            self.wfile.flush()
            return
        if url.path == "/until-close":
            # An HTTP/1.0 answer with no length: the body ends when the connection does.
            self.wfile.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello until close")
            self.wfile.flush()
            self.close_connection = True
            return
        if url.path == "/hangup":
            # Reads the request, answers nothing, closes.
            self.read_body()
            self.close_connection = True
            return
        if url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/echo")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length, digest = self.read_body()
        self.send_json(200, {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body_length": length,
            "body_sha256": digest,
        })

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any


def main():
    delay = float(os.environ.get("START_DELAY", "0"))
    if delay:
        time.sleep(delay)
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    print(f"echo agent listening on {PORT}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
"""#
}
