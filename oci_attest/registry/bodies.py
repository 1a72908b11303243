"""Reading response bodies from a registry that may be hostile: bounded in size, charged to a
per-job budget, and a body cut short is reported as worth a retry (never used half-read).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import requests
import urllib3

from oci_attest._internal.retry import TransientError
from oci_attest.errors import InputError, LimitExceeded, RegistryError

#: Bodies are read in chunks of this size.
CHUNK = 1024 * 1024
#: Bytes one verification may read from registries (``ATTEST_MAX_READ_BYTES``).
DEFAULT_READ_BUDGET = 128 * 1024 * 1024
ENV_READ_BUDGET = "ATTEST_MAX_READ_BYTES"


class ReadBudget:
    """A cap on the bytes read for one job (a verification), however many attestations an
    attacker pushed: each body read is charged as it arrives, before it is kept."""

    def __init__(self, limit: int | None = None) -> None:
        if limit is None:
            raw = os.environ.get(ENV_READ_BUDGET, "")
            try:
                limit = int(raw) if raw else DEFAULT_READ_BUDGET
            except ValueError:
                raise InputError(f"{ENV_READ_BUDGET}={raw[:40]!r} is not a number of bytes",
                                 hint=f"unset it or give e.g. {DEFAULT_READ_BUDGET}") from None
        self.limit = max(1, limit)
        self.used = 0

    def charge(self, size: int, what: str) -> None:
        self.used += size
        if self.used > self.limit:
            raise LimitExceeded(
                f"{what}: reading more than {self.limit} bytes from the registry for one "
                "verification; the image has more (or larger) attestations than any honest "
                "image needs",
                hint=f"inspect its referrers; raise the cap with {ENV_READ_BUDGET} or "
                     "--max-read-bytes if they are legitimate")


def chunks(read: Callable[[int], bytes], size: int) -> Iterator[bytes]:
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


def next_link(response: requests.Response) -> str | None:
    try:
        link = response.links.get("next", {}).get("url")
    except (ValueError, AttributeError):
        return None
    return str(link) if link else None


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise RegistryError(f"{what}: the registry's answer is not JSON") from None
    if not isinstance(document, dict):
        raise RegistryError(f"{what}: the registry's answer is not a JSON object")
    return document


def read_limited(response: requests.Response, limit: int, what: str,
                  charge: Callable[[int], None] | None = None) -> bytes:
    """Read a body but refuse one that is larger than ``limit`` before buffering it all;
    ``charge`` is told of every chunk before it is kept (and may refuse it)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        response.close()
        raise InputError(f"{what}: {declared} bytes is more than the {limit} allowed")
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(CHUNK):
            total += len(chunk)
            if total > limit:
                raise InputError(f"{what}: larger than the {limit} bytes allowed")
            if charge is not None:
                charge(len(chunk))
            chunks.append(chunk)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.Timeout, OSError, urllib3.exceptions.HTTPError) as error:
        raise TransientError(f"{what}: body interrupted ({type(error).__name__})") from None
    finally:
        response.close()
    data = b"".join(chunks)
    if declared and declared.isdigit() and int(declared) != len(data):
        raise TransientError(f"{what}: body truncated ({len(data)} of {declared} bytes)")
    return data
