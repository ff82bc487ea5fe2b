/// The bundled worker that runs a Python package: its `entrypoint` at `POST /invoke` and
/// its pixell surfaces (`rest:` routes on FastAPI, `ui:` files at `/ui/`, the `a2a:`
/// service on a port of its own). Without `rest:` it needs only the standard library, so
/// a plain entrypoint package starts fast; FastAPI is imported only for `rest:`. Written
/// to the data dir at start and kept in the binary (not a resource bundle) so a copied
/// `par` binary still carries it.
public enum PythonWorker {
    public static let fileName = "par_worker.py"

    public static let source = #"""
"""MultiPAR worker: serves one Python agent package over HTTP.

GET  /health  -> {"ok", "status", "agent_id", "surfaces": {"rest", "ui", "a2a"}}; 503 until
                 every configured surface is up
POST /invoke  -> the entrypoint function's JSON result for the JSON body
GET  /ui/...  -> the package's ui folder (with ui:)
the package's own routes (with rest:), on a FastAPI app
the a2a service on --a2a-port (with a2a:)
"""
import argparse
import email.utils
import importlib
import inspect
import json
import mimetypes
import os
import signal
import socket
import sys
import threading
import traceback
import urllib.parse


def log(level, message, **extra):
    record = {"level": level, "message": message}
    record.update(extra)
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def load(spec, package_dir):
    module_name, function_name = spec.split(":", 1)
    if package_dir not in sys.path:
        sys.path.insert(0, package_dir)
    module = importlib.import_module(module_name)
    function = getattr(module, function_name)
    if not callable(function):
        raise TypeError(f"{spec} is not callable")
    return function


class Surfaces:
    """What is configured and whether each part is up, for /health."""

    def __init__(self, args):
        self.args = args
        self.rest_up = False
        self.a2a_error = None
        self.a2a_returned = False

    def a2a_listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.args.a2a_port), timeout=0.25):
                return True
        except OSError:
            return False

    def report(self):
        args = self.args
        surfaces = {"rest": bool(args.rest) and self.rest_up, "ui": bool(args.ui_dir), "a2a": False}
        detail = {}
        ok = not args.rest or self.rest_up
        if args.a2a:
            if self.a2a_listening():
                surfaces["a2a"] = True
            elif self.a2a_error:
                ok = False
                detail["a2a"] = f"the a2a service failed: {self.a2a_error}"
            elif self.a2a_returned:
                detail["a2a"] = f"{args.a2a} returned without listening on port {args.a2a_port}"
            else:
                ok = False
                detail["a2a"] = f"waiting for {args.a2a} to listen on port {args.a2a_port}"
        body = {"ok": ok, "status": "healthy" if ok else "starting", "agent_id": args.agent_id,
                "entrypoint": args.entrypoint, "surfaces": surfaces}
        if args.a2a:
            body["a2a_port"] = args.a2a_port
        if detail:
            body["detail"] = detail
        return (200 if ok else 503), body


def run_a2a(surfaces, spec, package_dir, port):
    try:
        service = load(spec, package_dir)
        takes_port = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
                         for p in inspect.signature(service).parameters.values())
        log("INFO", f"starting a2a service {spec} on 127.0.0.1:{port}")
        service(port) if takes_port else service()
        surfaces.a2a_returned = True
    except BaseException as error:  # the package's failure: reported by /health
        surfaces.a2a_error = repr(error)
        log("ERROR", f"a2a service {spec} failed: {error!r}", traceback=traceback.format_exc())


def ui_response(ui_dir, raw_path, if_none_match=None):
    """(status, headers, body) for a file of the ui folder; nothing outside it is served."""
    rel = urllib.parse.unquote(raw_path.split("?", 1)[0])
    if "\0" in rel:
        return 400, {"Content-Type": "text/plain"}, b"bad path\n"
    root = os.path.realpath(ui_dir)
    target = os.path.realpath(os.path.join(root, rel.lstrip("/")))
    if target != root and not target.startswith(root + os.sep):
        return 404, {"Content-Type": "text/plain"}, b"not found\n"
    if os.path.isdir(target):
        target = os.path.join(target, "index.html")
    if not os.path.isfile(target):
        return 404, {"Content-Type": "text/plain"}, b"not found\n"
    info = os.stat(target)
    etag = f'"{info.st_size:x}-{info.st_mtime_ns:x}"'
    kind = mimetypes.guess_type(target)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    headers = {
        "Content-Type": kind,
        "ETag": etag,
        "Last-Modified": email.utils.formatdate(info.st_mtime, usegmt=True),
        # Pages are revalidated each time (a new package shows at once); assets for an hour.
        "Cache-Control": "no-cache" if target.endswith(".html") else "public, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return 304, headers, b""
    with open(target, "rb") as handle:
        return 200, headers, handle.read()


def invoke(function, raw):
    """(status, payload) for POST /invoke."""
    try:
        context = json.loads(raw or b"{}")
    except ValueError as error:
        return 400, {"error": "invalid JSON", "detail": str(error)}
    if not isinstance(context, dict):
        return 400, {"error": "invalid request", "detail": "the body must be a JSON object"}
    try:
        result = function(context)
        json.dumps(result)
    except Exception as error:  # the agent's own failure: report it, keep serving
        log("ERROR", f"entrypoint raised: {error!r}", traceback=traceback.format_exc())
        return 500, {"error": type(error).__name__, "detail": str(error)}
    return 200, result


def serve_stdlib(args, function, surfaces):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status, payload, headers=None, body=None):
            if body is None:
                body = json.dumps(payload).encode()
                headers = {"Content-Type": "application/json"}
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _ui(self, path):
            if path == "/ui":
                self.send_response(308)
                self.send_header("Location", (self.headers.get("X-Forwarded-Prefix") or "") + "/ui/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, headers, body = ui_response(args.ui_dir, path[len("/ui/"):], self.headers.get("If-None-Match"))
            self._send(status, None, headers, body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/health":
                status, body = surfaces.report()
                self._send(status, body)
            elif args.ui_dir and (path == "/ui" or path.startswith("/ui/")):
                self._ui(path)
            else:
                self._send(404, {"error": "not found", "detail": f"no route {self.path}; try POST /invoke or GET /health"})

        do_HEAD = do_GET

        def do_POST(self):
            if self.path.split("?", 1)[0] != "/invoke" or function is None:
                self._send(404, {"error": "not found", "detail": f"no route {self.path}; try POST /invoke"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = invoke(function, self.rfile.read(length) if length else b"{}")
            self._send(status, payload)

        def log_message(self, fmt, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    log("INFO", f"agent {args.agent_id} serving on 127.0.0.1:{args.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_fastapi(args, function, surfaces):
    try:
        from fastapi import FastAPI, Request
        from fastapi.responses import JSONResponse, RedirectResponse, Response
        import uvicorn
    except ImportError as error:
        log("CRITICAL", f"the rest: surface needs fastapi and uvicorn in the package's dependencies: {error}")
        sys.exit(78)

    app = FastAPI(title=args.agent_id)

    @app.middleware("http")
    async def forwarded_prefix(request: Request, call_next):
        # Behind the router the agent is at /agents/{id}: pages that build links read it here.
        prefix = request.headers.get("x-forwarded-prefix")
        if prefix:
            request.scope["root_path"] = prefix
        return await call_next(request)

    # The worker's routes come first, so a package cannot shadow them.
    @app.get("/health")
    async def health():
        status, body = surfaces.report()
        return JSONResponse(body, status_code=status)

    if function is not None:
        @app.post("/invoke")
        async def invoke_route(request: Request):
            import anyio
            raw = await request.body()
            status, payload = await anyio.to_thread.run_sync(invoke, function, raw)
            return JSONResponse(payload, status_code=status)

    if args.ui_dir:
        @app.get("/ui")
        async def ui_root(request: Request):
            return RedirectResponse((request.headers.get("x-forwarded-prefix") or "") + "/ui/", status_code=308)

        @app.api_route("/ui/{path:path}", methods=["GET", "HEAD"])
        async def ui_file(path: str, request: Request):
            status, headers, body = ui_response(args.ui_dir, path, request.headers.get("if-none-match"))
            return Response(body if request.method != "HEAD" else b"", status_code=status, headers=headers)

    mount = load(args.rest, args.package_dir)
    mount(app)
    # /health is answered only once uvicorn serves, so from then on rest is up.
    surfaces.rest_up = True

    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                            lifespan="on", proxy_headers=False)
    log("INFO", f"agent {args.agent_id} serving {args.rest} on 127.0.0.1:{args.port}")
    uvicorn.Server(config).run()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--agent-id", required=True)
    parser.add_argument("--package-path", required=True)
    parser.add_argument("--entrypoint")
    parser.add_argument("--package-dir", default=os.getcwd())
    parser.add_argument("--rest")
    parser.add_argument("--ui-dir")
    parser.add_argument("--a2a")
    parser.add_argument("--a2a-port", type=int)
    args = parser.parse_args()
    function = load(args.entrypoint, args.package_dir) if args.entrypoint else None
    surfaces = Surfaces(args)
    if args.a2a:
        threading.Thread(target=run_a2a, args=(surfaces, args.a2a, args.package_dir, args.a2a_port),
                         name="a2a", daemon=True).start()
    if args.rest:
        serve_fastapi(args, function, surfaces)
    else:
        serve_stdlib(args, function, surfaces)
    log("INFO", f"agent {args.agent_id} stopped")


if __name__ == "__main__":
    main()
"""#
}
