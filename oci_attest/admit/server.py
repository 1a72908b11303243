"""``attest admit serve``: the HTTPS endpoints the API server and the kubelet call.

``POST /validate`` and ``POST /mutate`` answer AdmissionReviews; ``GET /healthz`` says the
process serves; ``GET /readyz`` says the trust roots loaded and every registry the policies
name answers (checked at most every few seconds); ``GET /metrics`` is Prometheus text.

TLS 1.2 is the floor (the API server speaks 1.2+). The serving certificate is re-read when its
file changes, so a rotated certificate (cert-manager, or ``attest admit certs`` re-run) is
picked up without a restart. Request bodies are capped, idle connections time out, and a
malformed review is a 400 that leaves the server serving.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from oci_attest.admit.engine import AdmissionEngine
from oci_attest.admit.review import MalformedReview, parse_review, review_response

log = logging.getLogger(__name__)

#: Kubernetes objects are limited to ~1.5 MiB in etcd; an AdmissionReview carries two.
MAX_BODY_BYTES = 4 * 1024 * 1024
IDLE_SECONDS = 30
_READY_RECHECK_SECONDS = 5.0


class AdmitServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], engine: AdmissionEngine, *,
                 tls_cert: Path, tls_key: Path) -> None:
        self.engine = engine
        self._cert, self._key = tls_cert, tls_key
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._cert_mtime = 0.0
        self._reload_certificate()
        self._ready: tuple[float, bool, str] = (0.0, False, "not checked yet")
        self._ready_lock = threading.Lock()
        super().__init__(address, _Handler)

    # ---------------------------------------------------------------------------- TLS
    def _reload_certificate(self) -> None:
        mtime = max(os.stat(self._cert).st_mtime, os.stat(self._key).st_mtime)
        if mtime != self._cert_mtime:
            self._context.load_cert_chain(self._cert, self._key)
            self._cert_mtime = mtime

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        try:
            self._reload_certificate()
        except (OSError, ssl.SSLError) as error:  # keep the certificate we have
            log.warning("cannot reload the serving certificate: %s", error)
        sock.settimeout(IDLE_SECONDS)
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds
        # the body back for the client's delayed ACK (~40 ms per answer).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._context.wrap_socket(sock, server_side=True,
                                         do_handshake_on_connect=False), address

    # ----------------------------------------------------------------------- readiness
    def readiness(self) -> tuple[bool, str]:
        with self._ready_lock:
            checked, ready, why = self._ready
            if time.monotonic() - checked < _READY_RECHECK_SECONDS:
                return ready, why
        ready, why = _registries_answer(self.engine)
        with self._ready_lock:
            self._ready = (time.monotonic(), ready, why)
        return ready, why


def _registries_answer(engine: AdmissionEngine) -> tuple[bool, str]:
    """Every registry host named literally in a policy's image globs answers ``/v2/``."""
    import requests

    from oci_attest.reference import is_loopback_host

    hosts = sorted({glob.split("/", 1)[0] for p in engine.config.policies for glob in p.images
                    if "/" in glob and not any(c in glob.split("/", 1)[0] for c in "*?[")})
    for host in hosts:
        scheme = "http" if is_loopback_host(host) else "https"
        try:
            answer = requests.get(f"{scheme}://{host}/v2/", timeout=2, allow_redirects=False)
        except requests.RequestException as error:
            return False, f"registry {host} unreachable: {type(error).__name__}"
        if answer.status_code >= 500:
            return False, f"registry {host} answered {answer.status_code}"
    return True, f"trust roots loaded; {len(hosts)} registries answer"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: AdmitServer
    server_version = "attest-admit"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif self.path == "/readyz":
            ready, why = self.server.readiness()
            self._send(200 if ready else 503, (why + "\n").encode(), "text/plain")
        elif self.path == "/metrics":
            self._send(200, self.server.engine.metrics.render(),
                       "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain")

    def do_POST(self) -> None:
        endpoint = self.path.split("?", 1)[0]
        if endpoint not in ("/validate", "/mutate"):
            self._send(404, b"not found\n", "text/plain")
            return
        started = time.monotonic()
        try:
            body = self._body()
            request = parse_review(body)
        except MalformedReview as error:
            self._send(400, json.dumps({"error": str(error)}).encode(), "application/json")
            return
        engine = self.server.engine
        decision = engine.review(namespace=request.namespace, operation=request.operation,
                                 obj=request.obj, old_obj=request.old_obj)
        answer = review_response(request, decision, mutate=endpoint == "/mutate")
        self._send(200, answer, "application/json")
        engine.metrics.latency.labels(endpoint.strip("/")).observe(time.monotonic() - started)

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            raise MalformedReview("Content-Length is required")
        size = int(length)
        if size > MAX_BODY_BYTES:
            raise MalformedReview(f"body larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(size)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(engine: AdmissionEngine, host: str, port: int, *, tls_cert: Path,
          tls_key: Path) -> AdmitServer:
    """A started server (serving on a background thread); ``shutdown()`` stops it."""
    server = AdmitServer((host, port), engine, tls_cert=tls_cert, tls_key=tls_key)
    thread = threading.Thread(target=server.serve_forever, name="admit-server", daemon=True)
    thread.start()
    return server
