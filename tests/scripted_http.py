"""A small real HTTP server that answers from a script: statuses, headers, resets and hangs.

Used to prove the HTTP client's retry, rate-limit and circuit-breaker behaviour over real sockets:

    with ScriptedHttpServer() as server:
        server.script("/things", Reply(429, headers={"Retry-After": "1"}), Reply(200, json={"ok": True}))
        ...  # call server.url + "/things"

Each path answers with its scripted replies in order; the last one repeats once the script runs out.
`route(path, fn)` answers with `fn(request)` instead, for replies that depend on the request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `action` is "reply", "reset" (TCP RST, no response) or "hang"."""

    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "reply"
    hang_for: float = 5.0

    def payload(self) -> bytes:
        return json.dumps(self.json).encode() if self.json is not None else self.body


@dataclass(frozen=True)
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float


class ScriptedHttpServer:
    """Threaded HTTP server on 127.0.0.1 with a per-path reply script and a log of requests."""

    def __init__(self) -> None:
        self._scripts: dict[str, list[Reply]] = defaultdict(lambda: [Reply(404, json={"error": "no script"})])
        self._routes: dict[str, Callable[[Seen], Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[Seen] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ScriptedHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts[path] = list(replies)

    def route(self, path: str, answer: Callable[[Seen], Reply]) -> None:
        with self._lock:
            self._routes[path] = answer

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _next_reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            answer = self._routes.get(seen.path)
            if answer is None:
                script = self._scripts[seen.path]
                return script.pop(0) if len(script) > 1 else script[0]
        return answer(seen)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(
                    self.command, parts.path, parts.query, dict(self.headers.items()), body, time.monotonic()
                )
                reply = server._next_reply(seen)
                if reply.action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if reply.action == "hang":
                    time.sleep(reply.hang_for)
                payload = reply.payload()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def finish(self) -> None:
                with contextlib.suppress(OSError, ValueError):
                    super().finish()

        return Handler
