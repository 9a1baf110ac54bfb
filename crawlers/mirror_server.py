"""Serve a mirror folder on 127.0.0.1 in a background thread (stdlib only).

Used by the demo, the tests and the crawl benchmark::

    with serve_mirror("data/mirror") as server:
        print(server.url)            # http://127.0.0.1:PORT/
        ...                          # emmel crawl --mirror {server.url} --out raw/

Beyond a plain ``http.server`` it can answer the first requests of a path with an error status
(429 then 200: ``fail_first``), redirect a path (``redirect``; ``{port}`` in the target is replaced),
hang up in the middle of a body (``cut``), add latency, and it logs every request, so tests can check what a crawler fetched and how often.
Routes default to the ``routes`` object of the mirror's ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from emmel.io import safe_join


def file_key(target: str) -> str:
    """Mirror file (relative path) for a request target: ``/a/b.html?x=&p=2&c=1`` -> ``a/b.html@c=1&p=2``.

    Empty query parameters are dropped and the rest sorted, so the real URLs of a JSON endpoint map
    to one stable file name; a path ending in ``/`` maps to its ``index.html``.
    """
    parts = urlsplit(target)
    path = unquote(parts.path).lstrip("/")
    if path == "" or path.endswith("/"):
        path += "index.html"
    params = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != "")
    if params:
        path += "@" + "&".join(f"{k}={v}" for k, v in params)
    return path


@dataclass
class Routes:
    """Special answers: ``fail_first[key] = [429, 503]`` (statuses before a normal answer),
    ``redirect[key] = "http://localhost:{port}/x"``, ``cut[key] = n`` (announce the whole body, send
    its first n bytes, close the connection). Keys are :func:`file_key` values."""

    fail_first: dict[str, list[int]] = field(default_factory=dict)
    redirect: dict[str, str] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, root: Path) -> Routes:
        path = root / "manifest.json"
        if not path.exists():
            return cls()
        routes = json.loads(path.read_text(encoding="utf-8")).get("routes") or {}
        return cls(fail_first={k: list(v) for k, v in (routes.get("fail_first") or {}).items()},
                   redirect=dict(routes.get("redirect") or {}),
                   cut={k: int(v) for k, v in (routes.get("cut") or {}).items()})


@dataclass
class Hit:
    key: str  # file_key of the request
    target: str  # raw request target (path + query)
    host: str  # Host header
    status: int


class MirrorServer:
    """A running mirror server; ``close()`` (or leaving the ``with`` block) stops it."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 routes: Routes | None = None, latency: float = 0.0):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{root}: mirror folder not found")
        self.routes = routes if routes is not None else Routes.from_manifest(self.root)
        self.latency = latency
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._served_errors: dict[str, int] = {}
        self._httpd = _QuietServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self.host, self.port = self._httpd.server_address[:2]
        self.url = f"http://{self.host}:{self.port}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mirror-server", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ queries for tests
    def count(self, key: str, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for h in self.hits if h.key == key and (status is None or h.status == status))

    def keys(self, status: int | None = None) -> list[str]:
        with self._lock:
            return [h.key for h in self.hits if status is None or h.status == status]

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MirrorServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ request handling
    def _answer(self, target: str) -> tuple[int, dict[str, str], bytes]:
        key = file_key(target)
        with self._lock:
            planned = self.routes.fail_first.get(key, [])
            served = self._served_errors.get(key, 0)
            if served < len(planned):
                self._served_errors[key] = served + 1
                status = planned[served]
                headers = {"Content-Type": "text/plain; charset=utf-8"}
                if status in (429, 503):
                    headers["Retry-After"] = "0"
                return status, headers, f"{status} try again later\n".encode()
        if key in self.routes.redirect:
            location = self.routes.redirect[key].replace("{port}", str(self.port))
            return 302, {"Location": location, "Content-Type": "text/plain"}, b"moved\n"
        try:
            path = safe_join(self.root, key)
        except ValueError:
            return 400, {"Content-Type": "text/plain"}, b"bad path\n"
        if not path.is_file():
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        data = path.read_bytes()
        return 200, {"Content-Type": _content_type(key, data)}, data

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "emmel-mirror/1"

            def _serve(self, body: bool) -> None:
                if server.latency:
                    time.sleep(server.latency)
                status, headers, data = server._answer(self.path)
                with server._lock:
                    server.hits.append(Hit(file_key(self.path), self.path, self.headers.get("Host", ""), status))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                cut = server.routes.cut.get(file_key(self.path)) if status == 200 else None
                if body and cut is not None:
                    self.wfile.write(data[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)  # hang up mid-body
                elif body:
                    self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
                self._serve(body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def log_message(self, *args) -> None:  # keep test output clean; hits are recorded instead
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a crawler killed, a timeout) is normal here, not a traceback."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _content_type(key: str, data: bytes) -> str:
    name = key.split("@", 1)[0]
    if "@" in key and data.lstrip()[:1] in (b"{", b"["):
        return "application/json; charset=utf-8"
    if name.endswith(".txt"):
        return "text/plain; charset=utf-8"
    if name.endswith((".html", ".htm")):
        return "text/html"  # no charset: the page's own <meta> decides, as on many real sites
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def serve_mirror(root: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 routes: Routes | None = None, latency: float = 0.0) -> MirrorServer:
    """Serve ``root`` on ``host`` (loopback) at ``port`` (0: a free one) in a daemon thread.

    Returns the running :class:`MirrorServer` (``.url``, ``.port``, ``.hits``, ``.close()``); use it as
    a context manager. ``routes`` defaults to the mirror's ``manifest.json`` routes.
    """
    return MirrorServer(root, host=host, port=port, routes=routes, latency=latency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawlers.mirror_server", description="Serve a mirror folder on 127.0.0.1.")
    parser.add_argument("root", nargs="?", default="data/mirror")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with serve_mirror(args.root, port=args.port) as server:
        print(server.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
