"""A small OCI distribution client: manifests, blobs, tags and referrers, verified and retried.

Why not a library: oras-py re-serializes manifests (its subject descriptors get the wrong
digest) and docker's SDK only talks to the engine. What this client guarantees instead:

* everything read is checked against the digest it was fetched by before anyone uses it;
* transient failures (429 with Retry-After, 5xx, resets, stalls, truncated bodies) are retried
  with bounded backoff; persistent ones become one :class:`RegistryError` line;
* credentials go only to the registry (and its token service), never across a redirect;
* loopback registries are spoken to over HTTP, everything else over HTTPS, like the engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, TypeVar
from urllib.parse import urlencode, urljoin, urlparse

import requests
import urllib3

from oci_attest import __version__
from oci_attest._internal.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    parse_retry_after,
    reason,
)
from oci_attest.errors import DigestMismatch, InputError, RegistryError
from oci_attest.reference import ImageReference, is_loopback_host, parse_digest
from oci_attest.registry import media_types as mt
from oci_attest.registry.auth import Credentials, credentials_for

log = logging.getLogger(__name__)
T = TypeVar("T")

#: distribution refuses manifests above 4 MiB; so do we, before parsing a hostile one.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
#: Attestation blobs (bundles, statements, SBOMs) we are willing to hold in memory.
MAX_SMALL_BLOB_BYTES = 64 * 1024 * 1024
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CHUNK = 1024 * 1024
_MAX_REDIRECTS = 5
#: Pages of a tag list or referrers list we follow before deciding the registry is looping.
_MAX_PAGES = 100
#: An error body is read only this far: it is for a one-line message.
_MAX_ERROR_BODY = 64 * 1024
#: What a broken body stream raises (urllib3, requests and the socket layer).
_STREAM_ERRORS = (OSError, urllib3.exceptions.HTTPError, requests.RequestException,
                  TransientError)
_BEARER_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor (the fields attest uses, plus anything else verbatim)."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest,
                                "size": self.size}
        if self.artifact_type:
            data["artifactType"] = self.artifact_type
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.platform:
            data["platform"] = dict(self.platform)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise InputError("descriptor is not a JSON object")
        try:
            media_type = data["mediaType"]
            digest = parse_digest(str(data["digest"]))
            size = data["size"]
        except KeyError as error:
            raise InputError(f"malformed descriptor: no {error}") from None
        if not isinstance(media_type, str) or not media_type or len(media_type) > 255:
            raise InputError(f"descriptor {digest} has a malformed mediaType")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InputError(f"descriptor {digest} has a size that is not an integer")
        if size < 0:
            raise InputError(f"descriptor {digest} has a negative size")
        annotations = data.get("annotations") or {}
        platform = data.get("platform")
        if not isinstance(annotations, dict) or (platform is not None
                                                 and not isinstance(platform, dict)):
            raise InputError(f"descriptor {digest} has malformed annotations or platform")
        artifact_type = data.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise InputError(f"descriptor {digest} has a malformed artifactType")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            artifact_type=str(artifact_type) if artifact_type else None,
            annotations={str(k): str(v) for k, v in annotations.items()},
            platform=platform,
        )


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry stored it; ``digest`` is of ``raw``, verified."""

    raw: bytes
    media_type: str
    digest: str

    @property
    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.raw)
        except (ValueError, RecursionError):
            raise InputError(f"manifest {self.digest} is not valid JSON") from None
        if not isinstance(data, dict):
            raise InputError(f"manifest {self.digest} is not a JSON object")
        return data

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw))

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEX_TYPES

    def layers(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in _list(self.json.get("layers"), "layers")]

    def manifests(self) -> list[Descriptor]:
        return [Descriptor.from_json(d) for d in _list(self.json.get("manifests"), "manifests")]

    def config(self) -> Descriptor:
        return Descriptor.from_json(self.json.get("config"))


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"manifest field {name!r} is not a list")
    return value


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def verify_digest(data: bytes, digest: str, what: str) -> None:
    """Refuse content that does not hash to the digest it was asked for by."""
    algorithm = digest.split(":", 1)[0]
    if algorithm not in ("sha256", "sha512"):
        raise DigestMismatch(f"{what}: unsupported digest algorithm in {digest}")
    actual = digest_of(data, algorithm)
    if actual != digest:
        raise DigestMismatch(
            f"{what}: content hashes to {actual}, not {digest}",
            hint="the registry or something between us served altered content; do not use it",
        )


def connection_problem(error: BaseException) -> str:
    """What went wrong with a connection, in words (not ``ConnectionError``, and never
    urllib3's retry-pool text)."""
    text = repr(error)
    if isinstance(error, requests.Timeout):
        return "timed out"
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused"
    if "Name or service not known" in text or "NameResolutionError" in text \
            or "nodename nor servname" in text or "Temporary failure in name resolution" in text:
        return "host name not found"
    if "Connection reset" in text:
        return "connection reset"
    if "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return "TLS handshake failed"
    return "connection failed"


def retry_hint(error: BaseException) -> str:
    """A hint that matches the failure: a refused connection is not rate limiting."""
    text = str(error)
    if "HTTP 429" in text:
        return "the registry is rate limiting; retry later"
    if "connection refused" in text or "host name not found" in text:
        return ("nothing answers at that address: check the registry host and port, and that "
                "the registry is running")
    if "TLS handshake failed" in text:
        return ("the registry's TLS certificate was refused; a plain-HTTP registry goes in "
                "ATTEST_INSECURE_REGISTRIES")
    return "the registry is unavailable; retry later"


class RegistryClient:
    """One registry host. Thread-compatible (one per thread), cheap to create."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.registry = registry
        api_host = "registry-1.docker.io" if registry == "docker.io" else registry
        scheme = "http" if is_loopback_host(registry) else "https"
        if os.environ.get("ATTEST_INSECURE_REGISTRIES"):
            insecure = {h.strip() for h in os.environ["ATTEST_INSECURE_REGISTRIES"].split(",")}
            if registry in insecure:
                scheme = "http"
        self.base = f"{scheme}://{api_host}"
        self._host = urlparse(self.base).netloc
        self._credentials = credentials if credentials is not None else credentials_for(registry)
        self._retry = retry or RetryPolicy.from_env()
        self._timeout = timeout or float(os.environ.get("ATTEST_HTTP_TIMEOUT", "30"))
        self._session = session or requests.Session()
        self._session.trust_env = False  # no proxies from the environment: loopback stays local
        self._session.headers["User-Agent"] = (
            f"attest/{__version__} {requests.utils.default_user_agent()}")
        self._tokens: dict[str, str] = {}
        self._basic_ok = False

    @classmethod
    def for_reference(cls, ref: ImageReference) -> RegistryClient:
        return cls(ref.registry)

    # ----------------------------------------------------------------------------- requests
    def _retrying(self, what: str, func: Callable[[], T]) -> T:
        """Retry a whole exchange whose body was cut short after the request succeeded."""
        try:
            return call_with_retries(what, func, self._retry)
        except TransientError as error:
            raise RegistryError(f"{what} on {self.registry} kept failing after "
                                f"{self._retry.attempts} attempts: {reason(error, what)}",
                                hint=retry_hint(error)) from None

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        what: str,
        retry: bool = True,
    ) -> requests.Response:
        """One logical call: auth handshake, manual redirects and retries included.

        With ``retry=False`` a transient failure is raised as :class:`TransientError` for the
        caller to handle: a read-modify-write must re-read before it writes again.
        """

        def attempt() -> requests.Response:
            response = self._send(method, path_or_url, scope=scope, headers=headers, data=data,
                                  stream=stream, what=what)
            if response.status_code in _TRANSIENT_STATUS:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
                raise TransientError(f"{what}: HTTP {response.status_code}",
                                     retry_after=retry_after)
            return response

        if not retry:
            response = attempt()
            if response.status_code not in ok:
                self._raise_for(response, what)
            return response
        try:
            response = call_with_retries(what, attempt, self._retry)
        except TransientError as error:
            raise RegistryError(
                f"{what} on {self.registry} kept failing after {self._retry.attempts} attempts: "
                f"{reason(error, what)}",
                hint=retry_hint(error),
            ) from None
        if response.status_code not in ok:
            self._raise_for(response, what)
        return response

    def _send(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None,
        data: bytes | None,
        stream: bool,
        what: str,
    ) -> requests.Response:
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        for _ in range(_MAX_REDIRECTS + 1):
            same_host = urlparse(url).netloc == self._host
            sent = dict(headers or {})
            if same_host:
                auth = self._auth_header(scope)
                if auth:
                    sent["Authorization"] = auth
            try:
                response = self._session.request(
                    method, url, headers=sent, data=data, stream=stream,
                    timeout=(min(10.0, self._timeout), self._timeout), allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                raise TransientError(f"{what}: {connection_problem(error)}") from None
            except requests.RequestException as error:
                raise RegistryError(f"{what} on {self.registry} failed: {error}") from None
            if response.status_code == 401 and same_host and self._authenticate(response, scope):
                response.close()
                continue
            if response.status_code in (301, 302, 303, 307, 308) and "Location" in response.headers:
                response.close()
                url = urljoin(url, response.headers["Location"])
                if response.status_code == 303:
                    method, data = "GET", None
                continue
            return response
        raise RegistryError(f"{what}: too many redirects from {self.registry}")

    def _auth_header(self, scope: str) -> str | None:
        if scope in self._tokens:
            return f"Bearer {self._tokens[scope]}"
        if self._basic_ok and self._credentials:
            return self._credentials.basic_header()
        return None

    def _authenticate(self, response: requests.Response, scope: str) -> bool:
        """Answer a 401 challenge once per scope; False when there is nothing more to try."""
        challenge = response.headers.get("WWW-Authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "basic":
            if self._basic_ok or not self._credentials or not self._credentials.basic_header():
                return False
            self._basic_ok = True
            return True
        if scheme != "bearer" or scope in self._tokens:
            return False
        params = dict(_BEARER_RE.findall(challenge))
        realm = params.get("realm")
        if not realm:
            return False
        realm_url = urlparse(realm)
        if realm_url.scheme not in ("http", "https") or not realm_url.netloc:
            raise RegistryError(f"{self.registry} named an unusable token service {realm[:80]!r}")
        if realm_url.scheme == "http" and not is_loopback_host(realm_url.netloc) and \
                self._credentials is not None:
            raise RegistryError(
                f"{self.registry} asks for credentials over plain HTTP at {realm_url.netloc}",
                hint="credentials are only sent over HTTPS (or to a loopback address)")
        query = {"service": params.get("service", "")}
        if scope:
            query["scope"] = scope
        headers = {}
        creds = self._credentials
        if creds and creds.basic_header():
            headers["Authorization"] = creds.basic_header() or ""
        try:
            if creds and creds.identity_token:
                reply = self._session.post(
                    realm,
                    data={"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                          "service": query["service"], "scope": scope, "client_id": "attest"},
                    timeout=self._timeout,
                )
            else:
                reply = self._session.get(realm + "?" + urlencode(query), headers=headers,
                                          timeout=self._timeout)
        except requests.RequestException as error:
            raise TransientError(f"token request: {connection_problem(error)}") from None
        if reply.status_code in _TRANSIENT_STATUS:
            raise TransientError(f"token request: HTTP {reply.status_code}",
                                 retry_after=parse_retry_after(reply.headers.get("Retry-After")))
        if reply.status_code != 200:
            raise RegistryError(
                f"authentication to {self.registry} refused (HTTP {reply.status_code})",
                hint="run `docker login` for this registry or check the credentials' scope",
            )
        try:
            body = reply.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryError(f"token service of {self.registry} returned no token")
        self._tokens[scope] = str(token)
        return True

    def _raise_for(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        detail = ""
        try:
            body = response.raw.read(_MAX_ERROR_BODY, decode_content=True) \
                if response.raw is not None else b""
            document = json.loads(body)
            errors = document.get("errors") if isinstance(document, dict) else None
            if errors and isinstance(errors, list):
                detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:3]
                                   if isinstance(e, dict))
        except (ValueError, AttributeError, RecursionError, OSError,
                urllib3.exceptions.HTTPError):
            pass
        finally:
            response.close()
        hint = None
        if status in (401, 403):
            hint = "run `docker login` for this registry or check the credentials' scope"
        elif status == 404:
            hint = "check the repository name, tag or digest"
        message = f"{what} on {self.registry}: HTTP {status}"
        if detail:
            message += f" ({' '.join(detail.split())[:300]})"
        raise RegistryError(message, hint=hint)

    # ---------------------------------------------------------------------------- manifests
    def get_manifest(self, repository: str, reference: str,
                     accept: tuple[str, ...] = mt.ALL_MANIFEST_TYPES) -> Manifest:
        """Fetch a manifest by tag or digest; by digest it is verified, by tag it is hashed."""
        what = f"GET manifest {repository}:{reference}"

        def fetch() -> Manifest:
            response = self._request(
                "GET", f"/v2/{repository}/manifests/{reference}", scope=_pull(repository),
                headers={"Accept": ", ".join(accept)}, stream=True, what=what)
            raw = _read_limited(response, MAX_MANIFEST_BYTES, what)
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            try:
                declared = json.loads(raw).get("mediaType")
            except (ValueError, AttributeError, RecursionError):
                raise InputError(f"{what}: the registry returned a manifest that is not JSON"
                                 ) from None
            media_type = str(declared or media_type)
            if reference.startswith(("sha256:", "sha512:")):
                verify_digest(raw, reference, what)
                digest = reference
            else:
                digest = digest_of(raw)
                header = response.headers.get("Docker-Content-Digest")
                if header and header.startswith("sha256:") and header != digest:
                    raise DigestMismatch(f"{what}: registry says {header}, content is {digest}")
            return Manifest(raw=raw, media_type=media_type, digest=digest)

        return self._retrying(what, fetch)

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The descriptor a tag or digest points at, or None when it does not exist."""
        what = f"HEAD manifest {repository}:{reference}"
        response = self._request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", scope=_pull(repository),
            headers={"Accept": ", ".join(mt.ALL_MANIFEST_TYPES)}, ok=(200, 404), what=what)
        response.close()
        if response.status_code == 404:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        length = response.headers.get("Content-Length", "")
        if not digest or not length.isdigit():
            manifest = self.get_manifest(repository, reference)
            return manifest.descriptor
        try:
            parsed = parse_digest(digest.strip())
        except InputError:
            raise RegistryError(f"{what}: the registry answered with a malformed digest "
                                f"{digest[:80]!r}") from None
        return Descriptor(
            media_type=response.headers.get("Content-Type", "").split(";")[0].strip(),
            digest=parsed,
            size=int(length),
        )

    def resolve(self, ref: ImageReference) -> ImageReference:
        """Tag to digest. A reference that already has a digest is checked to exist."""
        if ref.digest:
            if self.head_manifest(ref.repository, ref.digest) is None:
                raise RegistryError(f"{ref} does not exist in the registry",
                                    hint="check the digest and repository")
            return ref
        descriptor = self.head_manifest(ref.repository, ref.reference)
        if descriptor is None:
            raise RegistryError(f"{ref} was not found in the registry",
                                hint="check the name and tag, or push the image first")
        return ref.with_digest(descriptor.digest)

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str, *,
                     retry: bool = True,
                     ) -> tuple[str, requests.structures.CaseInsensitiveDict[str]]:
        """Upload bytes exactly as given; returns their digest and the response headers.

        ``retry=False``: one attempt, a transient failure raised as :class:`TransientError`
        (for read-modify-write, whose retry must not resend content read before the failure).
        """
        digest = digest_of(raw)
        what = f"PUT manifest {repository}:{reference}"
        try:
            response = self._request(
                "PUT", f"/v2/{repository}/manifests/{reference}", scope=_push(repository),
                headers={"Content-Type": media_type}, data=raw, ok=(200, 201), what=what,
                retry=retry)
        except RegistryError as error:
            if not retry or not error.message.startswith(f"{what} on {self.registry} kept"):
                raise
            # Every answer was lost, but a PUT may still have landed: look before failing.
            landed = self.head_manifest(repository, reference)
            if landed is None or landed.digest != digest:
                raise
            log.warning("%s: the registry's answers were lost, but the manifest is stored",
                        what)
            return digest, requests.structures.CaseInsensitiveDict()
        response.close()
        stored = response.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise DigestMismatch(f"{what}: registry stored {stored}, we sent {digest}")
        return digest, response.headers

    def delete_manifest(self, repository: str, digest: str) -> None:
        response = self._request("DELETE", f"/v2/{repository}/manifests/{digest}",
                                 scope=_push(repository, "delete"), ok=(202, 404),
                                 what=f"DELETE manifest {repository}@{digest}")
        response.close()

    def list_tags(self, repository: str) -> list[str]:
        tags: list[str] = []
        url: str | None = f"/v2/{repository}/tags/list"
        what = f"GET tags {repository}"
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= _MAX_PAGES:
                raise RegistryError(f"{what}: the registry's pages do not end")
            seen.add(url)
            status, _, link, raw = self._page(url, repository, (200, 404), what)
            if status == 404:
                return tags
            body = _json_object(raw, what)
            listed = body.get("tags") or []
            if not isinstance(listed, list):
                raise RegistryError(f"{what}: the tag list is malformed")
            tags.extend(str(t) for t in listed)
            url = link
        return tags

    def _page(self, url: str, repository: str, ok: tuple[int, ...],
              what: str) -> tuple[int, str, str | None, bytes]:
        """One page of a list: status, content type, next link and the (bounded) body; a body
        cut short is fetched again."""

        def fetch() -> tuple[int, str, str | None, bytes]:
            response = self._request("GET", url, scope=_pull(repository), stream=True, ok=ok,
                                     what=what)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if response.status_code != 200:
                response.close()
                return response.status_code, content_type, None, b""
            try:
                link = self._same_host(url, _next_link(response), what)
            except RegistryError:
                response.close()
                raise
            return 200, content_type, link, _read_limited(response, MAX_MANIFEST_BYTES, what)

        return self._retrying(what, fetch)

    def _same_host(self, current: str, link: str | None, what: str) -> str | None:
        """A list's next page, resolved against the page that named it. A page elsewhere is
        refused: it would take the listing (and what is trusted about it) to another host."""
        if not link:
            return None
        resolved = urljoin(current if "://" in current else self.base + current, link)
        parts = urlparse(resolved)
        if parts.scheme != urlparse(self.base).scheme or parts.netloc != self._host:
            raise RegistryError(f"{what}: the registry's next page is on another host "
                                f"({parts.netloc[:80] or resolved[:80]!r})",
                                hint="a registry's list must stay on the registry; report it "
                                     "to its operator")
        return resolved

    # ------------------------------------------------------------------------------- blobs
    def blob_exists(self, repository: str, digest: str) -> bool:
        response = self._request("HEAD", f"/v2/{repository}/blobs/{digest}",
                                 scope=_pull(repository), ok=(200, 404),
                                 what=f"HEAD blob {repository}@{digest}")
        response.close()
        return response.status_code == 200

    def get_blob(self, repository: str, digest: str,
                 max_bytes: int = MAX_SMALL_BLOB_BYTES) -> bytes:
        """A small blob in memory, verified. Large layers go through :meth:`open_blob`."""
        what = f"GET blob {repository}@{digest}"

        def fetch() -> bytes:
            response = self._request("GET", f"/v2/{repository}/blobs/{digest}",
                                     scope=_pull(repository), stream=True, what=what)
            data = _read_limited(response, max_bytes, what)
            verify_digest(data, digest, what)
            return data

        return self._retrying(what, fetch)

    def open_blob(self, repository: str, digest: str, size: int | None = None) -> BlobReader:
        """A streaming, resuming, verifying reader over one blob (for layers).

        With ``size`` (the descriptor's), a registry that sends more bytes than that is cut
        off there instead of being read for ever.
        """
        return BlobReader(self, repository, digest, size)

    def _blob_response(self, repository: str, digest: str, offset: int) -> requests.Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self._request("GET", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository),
                             headers=headers, stream=True, ok=(200, 206),
                             what=f"GET blob {repository}@{digest}")

    def put_blob(self, repository: str, data: bytes, digest: str | None = None) -> Descriptor:
        """Monolithic upload (POST then PUT), skipped when the blob is already there."""
        digest = digest or digest_of(data)
        verify_digest(data, digest, "blob to upload")
        if not self.blob_exists(repository, digest):
            self._upload(repository, digest, data)
        return Descriptor(media_type="application/octet-stream", digest=digest, size=len(data))

    def _upload(self, repository: str, digest: str, data: bytes | Iterator[bytes]) -> None:
        what = f"upload blob {repository}@{digest}"

        def once() -> None:
            start = self._request("POST", f"/v2/{repository}/blobs/uploads/",
                                  scope=_push(repository), ok=(202,), what=what)
            start.close()
            location = start.headers.get("Location")
            if not location:
                raise RegistryError(f"{what}: the registry gave no upload location")
            url = urljoin(self.base + "/", location)
            separator = "&" if "?" in url else "?"
            done = self._request(
                "PUT", f"{url}{separator}{urlencode({'digest': digest})}",
                scope=_push(repository), headers={"Content-Type": "application/octet-stream"},
                data=data if isinstance(data, bytes) else b"".join(data), ok=(201, 404),
                what=what)
            done.close()
            if done.status_code == 404:
                # The session is gone: an earlier PUT whose answer was lost (reset, timeout)
                # may have completed it. Otherwise start a new session.
                if self.blob_exists(repository, digest):
                    return
                raise TransientError(f"{what}: the upload session was lost")

        self._retrying(what, once)

    def upload_blob_stream(self, repository: str, digest: str, read: Callable[[int], bytes],
                           chunk_size: int = 8 * 1024 * 1024) -> None:
        """OCI chunked upload (POST, PATCH per chunk with Content-Range, PUT with the digest)
        for blobs too big to hold in memory; the registry checks the digest on the final PUT.

        Not retried as a whole: a broken chunked session cannot be resumed portably, so the
        caller decides whether to start over (it may have a re-readable source)."""
        scope = _push(repository)
        what = f"upload blob {repository}@{digest}"
        start = self._request("POST", f"/v2/{repository}/blobs/uploads/", scope=scope,
                              ok=(202,), what=what)
        start.close()
        location = self._upload_location(start.headers.get("Location"), what)
        offset = 0
        for chunk in _chunks(read, chunk_size):
            end = offset + len(chunk) - 1
            response = self._request(
                "PATCH", location, scope=scope, data=chunk, ok=(202,), what=what,
                headers={"Content-Type": "application/octet-stream",
                         "Content-Range": f"{offset}-{end}",
                         "Content-Length": str(len(chunk))})
            response.close()
            location = self._upload_location(response.headers.get("Location"), what)
            offset = end + 1
        separator = "&" if "?" in location else "?"
        done = self._request("PUT", f"{location}{separator}{urlencode({'digest': digest})}",
                             scope=scope, ok=(201,), what=what,
                             headers={"Content-Length": "0"})
        done.close()

    def _upload_location(self, location: str | None, what: str) -> str:
        if not location:
            raise RegistryError(f"{what}: the registry gave no upload location")
        return urljoin(self.base + "/", location)

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount within this registry; False if the registry declined."""
        scope = f"{_push(repository)} {_pull(from_repository)}"
        query = urlencode({"mount": digest, "from": from_repository})
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/?{query}", scope=scope,
                                 ok=(201, 202), what=f"mount blob {digest}")
        response.close()
        if response.status_code == 201:
            return True
        # 202 opened an upload session instead; cancel it so it does not linger.
        location = response.headers.get("Location")
        if location:
            cancel = self._request("DELETE", urljoin(self.base + "/", location),
                                   scope=_push(repository), ok=(204, 404, 405, 202),
                                   what="cancel upload")
            cancel.close()
        return False

    # --------------------------------------------------------------------------- referrers
    def referrers(self, repository: str, digest: str,
                  artifact_type: str | None = None) -> list[Descriptor] | None:
        """The referrers API's answer, or None when the registry does not implement it.

        With ``artifact_type`` the registry is asked to filter (so other tools' referrers do
        not count against a cap) and the answer is filtered here as well: a registry may
        ignore the filter (it then leaves out ``OCI-Filters-Applied``). An entry without an
        artifactType is kept for the caller to judge by the manifest itself."""
        url: str | None = f"/v2/{repository}/referrers/{digest}"
        if artifact_type:
            url = f"{url}?{urlencode({'artifactType': artifact_type})}"
        found: list[Descriptor] = []
        what = f"GET referrers {digest}"
        seen: set[str] = set()
        while url:
            if url in seen or len(seen) >= _MAX_PAGES:
                raise RegistryError(f"{what}: the registry's pages do not end")
            seen.add(url)
            status, content_type, link, raw = self._page(url, repository, (200, 404, 405), what)
            if status != 200 or (content_type and content_type != mt.OCI_INDEX):
                if seen == {url}:
                    return None  # no referrers API: the caller reads the fallback tag
                # A later page that vanished is a broken listing, not a registry without the
                # API: falling back would silently drop what the first pages listed.
                raise RegistryError(f"{what}: page {len(seen)} of the registry's referrers "
                                    f"list answered HTTP {status} ({content_type or 'no type'})",
                                    hint="the registry's referrers API is broken; retry later")
            index = _json_object(raw, f"referrers list for {digest}")
            entries = index.get("manifests") or []
            if not isinstance(entries, list):
                raise RegistryError(f"{what}: the registry's referrers list is malformed")
            for entry in entries:
                try:
                    descriptor = Descriptor.from_json(entry)
                except InputError as error:
                    log.warning("referrers of %s: skipping an entry: %s", digest, error.message)
                    continue
                if artifact_type and descriptor.artifact_type not in (None, artifact_type):
                    continue
                found.append(descriptor)
            url = link
        return found


class BlobReader:
    """A file-like reader that verifies the blob's digest at EOF and resumes after a reset.

    A truncated or reset stream is reopened with a ``Range`` request where the registry
    supports it, so a 1 GB layer is not re-downloaded for one hiccup. Nothing read may be
    trusted before EOF: a consumer must read to the end (or drop what it derived) so that the
    digest check runs.
    """

    def __init__(self, client: RegistryClient, repository: str, digest: str,
                 size: int | None = None) -> None:
        self._client = client
        self._repository = repository
        self._digest = digest
        algorithm = digest.split(":", 1)[0]
        self._hash = hashlib.new(algorithm)
        self._offset = 0
        self._response: requests.Response | None = None
        self._stream: Any = None
        self._resumes = 0
        self._done = False
        self._size = size

    def _open(self) -> IO[bytes]:
        if self._stream is None:
            response = self._client._blob_response(self._repository, self._digest, self._offset)
            if self._offset and response.status_code != 206:
                # No range support: start over, skipping what we already hashed.
                raw = response.raw
                skip = self._offset
                while skip:
                    chunk = raw.read(min(skip, _CHUNK))
                    if not chunk:
                        raise TransientError("blob ended while skipping")
                    skip -= len(chunk)
            self._response = response
            response.raw.decode_content = False
            self._stream = response.raw
        stream: IO[bytes] = self._stream
        return stream

    def read(self, size: int = -1) -> bytes:
        if self._done:
            return b""
        while True:
            try:
                stream = self._open()
                data = stream.read(size if size and size > 0 else _CHUNK)
                break
            except _STREAM_ERRORS as error:
                self._drop()
                self._resumes += 1
                if self._resumes > self._client._retry.attempts:
                    raise RegistryError(
                        f"blob {self._digest} kept breaking while being read: "
                        f"{type(error).__name__}") from None
                log.warning("blob %s interrupted at %d bytes; resuming", self._digest,
                            self._offset)
        if not data:
            self._finish()
            return b""
        if self._size is not None and self._offset + len(data) > self._size:
            self._drop()
            raise DigestMismatch(f"blob {self._digest} is longer than the {self._size} bytes "
                                 "its descriptor declares",
                                 hint="the registry served altered content; do not use it")
        self._hash.update(data)
        self._offset += len(data)
        return data

    def _finish(self) -> None:
        self._drop()
        self._done = True
        actual = f"{self._digest.split(':', 1)[0]}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatch(f"blob {self._digest}: content hashes to {actual}",
                                 hint="the registry served altered content; do not use it")

    def _drop(self) -> None:
        if self._response is not None:
            self._response.close()
        self._response = None
        self._stream = None

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bytes_read(self) -> int:
        return self._offset


def _chunks(read: Callable[[int], bytes], size: int) -> Iterator[bytes]:
    """Fixed-size chunks from a reader that may return short reads."""
    buffer = bytearray()
    while True:
        data = read(size)
        if not data:
            break
        buffer += data
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str, extra: str = "") -> str:
    actions = "pull,push" + (f",{extra}" if extra else "")
    return f"repository:{repository}:{actions}"


def _next_link(response: requests.Response) -> str | None:
    try:
        link = response.links.get("next", {}).get("url")
    except (ValueError, AttributeError):
        return None
    return str(link) if link else None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what}: the registry's answer is not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: the registry's answer is not a JSON object")
    return document


def _read_limited(response: requests.Response, limit: int, what: str) -> bytes:
    """Read a body but refuse one that is larger than ``limit`` before buffering it all."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise InputError(f"{what}: {declared} bytes is more than the {limit} allowed")
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise InputError(f"{what}: larger than the {limit} bytes allowed")
            chunks.append(chunk)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.Timeout) as error:
        raise TransientError(f"{what}: body interrupted ({type(error).__name__})") from None
    finally:
        response.close()
    data = b"".join(chunks)
    if declared and declared.isdigit() and int(declared) != len(data):
        raise TransientError(f"{what}: body truncated ({len(data)} of {declared} bytes)")
    return data
