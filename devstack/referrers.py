"""A registry with the OCI 1.1 referrers API, in front of a real distribution registry.

distribution 2.8 (the registry Debian ships and the tests start) has no referrers API, yet most
registries attest's users push to (Docker Hub, ECR, ACR, Harbor, Quay, zot) have one. None of
those can run here, so this reverse proxy adds the API to the real registry, speaking the
distribution spec 1.1 wire protocol over HTTP:

* ``PUT /v2/<name>/manifests/<ref>`` is forwarded; when the upstream stored a manifest with a
  ``subject``, its descriptor (``artifactType``, or the config's media type for an image
  manifest, and its annotations) is recorded and the answer carries ``OCI-Subject: <digest>``;
* ``GET /v2/<name>/referrers/<digest>`` answers an image index of the recorded referrers, with
  ``?artifactType=`` filtering (``OCI-Filters-Applied: artifactType``) and pages linked by
  ``Link: <...>; rel="next"``;
* ``DELETE`` of a manifest drops it from the lists; everything else is forwarded unchanged.

Real registries differ from the spec and from each other, and attest must cope with all of
them, so the deviations seen in the field are switches: no (or a wrong) ``OCI-Subject``, 404 for a
subject the registry does not hold instead of an empty index, a filter that is ignored (no
``OCI-Filters-Applied``), and ``Link`` headers that point at another host. The recorded lists
live in memory, for one test session; only manifests pushed through this proxy are listed.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit

LOOPBACK = "127.0.0.1"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_INDEX_TYPES = frozenset({OCI_INDEX,
                          "application/vnd.docker.distribution.manifest.list.v2+json"})
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "trailers", "transfer-encoding", "upgrade",
                         "content-length"})
#: distribution hides a manifest whose type the client does not accept: accept them all.
_ACCEPT = ", ".join([*_INDEX_TYPES, "application/vnd.oci.image.manifest.v1+json",
                     "application/vnd.docker.distribution.manifest.v2+json"])
_REFERRERS = re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<digest>[^/]+)$")
_MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_CHUNK = 64 * 1024
_MAX_BODY = 512 * 1024 * 1024
UnknownSubject = Literal["empty", "404"]
SubjectHeader = Literal["subject", "none", "referrer"]


@dataclass(frozen=True)
class Options:
    """How this registry behaves; the defaults follow the spec."""

    #: Referrers per page; a longer list is split and linked with ``Link: rel="next"``.
    page_size: int = 100
    #: ``OCI-Subject`` on the answer to a PUT of a manifest with a subject: the subject's
    #: digest as the spec says, ``none`` (some registries leave it out) or ``referrer`` (a
    #: buggy one naming the pushed manifest's own digest).
    subject_header: SubjectHeader = "subject"
    #: Apply ``?artifactType=`` (else ignore it and leave out ``OCI-Filters-Applied``).
    apply_filters: bool = True
    #: For a subject the repository does not hold: the empty index, or 404 as some do.
    unknown_subject: UnknownSubject = "empty"
    #: Put this scheme://host in front of every ``Link`` (a registry sending clients away).
    link_base: str = ""


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int


@dataclass
class _Referrers:
    """Referrer descriptors per (repository, subject digest), in the order they were pushed."""

    lists: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, subject: str, descriptor: dict[str, Any]) -> None:
        with self.lock:
            self.lists.setdefault((name, subject), {})[descriptor["digest"]] = descriptor

    def forget(self, name: str, digest: str) -> None:
        with self.lock:
            for (repository, _), listed in self.lists.items():
                if repository == name:
                    listed.pop(digest, None)

    def listed(self, name: str, subject: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.lists.get((name, subject), {}).values())


class ReferrersRegistry:
    """``with ReferrersRegistry("http://127.0.0.1:5000") as api: api.host`` is a registry
    with the referrers API, holding what the upstream holds."""

    def __init__(self, upstream: str, options: Options | None = None) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        self.upstream = upstream.rstrip("/")
        self.options = options or Options()
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._referrers = _Referrers()
        self._log_lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self._server = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="referrers-registry")

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what goes into an image reference."""
        return f"{LOOPBACK}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> ReferrersRegistry:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ReferrersRegistry:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def requests(self, method: str, path: str = "") -> list[Exchange]:
        """Logged exchanges with this method whose path matches the regular expression."""
        pattern = re.compile(path)
        with self._log_lock:
            return [e for e in self.exchanges if e.method == method and pattern.search(e.path)]

    def _log(self, exchange: Exchange) -> None:
        with self._log_lock:
            self.exchanges.append(exchange)

    # ------------------------------------------------------------------------- the API
    def _referrers_answer(self, name: str, subject: str, query: dict[str, list[str]],
                          ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of one page of ``GET /v2/<name>/referrers/<subject>``."""
        options = self.options
        if not _DIGEST.match(subject):
            return 400, {}, _error("DIGEST_INVALID", "invalid digest")
        if options.unknown_subject == "404" and not self._upstream_has(name, subject):
            return 404, {}, _error("MANIFEST_UNKNOWN", "manifest unknown")
        listed = self._referrers.listed(name, subject)
        headers = {"Content-Type": OCI_INDEX}
        wanted = (query.get("artifactType") or [""])[0]
        if wanted and options.apply_filters:
            listed = [d for d in listed if d.get("artifactType") == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        last = (query.get("last") or [""])[0]
        if last:
            digests = [d["digest"] for d in listed]
            listed = listed[digests.index(last) + 1:] if last in digests else []
        size = options.page_size
        with contextlib.suppress(ValueError, IndexError, KeyError):
            size = max(1, min(size, int(query["n"][0])))
        page, rest = listed[:size], listed[size:]
        if rest:
            follow = {k: v[0] for k, v in query.items() if k in ("artifactType", "n")}
            follow["last"] = page[-1]["digest"]
            headers["Link"] = (f"<{options.link_base}/v2/{name}/referrers/{subject}?"
                               f"{urlencode(follow)}>; rel=\"next\"")
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        return 200, headers, json.dumps(index).encode()

    def _upstream_has(self, name: str, digest: str) -> bool:
        connection = http.client.HTTPConnection(self._upstream_host, self._upstream_port,
                                                timeout=30)
        try:
            connection.request("HEAD", f"/v2/{name}/manifests/{digest}",
                               headers={"Accept": _ACCEPT})
            return connection.getresponse().status == 200
        finally:
            connection.close()

    def _pushed(self, name: str, body: bytes, content_type: str, stored_digest: str) -> str:
        """Record a stored manifest if it has a subject; returns the subject digest or ''."""
        try:
            document = json.loads(body)
        except ValueError:
            return ""
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict) or not isinstance(subject.get("digest"), str):
            return ""
        media_type = document.get("mediaType") or content_type
        descriptor: dict[str, Any] = {
            "mediaType": media_type,
            "digest": stored_digest or "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }
        artifact_type = document.get("artifactType")
        config = document.get("config")
        if not artifact_type and media_type not in _INDEX_TYPES and isinstance(config, dict):
            artifact_type = config.get("mediaType")
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if isinstance(document.get("annotations"), dict) and document["annotations"]:
            descriptor["annotations"] = document["annotations"]
        self._referrers.record(name, subject["digest"], descriptor)
        return str(subject["digest"])

    # ----------------------------------------------------------------------- serving
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                try:
                    super().handle()
                except (OSError, ValueError):
                    self.close_connection = True

            def _serve(self) -> None:
                body = self._read_body()
                split = urlsplit(self.path)
                status = 500
                try:
                    referrers = _REFERRERS.match(split.path)
                    manifest = _MANIFEST.match(split.path)
                    if referrers and self.command == "GET":
                        status, headers, answer = registry._referrers_answer(
                            referrers["name"], referrers["digest"], parse_qs(split.query))
                        self._send(status, headers, answer)
                    elif manifest and self.command in ("PUT", "DELETE"):
                        status = self._manifest_write(manifest["name"], manifest["reference"],
                                                      body)
                    else:
                        status = self._forward(body)
                finally:
                    registry._log(Exchange(self.command, self.path, status))

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def _manifest_write(self, name: str, reference: str, body: bytes) -> int:
                response = self._upstream(body)
                answer = response.read()
                extra: dict[str, str] = {}
                if self.command == "PUT" and response.status == 201:
                    stored = response.getheader("Docker-Content-Digest") or ""
                    subject = registry._pushed(name, body, self.headers.get("Content-Type", ""),
                                               stored)
                    header = registry.options.subject_header
                    if subject and header != "none":
                        extra["OCI-Subject"] = subject if header == "subject" else stored
                elif self.command == "DELETE" and response.status == 202:
                    registry._referrers.forget(name, reference)
                headers = {k: v for k, v in response.getheaders()
                           if k.lower() not in _HOP_BY_HOP}
                self._send(response.status, {**headers, **extra}, answer)
                return response.status

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    return _read_chunked(self.rfile)
                length = int(self.headers.get("Content-Length") or 0)
                if length > _MAX_BODY:
                    raise ValueError("request body too large")
                return self.rfile.read(length) if length else b""

            def _upstream(self, body: bytes) -> http.client.HTTPResponse:
                """The request as it came (``Host`` included, so upload locations point back
                here), with the body re-framed by length."""
                sent = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                if body or self.command in ("POST", "PUT", "PATCH"):
                    sent["Content-Length"] = str(len(body))
                connection = http.client.HTTPConnection(
                    registry._upstream_host, registry._upstream_port, timeout=120)
                connection.request(self.command, self.path, body=body or None, headers=sent)
                return connection.getresponse()

            def _forward(self, body: bytes) -> int:
                response = self._upstream(body)
                no_body = self.command == "HEAD" or response.status in (204, 304)
                length = response.getheader("Content-Length")
                data = b""
                if not no_body and length is None:
                    data = response.read()
                    length = str(len(data))
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, value)
                if length is not None:
                    self.send_header("Content-Length", length)
                self.end_headers()
                if not no_body:
                    if data:
                        self.wfile.write(data)
                    while chunk := response.read(_CHUNK):
                        self.wfile.write(chunk)
                response.close()
                return response.status

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                if status >= 400 and "Content-Type" not in headers:
                    headers = {**headers, "Content-Type": "application/json"}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _read_chunked(stream: Any) -> bytes:
    """A chunked request body (the docker engine uploads layers this way)."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(1024)
        if not line:
            raise ValueError("request body ended early")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while stream.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        total += size
        if total > _MAX_BODY:
            raise ValueError("request body too large")
        parts.append(stream.read(size))
        stream.readline(8)


def _error(code: str, message: str) -> bytes:
    """A distribution-style error document."""
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()
