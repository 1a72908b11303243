"""A small OCI distribution client: manifests, blobs, tags and referrers, verified and retried.

Why not a library: oras-py re-serializes manifests (its subject descriptors get the wrong
digest) and docker's SDK only talks to the engine. What this client guarantees instead:

* everything read is checked against the digest it was fetched by before anyone uses it;
* transient failures (429 with Retry-After, 5xx, resets, stalls, truncated bodies) are retried
  with bounded backoff; persistent ones become one :class:`RegistryError` line;
* credentials go only to the registry (and its token service), never across a redirect to
  another host or from HTTPS down to HTTP;
* every operation has a total deadline (:mod:`.deadline`), so a trickling registry cannot hang;
* what is read can be charged to a :class:`ReadBudget`, so a registry full of junk cannot
  exhaust memory;
* loopback registries are spoken to over HTTP, everything else over HTTPS, like the engine;
  proxies and CAs come from the environment, docker's certs.d or ``--registry-ca``
  (:mod:`.transport`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar
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
from oci_attest.errors import (
    AttestError,
    DigestMismatch,
    InputError,
    NotFound,
    RegistryError,
)
from oci_attest.reference import ImageReference, is_loopback_host, parse_digest
from oci_attest.registry import deadline as deadlines
from oci_attest.registry import failures
from oci_attest.registry import media_types as mt
from oci_attest.registry.auth import Credentials, credentials_for
from oci_attest.registry.blobs import BlobReader
from oci_attest.registry.bodies import (
    DEFAULT_READ_BUDGET,
    ENV_READ_BUDGET,
    ReadBudget,
    chunks,
    json_object,
    next_link,
    read_limited,
)
from oci_attest.registry.content import (
    MAX_MANIFEST_BYTES,
    MAX_SMALL_BLOB_BYTES,
    Descriptor,
    Manifest,
    digest_of,
    verify_digest,
)
from oci_attest.registry.transport import transport_for

log = logging.getLogger(__name__)
T = TypeVar("T")

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_MAX_REDIRECTS = 5
#: Pages of a tag list or referrers list we follow before deciding the registry is looping.
_MAX_PAGES = 100
#: A token service's answer is read only this far.
_MAX_TOKEN_BYTES = 1024 * 1024
_BEARER_RE = re.compile(r'(\w+)="([^"]*)"')
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
        self._transport = transport_for(registry)
        self.base = f"{self._transport.scheme}://{api_host}"
        self._host = urlparse(self.base).netloc
        self._credentials = credentials if credentials is not None else credentials_for(registry)
        self._retry = retry or RetryPolicy.from_env()
        self._timeout = timeout or float(os.environ.get("ATTEST_HTTP_TIMEOUT", "30"))
        self._deadline = deadlines.configured_deadline()
        #: Charged for every body read while set (see :class:`ReadBudget`).
        self.budget: ReadBudget | None = None
        self._session = session or requests.Session()
        # Proxies and CAs are taken from the environment by .transport, explicitly: requests'
        # own trust_env would also add .netrc credentials to requests, redirect targets included.
        self._session.trust_env = False
        self._session.verify = self._transport.verify
        if self._transport.cert:
            self._session.cert = self._transport.cert
        adapter = deadlines.DeadlineAdapter()
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers["User-Agent"] = (
            f"attest/{__version__} {requests.utils.default_user_agent()}")
        self._tokens: dict[str, str] = {}
        self._basic_ok = False

    @classmethod
    def for_reference(cls, ref: ImageReference) -> RegistryClient:
        return cls(ref.registry)

    # ----------------------------------------------------------------------------- requests
    def _retrying(self, what: str, func: Callable[[], T]) -> T:
        """Retry a whole exchange whose body was cut short after the request succeeded; all
        of it (retries, bodies) within one deadline."""
        def once() -> T:
            try:
                return func()
            except TransientError:
                self._check_deadline(what)
                raise

        with self.operation(what):
            try:
                return call_with_retries(what, once, self._retry)
            except TransientError as error:
                raise self._gave_up(what, error) from None

    @contextlib.contextmanager
    def operation(self, what: str) -> Iterator[None]:
        """One registry operation under the total deadline: on expiry, whatever the blocked
        read raised becomes one line naming the registry (exit 5)."""
        with deadlines.scope(self._deadline) as deadline:
            try:
                yield
            except (AttestError, TransientError, OSError, requests.RequestException,
                    urllib3.exceptions.HTTPError):
                fired = deadline.fired_by()
                if fired is not None:
                    raise self._deadline_error(what, fired) from None
                raise
            fired = deadline.fired_by()
            if fired is not None:
                raise self._deadline_error(what, fired)

    def _deadline_error(self, what: str, fired: deadlines.Deadline) -> RegistryError:
        if fired.job is not None:
            return RegistryError(
                f"{what}: {fired.job} did not finish within {fired.seconds:g}s; the registry "
                f"{self.registry} is too slow or holds too much",
                hint=f"{deadlines.ENV_JOB_DEADLINE}=SECONDS raises the limit")
        return RegistryError(
            f"{what}: the registry {self.registry} did not complete it within "
            f"{fired.seconds:g}s",
            hint=f"the registry is too slow or stalls; {deadlines.ENV_DEADLINE}=SECONDS "
                 "raises the limit")

    def _gave_up(self, what: str, error: TransientError) -> RegistryError:
        return RegistryError(f"{what} on {self.registry} kept failing after "
                             f"{self._retry.attempts} attempts: {reason(error, what)}",
                             hint=error.hint or "the registry is unavailable or rate limiting; "
                                                "retry later")

    def _check_deadline(self, what: str) -> None:
        deadline = deadlines.current()
        fired = deadline.fired_by() if deadline is not None else None
        if fired is not None:
            raise self._deadline_error(what, fired)

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
            self._check_deadline(what)
            try:
                response = self._send(method, path_or_url, scope=scope, headers=headers,
                                      data=data, stream=stream, what=what)
            except TransientError:
                self._check_deadline(what)  # cut by the deadline: not worth a retry
                raise
            if response.status_code in _TRANSIENT_STATUS:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                response.close()
                raise TransientError(f"{what}: HTTP {response.status_code}",
                                     retry_after=retry_after)
            return response

        with self.operation(what):
            if not retry:
                response = attempt()
                if response.status_code not in ok:
                    self._raise_for(response, what)
                return response
            try:
                response = call_with_retries(what, attempt, self._retry)
            except TransientError as error:
                raise self._gave_up(what, error) from None
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
        base = urlparse(self.base)
        for _ in range(_MAX_REDIRECTS + 1):
            target = urlparse(url)
            # Same host *and* no downgrade: https -> http on the same name would put the
            # credentials on the wire in clear text.
            same_host = target.netloc == self._host and target.scheme == base.scheme
            sent = dict(headers or {})
            if same_host:
                auth = self._auth_header(scope)
                if auth:
                    sent["Authorization"] = auth
            # A write is read as a stream and never buffered here: its answer's body is not
            # needed, and one cut short (IncompleteRead) must not fail a write that landed.
            try:
                response = self._session.request(
                    method, url, headers=sent, data=data, stream=stream or method != "GET",
                    timeout=(min(10.0, self._timeout), self._timeout), allow_redirects=False,
                    proxies=self._transport.proxies(url),
                )
            except requests.RequestException as error:
                raise self._transport_error(error, what, target.netloc) from None
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

    def _transport_error(self, error: requests.RequestException, what: str,
                         host: str) -> Exception:
        return failures.transport_failure(error, what, host, self.registry, self._transport,
                                          self.base)

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
                # No redirects: the body carries the refresh token, and requests would resend
                # it to wherever a 307 points.
                reply = self._session.post(
                    realm, allow_redirects=False,
                    data={"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                          "service": query["service"], "scope": scope, "client_id": "attest"},
                    timeout=self._timeout, proxies=self._transport.proxies(realm), stream=True,
                )
            else:
                reply = self._session.get(realm + "?" + urlencode(query), headers=headers,
                                          timeout=self._timeout, stream=True,
                                          proxies=self._transport.proxies(realm))
        except requests.RequestException as error:
            raise self._transport_error(error, "token request", realm_url.netloc) from None
        if reply.status_code in _TRANSIENT_STATUS:
            reply.close()
            raise TransientError(f"token request: HTTP {reply.status_code}",
                                 retry_after=parse_retry_after(reply.headers.get("Retry-After")))
        if reply.status_code != 200:
            reply.close()
            raise RegistryError(
                f"authentication to {self.registry} refused (HTTP {reply.status_code})",
                hint="run `docker login` for this registry or check the credentials' scope",
            )
        # A token is a few KiB; a token service that sends more is not holding one.
        try:
            raw = read_limited(reply, _MAX_TOKEN_BYTES, f"token service of {self.registry}")
        except InputError as error:
            raise RegistryError(error.message) from None
        try:
            body = json.loads(raw)
            token = body.get("token") or body.get("access_token") \
                if isinstance(body, dict) else None
        except (ValueError, RecursionError):
            token = None
        if not token:
            raise RegistryError(f"token service of {self.registry} returned no token")
        self._tokens[scope] = str(token)
        return True

    def _raise_for(self, response: requests.Response, what: str) -> None:
        raise failures.status_failure(response, what, self.registry)

    def _read(self, response: requests.Response, limit: int, what: str) -> bytes:
        budget = self.budget
        return read_limited(response, limit, what,
                             None if budget is None else lambda n: budget.charge(n, what))

    # ---------------------------------------------------------------------------- manifests
    def get_manifest(self, repository: str, reference: str,
                     accept: tuple[str, ...] = mt.ALL_MANIFEST_TYPES) -> Manifest:
        """Fetch a manifest by tag or digest; by digest it is verified, by tag it is hashed."""
        what = f"GET manifest {repository}:{reference}"

        def fetch() -> Manifest:
            response = self._request(
                "GET", f"/v2/{repository}/manifests/{reference}", scope=_pull(repository),
                headers={"Accept": ", ".join(accept)}, stream=True, what=what)
            raw = self._read(response, MAX_MANIFEST_BYTES, what)
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
        with self.operation(what):
            return self._head_manifest(repository, reference, what)

    def _head_manifest(self, repository: str, reference: str,
                       what: str) -> Descriptor | None:
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
        """Tag to digest. A reference that already has a digest is checked to exist.

        A tag is resolved by GET and the digest is the hash of the bytes received: a HEAD
        answer's ``Docker-Content-Digest`` is only the server's word, and a lying proxy could
        name any image there (whatever is then verified, promoted or scanned by that digest).
        """
        if ref.digest:
            if self.head_manifest(ref.repository, ref.digest) is None:
                raise NotFound(f"{ref} does not exist in the registry",
                               hint="check the digest and repository")
            return ref
        return ref.with_digest(self.get_manifest(ref.repository, ref.reference).digest)

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
            body = json_object(raw, what)
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
                link = self._same_host(url, next_link(response), what)
            except RegistryError:
                response.close()
                raise
            return 200, content_type, link, self._read(response, MAX_MANIFEST_BYTES, what)

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
            data = self._read(response, max_bytes, what)
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
        for chunk in chunks(read, chunk_size):
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
                  artifact_type: str | None = None,
                  limit: int | None = None) -> list[Descriptor] | None:
        """The referrers API's answer (distinct digests, at most ``limit``: no further page
        is read once that many are listed), or None when the registry does not implement it.

        With ``artifact_type`` the registry is asked to filter (so other tools' referrers do
        not count against a cap) and the answer is filtered here as well: a registry may
        ignore the filter (it then leaves out ``OCI-Filters-Applied``). An entry without an
        artifactType is kept for the caller to judge by the manifest itself."""
        url: str | None = f"/v2/{repository}/referrers/{digest}"
        if artifact_type:
            url = f"{url}?{urlencode({'artifactType': artifact_type})}"
        found: list[Descriptor] = []
        listed: set[str] = set()
        what = f"GET referrers {digest}"
        seen: set[str] = set()
        while url and (limit is None or len(found) < limit):
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
            index = json_object(raw, f"referrers list for {digest}")
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
                if descriptor.digest not in listed:
                    listed.add(descriptor.digest)
                    found.append(descriptor)
            url = link
        if limit is not None and len(found) > limit:
            log.warning("referrers of %s: more than %d listed; only the first %d are read",
                        digest, limit, limit)
            del found[limit:]
        return found


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str, extra: str = "") -> str:
    actions = "pull,push" + (f",{extra}" if extra else "")
    return f"repository:{repository}:{actions}"


__all__ = ["DEFAULT_READ_BUDGET", "ENV_READ_BUDGET", "MAX_MANIFEST_BYTES", "MAX_SMALL_BLOB_BYTES",
           "BlobReader", "Descriptor", "Manifest", "ReadBudget", "RegistryClient", "digest_of",
           "verify_digest"]
