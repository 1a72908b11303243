"""A forward HTTP proxy on 127.0.0.1 that speaks ``CONNECT`` (what HTTPS_PROXY clients use).

It is the real protocol (the client's TLS goes end to end through the tunnel), with one
restriction that keeps tests local whatever they ask for: every tunnel is opened to
127.0.0.1, only the port is taken from the request. A test can therefore name a registry
``registry.attest.test:PORT``, a name that never resolves anywhere, and reach the local
registry only through this proxy. Each ``CONNECT`` target is logged for assertions.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
from types import TracebackType

LOOPBACK = "127.0.0.1"


class ConnectProxy:
    """``with ConnectProxy() as proxy:`` ... ``proxy.url``, ``proxy.tunnels``."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(8192).decode("latin-1").strip()
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                method, _, rest = line.partition(" ")
                target = rest.partition(" ")[0]
                if method != "CONNECT" or ":" not in target:
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\n"
                                     b"Content-Length: 0\r\n\r\n")
                    return
                proxy.tunnels.append(target)
                port = int(target.rsplit(":", 1)[1])
                try:
                    upstream = socket.create_connection((LOOPBACK, port), timeout=5)
                except OSError:
                    self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pipe(self.connection, upstream)

        self._server = socketserver.ThreadingTCPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            readable, _, _ = select.select([a, b], [], [], 30)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (b if source is a else a).sendall(data)
    except OSError:
        return
    finally:
        with contextlib.suppress(OSError):
            b.close()
