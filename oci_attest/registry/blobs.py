"""Streaming a (large) blob: verified at its end, resumed after a break, under the deadline."""

from __future__ import annotations

import hashlib
import logging
from typing import IO, TYPE_CHECKING, Any

import requests
import urllib3

from oci_attest._internal.retry import TransientError
from oci_attest.errors import DigestMismatch, RegistryError
from oci_attest.registry import deadline as deadlines
from oci_attest.registry.bodies import CHUNK

if TYPE_CHECKING:
    from oci_attest.registry.client import RegistryClient

log = logging.getLogger(__name__)

#: What a broken body stream raises (urllib3, requests and the socket layer).
STREAM_ERRORS = (OSError, urllib3.exceptions.HTTPError, requests.RequestException,
                 TransientError)


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
                    chunk = raw.read(min(skip, CHUNK))
                    if not chunk:
                        raise TransientError("blob ended while skipping")
                    skip -= len(chunk)
            self._response = response
            response.raw.decode_content = False
            self._stream = response.raw
        stream: IO[bytes] = self._stream
        return stream

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; each call is one registry operation under the deadline, so a
        layer that trickles in fails instead of hanging."""
        if self._done:
            return b""
        with self._client.operation(f"GET blob {self._digest}"):
            return self._read(size)

    def _read(self, size: int) -> bytes:
        while True:
            try:
                stream = self._open()
                deadlines.watch_response(self._response)
                data = stream.read(size if size and size > 0 else CHUNK)
                break
            except STREAM_ERRORS as error:
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
