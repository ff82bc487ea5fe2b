/// The bundled worker that runs a Python `entrypoint` package: stdlib only, written to
/// the data dir at start. Kept in the binary (not a resource bundle) so a copied `par`
/// binary still carries it.
public enum PythonWorker {
    public static let fileName = "par_worker.py"

    public static let source = #"""
"""MultiPAR worker: serves one Python agent package's entrypoint over HTTP.

GET /health  -> {"status": "healthy", "agent_id": ..., "entrypoint": ...}
POST /invoke -> the entrypoint function's JSON result for the JSON body
"""
import argparse
import importlib
import json
import os
import signal
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def log(level, message, **extra):
    record = {"level": level, "message": message}
    record.update(extra)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def load(entrypoint, package_dir):
    module_name, function_name = entrypoint.split(":", 1)
    if package_dir not in sys.path:
        sys.path.insert(0, package_dir)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"{entrypoint} is not callable")
    return function


def make_handler(function, agent_id, entrypoint):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status, payload):
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.split("?", 1)[0] == "/health":
                self._send(200, {"status": "healthy", "agent_id": agent_id, "entrypoint": entrypoint})
            else:
                self._send(404, {"error": "not found", "detail": f"no route {self.path}; try POST /invoke or GET /health"})

        def do_POST(self):
            if self.path.split("?", 1)[0] != "/invoke":
                self._send(404, {"error": "not found", "detail": f"no route {self.path}; try POST /invoke"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                context = json.loads(raw or b"{}")
            except ValueError as error:
                self._send(400, {"error": "invalid JSON", "detail": str(error)})
                return
            if not isinstance(context, dict):
                self._send(400, {"error": "invalid request", "detail": "the body must be a JSON object"})
                return
            try:
                result = function(context)
                json.dumps(result)
            except Exception as error:  # the agent's own failure: report it, keep serving
                log("ERROR", f"entrypoint raised: {error!r}", traceback=traceback.format_exc())
                self._send(500, {"error": type(error).__name__, "detail": str(error)})
                return
            self._send(200, result)

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--agent-id", required=True)
    parser.add_argument("--package-path", required=True)
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--package-dir", default=os.getcwd())
    args = parser.parse_args()
    function = load(args.entrypoint, args.package_dir)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(function, args.agent_id, args.entrypoint))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    log("INFO", f"agent {args.agent_id} serving {args.entrypoint} on 127.0.0.1:{args.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        log("INFO", f"agent {args.agent_id} stopped")


if __name__ == "__main__":
    main()
"""#
}
