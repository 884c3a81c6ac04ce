"""A real HTTP server that answers like a captured copy of the site: ``scrapy mirror DIR``.

A folder laid out like the bundled ``fixtures/`` (``www/`` with the bodies and ``manifest.json``, a list
of ``{"path", "file", "status", "content_type", "headers"}``) is answered the way the site answered:
the exact path+query first, then the path alone, then the ``"*"`` entry (the 404 page). It serves the
offline quick start, the tests and the benchmarks; the crawler reaches it through ``-a base_url``.

``SiteServer.requests`` records what was asked; ``SiteFolder.override`` replaces single answers (tests
change an article between two runs that way). Loopback only by default: it serves files, not a site.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict = field(default_factory=dict)


@dataclass
class Hit:
    """One request as the server saw it."""

    method: str
    path: str  # path + query, as sent
    host: str
    headers: dict


class SiteFolder:
    """The manifest of a folder, loaded once, plus per-request overrides."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        manifest = self.root / "manifest.json"
        try:
            entries = json.loads(manifest.read_text("utf-8"))
            self.entries = {e["path"]: e for e in entries}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{manifest}: not a manifest of captured pages ({exc})") from exc
        if "*" not in self.entries:
            raise ValueError(f'{manifest}: no "*" entry (the answer to an unknown path)')
        self.overrides: dict[str, Answer] = {}

    def override(
        self,
        path: str,
        body: bytes | str | None = None,
        status: int = 200,
        content_type: str = "text/html; charset=utf-8",
        headers: dict | None = None,
    ) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.overrides[path] = Answer(status, content_type, body or b"", headers or {})

    def body(self, path: str) -> bytes:
        """The stored body that answers ``path`` (for tests that derive a changed page from it)."""
        return (self.root / self.lookup(path)["file"]).read_bytes()

    def lookup(self, path_qs: str) -> dict:
        path = urlsplit(path_qs).path
        return self.entries.get(path_qs) or self.entries.get(path) or self.entries["*"]

    def answer(self, path_qs: str) -> Answer:
        path = urlsplit(path_qs).path
        for key in (path_qs, path):
            if key in self.overrides:
                return self.overrides[key]
        e = self.lookup(path_qs)
        return Answer(e["status"], e["content_type"], (self.root / e["file"]).read_bytes(), dict(e["headers"]))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 makes bursts of connections wait for a SYN retransmit (1 s).
    request_queue_size = 128


class SiteServer:
    """``with SiteServer(SiteFolder(dir)) as srv: srv.url`` — serves a folder on ``host:port``.

    Port 0 (the default) takes a free one. ``handle`` may be replaced (or subclassed) to inject
    behaviour such as faults or challenges; it gets the handler and the Answer the manifest gives.
    """

    def __init__(self, site: SiteFolder, host: str = "127.0.0.1", port: int = 0):
        self.site = site
        self.requests: list[Hit] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                with server._lock:
                    server.requests.append(Hit("GET", self.path, self.headers.get("Host", ""), dict(self.headers)))
                server.handle(self, server.site.answer(self.path))

            def do_HEAD(self):
                self.do_GET()

            def log_message(self, *args):
                pass

        self.httpd = _Server((host, port), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def handle(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        write_answer(handler, answer)

    def paths(self) -> list[str]:
        with self._lock:
            return [h.path for h in self.requests]

    def start(self) -> SiteServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def write_answer(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
    handler.send_response(answer.status)
    handler.send_header("Content-Type", answer.content_type)
    handler.send_header("Content-Length", str(len(answer.body)))
    for name, value in answer.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(answer.body)
