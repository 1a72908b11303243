"""A fault-injecting reverse proxy on 127.0.0.1, for testing how attest survives bad networks.

Tests put one of these in front of the real registry and in front of each service of the local
Sigstore stack, then tell it which requests to break and how: answer 429 with ``Retry-After``
or a 5xx, reset the connection, stall past the client's timeout, cut the body short, redirect
elsewhere, or serve crafted bytes. Everything else is forwarded unchanged, so the real client
code talks the real wire protocol to the real service and only the chosen exchanges go wrong.

It is a real HTTP/1.1 reverse proxy (keep-alive, chunked request bodies such as the docker
engine's layer uploads, streamed responses) rather than a mock, because faults only mean
something on the real exchange: a reset half-way through a blob upload or a truncated manifest
must reach the client exactly as a broken network would deliver it. The ``Host`` header is
passed through, so a registry writes upload locations that point back at the proxy.

Rules match by method and path (regular expressions) and by occurrence: ``nth=2, times=1``
breaks only the second matching request; ``times=None`` breaks every one from ``nth`` on (a
persistent outage). Every exchange is logged with its request headers so tests can assert on
what a client sent (for example, that credentials never went to a redirect target).
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
Action = Literal["status", "reset", "stall", "truncate", "redirect", "respond", "delay",
                 "gather", "pass", "cut_answer"]
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "trailers", "transfer-encoding", "upgrade"})
_CHUNK = 64 * 1024
_MAX_BODY = 512 * 1024 * 1024


@dataclass(frozen=True)
class Fault:
    """What to do to a matching request. Build with the class methods."""

    action: Action
    status: int = 503
    retry_after: str | None = None
    seconds: float = 0.0
    after_bytes: int = 0
    location: str | None = None
    forward_first: bool = False
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def http(cls, status: int, retry_after: str | None = None) -> Fault:
        """Answer ``status`` (with ``Retry-After`` if given) without asking the upstream."""
        return cls("status", status=status, retry_after=retry_after)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then drop the connection with a TCP reset (no response at all)."""
        return cls("reset")

    @classmethod
    def stall(cls, seconds: float, *, forward_first: bool = False) -> Fault:
        """Say nothing for ``seconds``, then close. With ``forward_first`` the upstream has
        already acted on the request (a write that succeeded but whose answer was lost)."""
        return cls("stall", seconds=seconds, forward_first=forward_first)

    @classmethod
    def truncate(cls, after_bytes: int) -> Fault:
        """Forward, send the full headers but only ``after_bytes`` of the body, then close.
        A response without a body (HEAD, 201 with no content) is cut inside its headers."""
        return cls("truncate", after_bytes=after_bytes)

    @classmethod
    def cut_answer(cls, missing: int = 32) -> Fault:
        """Forward (the upstream acts on the request), send its complete status line and
        headers, but declare ``missing`` more body bytes than are sent, then close: the
        client sees ``IncompleteRead`` after a success status."""
        return cls("cut_answer", after_bytes=missing)

    @classmethod
    def redirect(cls, base_url: str, status: int = 307) -> Fault:
        """Redirect to the same path and query under ``base_url`` (e.g. blob storage)."""
        return cls("redirect", status=status, location=base_url.rstrip("/"))

    @classmethod
    def respond(cls, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Fault:
        """Serve crafted bytes instead of the upstream's (hostile or malformed content)."""
        return cls("respond", status=status, body=body, headers=dict(headers or {}))

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Hold the request ``seconds``, then forward it (a slow link or a busy registry)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def gather(cls, parties: int, timeout: float = 10.0) -> Fault:
        """Hold matching requests until ``parties`` of them are waiting, then forward them all
        at once: makes concurrent clients really race (at most ``timeout`` seconds)."""
        return cls("gather", after_bytes=parties, seconds=timeout)

    @classmethod
    def passthrough(cls) -> Fault:
        return cls("pass")


@dataclass
class Rule:
    """Apply ``fault`` to matching requests number ``nth`` .. ``nth + times - 1``."""

    fault: Fault
    path: str
    method: str | None = None
    nth: int = 1
    times: int | None = 1
    headers: Mapping[str, str] = field(default_factory=dict)
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        self.barrier = threading.Barrier(self.fault.after_bytes) \
            if self.fault.action == "gather" else None
        self._path = re.compile(self.path)
        self._method = re.compile(self.method) if self.method else None
        self._headers = {k.lower(): re.compile(v) for k, v in self.headers.items()}

    def matches(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
        if self._method is not None and not self._method.fullmatch(method):
            return False
        lowered = {k.lower(): v for k, v in headers.items()}
        if any(not pattern.search(lowered.get(name, ""))
               for name, pattern in self._headers.items()):
            return False
        return bool(self._path.search(path))

    def take(self) -> bool:
        """Count one matching request; True when this one is to be broken."""
        self.seen += 1
        if self.seen < self.nth:
            return False
        if self.times is not None and self.seen >= self.nth + self.times:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class Exchange:
    """One request seen by the proxy and what became of it."""

    method: str
    path: str
    headers: Mapping[str, str]
    action: str
    status: int | None
    #: ``time.monotonic()`` when the request arrived: tests measure a client's waits with it.
    received: float = 0.0


class _Dropped(Exception):
    """The connection was deliberately broken; the handler must not write anything more."""


class FaultProxy:
    """``with FaultProxy("http://127.0.0.1:5000") as proxy: proxy.add(...)``."""

    def __init__(self, upstream: str, *, name: str = "proxy",
                 upstream_headers: Mapping[str, str] | None = None,
                 upstream_timeout: float = 120.0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.name = name
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._upstream_prefix = parts.path.rstrip("/")
        self._upstream_headers = dict(upstream_headers or {})
        self._upstream_timeout = upstream_timeout
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.exchanges: list[Exchange] = []
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name=f"faultproxy-{name}")

    # ---------------------------------------------------------------------------- control
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what goes into an image reference."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def add(self, fault: Fault, path: str, *, method: str | None = None, nth: int = 1,
            times: int | None = 1, headers: Mapping[str, str] | None = None) -> Rule:
        """Break matching requests. Rules are tried in the order they were added; every
        matching rule counts the request until one fires, and that one's fault applies."""
        rule = Rule(fault=fault, path=path, method=method, nth=nth, times=times,
                    headers=dict(headers or {}))
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the log is kept)."""
        with self._lock:
            self._rules.clear()

    def reset_log(self) -> None:
        with self._lock:
            self.exchanges.clear()

    def requests(self, method: str | None = None, path: str = "") -> list[Exchange]:
        """Logged exchanges whose method equals ``method`` and whose path matches ``path``."""
        pattern = re.compile(path)
        with self._lock:
            return [e for e in self.exchanges if (method is None or e.method == method)
                    and pattern.search(e.path)]

    def _choose(self, method: str, path: str, headers: Mapping[str, str]) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, headers) and rule.take():
                    return rule
        return None

    def _log(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # ---------------------------------------------------------------------------- serving
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                try:
                    super().handle()
                except (_Dropped, OSError, ValueError):
                    self.close_connection = True

            def _serve(self) -> None:
                received = time.monotonic()
                body = self._read_body()
                headers = {k: v for k, v in self.headers.items()}
                rule = proxy._choose(self.command, self.path, headers)
                fault = rule.fault if rule else None
                action = fault.action if fault else "pass"
                status: int | None = None
                try:
                    if fault is None or fault.action == "pass":
                        status = self._forward(body, headers)
                    elif fault.action == "delay":
                        proxy._stopping.wait(fault.seconds)
                        status = self._forward(body, headers)
                    elif fault.action == "gather":
                        assert rule is not None and rule.barrier is not None
                        with contextlib.suppress(threading.BrokenBarrierError):
                            rule.barrier.wait(fault.seconds)
                        status = self._forward(body, headers)
                    elif fault.action == "status":
                        status = fault.status
                        extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                        self._send(fault.status, _error_body(fault.status), extra,
                                   content_type="application/json")
                    elif fault.action == "respond":
                        status = fault.status
                        self._send(fault.status, fault.body, dict(fault.headers))
                    elif fault.action == "redirect":
                        status = fault.status
                        self._send(fault.status, b"", {"Location": f"{fault.location}{self.path}"})
                    elif fault.action == "reset":
                        self._reset()
                    elif fault.action == "stall":
                        if fault.forward_first:
                            self._upstream(body, headers).read()
                        proxy._stopping.wait(fault.seconds)
                        self._close()
                    elif fault.action == "truncate":
                        status = self._forward(body, headers, limit=fault.after_bytes)
                    elif fault.action == "cut_answer":
                        status = self._cut_answer(body, headers, fault.after_bytes)
                finally:
                    proxy._log(Exchange(self.command, self.path, headers, action, status,
                                       received))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return _read_chunked(self.rfile)
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    raise _Dropped
                return self.rfile.read(length) if length else b""

            def _upstream(self, body: bytes, headers: Mapping[str, str]
                          ) -> http.client.HTTPResponse:
                sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP
                        and k.lower() != "content-length"}
                sent.update(proxy._upstream_headers)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    sent["Content-Length"] = str(len(body))
                connection = http.client.HTTPConnection(
                    proxy._upstream_host, proxy._upstream_port, timeout=proxy._upstream_timeout)
                connection.request(self.command, proxy._upstream_prefix + self.path,
                                   body=body or None, headers=sent)
                return connection.getresponse()

            def _forward(self, body: bytes, headers: Mapping[str, str],
                         limit: int | None = None) -> int:
                response = self._upstream(body, headers)
                no_body = self.command == "HEAD" or response.status in (204, 304) or \
                    100 <= response.status < 200 or response.getheader("Content-Length") == "0"
                if limit is not None and no_body:
                    # Nothing to cut but the header block itself.
                    head = f"HTTP/1.1 {response.status} {response.reason}\r\nContent-Ty".encode()
                    self.wfile.write(head[:max(limit, 1)])
                    self.wfile.flush()
                    response.close()
                    self._close()
                self.send_response(response.status, response.reason)
                length = response.getheader("Content-Length")
                data = b""
                if not no_body and length is None:
                    data = response.read()
                    length = str(len(data))
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                if no_body:
                    response.close()
                    return response.status
                sent = 0
                pending = [data] if data else []
                while True:
                    chunk = pending.pop() if pending else response.read(_CHUNK)
                    if not chunk:
                        break
                    if limit is not None and sent + len(chunk) > limit:
                        self.wfile.write(chunk[:max(0, limit - sent)])
                        self.wfile.flush()
                        response.close()
                        self._close()
                    self.wfile.write(chunk)
                    sent += len(chunk)
                response.close()
                if limit is not None:
                    # The body was shorter than the cut: cut the connection anyway, so a
                    # "truncated" fault never silently passes.
                    self.wfile.flush()
                    self._close()
                return response.status

            def _cut_answer(self, body: bytes, headers: Mapping[str, str], missing: int) -> int:
                response = self._upstream(body, headers)
                data = response.read()
                response.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data) + max(1, missing)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
                self._close()
                return response.status  # not reached: _close raises

            def _send(self, status: int, body: bytes, headers: Mapping[str, str],
                      content_type: str | None = None) -> None:
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _reset(self) -> None:
                """SO_LINGER 0 then close: the peer sees ECONNRESET, not a clean EOF."""
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self._close()

            def _close(self) -> None:
                self.close_connection = True
                for stream in (self.wfile, self.rfile):
                    with contextlib.suppress(OSError, ValueError):
                        stream.close()
                self.connection.close()
                raise _Dropped

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _read_chunked(stream: Any) -> bytes:
    """Decode a chunked request body (the docker engine uploads layers this way)."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(1024)
        if not line:
            raise _Dropped
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > _MAX_BODY:
            raise _Dropped
        parts.append(stream.read(size))
        stream.readline(8)


def _error_body(status: int) -> bytes:
    """A distribution-style error document, so clients parse it like a real registry's."""
    code = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE",
            503: "UNAVAILABLE"}.get(status, "UNKNOWN")
    text = http.client.responses.get(status, "error")
    return (f'{{"errors":[{{"code":"{code}","message":"{text} (injected by faultproxy)"}}],'
            f'"code":{status},"message":"{text} (injected by faultproxy)"}}').encode()


def proxies(upstreams: Mapping[str, str]) -> dict[str, FaultProxy]:
    """One started proxy per named upstream URL (e.g. each Sigstore service)."""
    return {name: FaultProxy(url, name=name).start() for name, url in upstreams.items()}


def stop_all(started: Iterable[FaultProxy]) -> None:
    for proxy in started:
        proxy.stop()


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (for assertions on asynchronous logging); True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
