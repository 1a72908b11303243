"""A hostile HTTP(S) server on 127.0.0.1 for testing the registry client against attacks that
a fault proxy in front of a well-behaved registry cannot stage.

One port answers both TLS and plain HTTP (the first byte of a connection decides), so a
redirect from ``https://127.0.0.1:P`` to ``http://127.0.0.1:P`` (a same-host downgrade) lands
here too and the test can see what the client sent in clear text. Responses come from a
handler function; ``trickle`` sends them one byte at a time with a pause between bytes (a
registry that never quite stops answering). Every request is logged with its headers.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds between bytes of the whole response (status line included); 0 = all at once.
    trickle: float = 0.0
    #: Send status line and headers at once and trickle only the body.
    body_only: bool = False


@dataclass(frozen=True)
class Seen:
    tls: bool
    method: str
    path: str
    headers: Mapping[str, str]


Responder = Callable[[Seen], Answer]


class HostileServer:
    """``with HostileServer(responder, cert=..., key=...) as server:`` ``server.host``."""

    def __init__(self, responder: Responder, *, cert: Path | None = None,
                 key: Path | None = None) -> None:
        self.seen: list[Seen] = []
        self._stopping = threading.Event()
        context = None
        if cert is not None and key is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(tls=isinstance(self.connection, ssl.SSLSocket),
                            method=self.command, path=self.path,
                            headers={k: v for k, v in self.headers.items()})
                server.seen.append(seen)
                answer = responder(seen)
                head = [f"HTTP/1.1 {answer.status} X"]
                head += [f"{k}: {v}" for k, v in answer.headers.items()]
                if not any(k.lower() == "content-length" for k in answer.headers):
                    head.append(f"Content-Length: {len(answer.body)}")
                header = ("\r\n".join(head) + "\r\n\r\n").encode()
                data = header + (b"" if self.command == "HEAD" else answer.body)
                if not answer.trickle:
                    self.wfile.write(data)
                    return
                if answer.body_only:
                    self.wfile.write(header)
                    self.wfile.flush()
                    data = data[len(header):]
                for byte in data:
                    if server._stopping.wait(answer.trickle):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

            def handle(self) -> None:
                with contextlib.suppress(OSError, ValueError):
                    super().handle()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = super().get_request()
                sock.settimeout(10)
                try:
                    first = sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    first = b""
                if context is not None and first == b"\x16":
                    try:
                        sock = context.wrap_socket(sock, server_side=True)
                    except (OSError, ssl.SSLError):
                        sock.close()
                        raise
                return sock, address

        self._server = Server((LOOPBACK, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        time.sleep(0)
