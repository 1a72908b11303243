"""The smallest HTTP layer that lets each service speak its real wire protocol on loopback.

Every component is a plain object with ``handle(Request) -> Response``, so it can be tested or
wrapped (for example by a fault-injecting proxy) without knowing about sockets. Each component
gets its own port because real clients hard-code absolute paths (Fulcio's ``/api/v2/...``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(document).encode(), headers=headers or {})


class App(Protocol):
    def handle(self, request: Request) -> Response: ...


class Service:
    """One app on one ``127.0.0.1`` port, served from a daemon thread."""

    def __init__(self, app: App, port: int = 0) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command, path=url.path, query=dict(parse_qsl(url.query)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"")
                try:
                    response = app.handle(request)
                except Exception as exc:  # a bug in the stack must not hang the client
                    response = json_response(500, {"code": 500, "message": repr(exc)})
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=f"sigstore-{type(app).__name__}")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
