"""Image references: parse strictly, normalize like the docker engine, and insist on digests.

A reference is the one piece of user input that flows into registry URLs, provenance and log
lines, so it is validated against the distribution reference grammar before anything else
touches it: a reference with shell metacharacters, path tricks or a malformed digest is refused
here, with the fix, rather than producing a strange request later.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from oci_attest.errors import InputError

DEFAULT_REGISTRY = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]{{1,5}})?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"  # ASCII only: \w would admit any letter
_DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(rf"^{_TAG}$")
MAX_REFERENCE_LENGTH = 1024


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalized reference: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` as written in provenance subjects and purls."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host the distribution API is served from (Docker Hub's differs from its name)."""
        return _DOCKER_HUB_API if self.registry == DEFAULT_REGISTRY else self.registry

    @property
    def is_loopback(self) -> bool:
        """Loopback registries are spoken to over plain HTTP, as the docker engine does."""
        return is_loopback_host(self.registry)

    @property
    def reference(self) -> str:
        """What to put in a manifest URL: the digest when known, else the tag."""
        if self.digest:
            return self.digest
        return self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        return replace(self, digest=parse_digest(digest))

    def with_tag(self, tag: str | None) -> ImageReference:
        return replace(self, tag=tag)

    def without_tag(self) -> ImageReference:
        return replace(self, tag=None)

    def pinned(self) -> str:
        """``name@digest``; raises when no digest is known, because a tag can move."""
        if not self.digest:
            raise InputError(
                f"image reference {self} has no digest",
                hint="resolve it first or pass NAME@sha256:<hex>",
            )
        return f"{self.name}@{self.digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``[::1]``, with or without a port."""
    bare = host
    if bare.startswith("["):
        bare = bare[1 : bare.index("]")] if "]" in bare else bare
    elif bare.count(":") == 1:
        bare = bare.split(":", 1)[0]
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def parse_digest(text: str) -> str:
    """Validate an ``alg:hex`` digest; only sha256 and sha512 are meaningful for OCI content."""
    if not _DIGEST_RE.match(text):
        raise InputError(
            f"invalid digest {text!r}",
            hint="use sha256:<64 lowercase hex> or sha512:<128 lowercase hex>",
        )
    return text


def parse_reference(text: str, *, default_tag: str | None = "latest") -> ImageReference:
    """Parse and normalize a reference the way the docker engine does.

    ``debian`` becomes ``docker.io/library/debian:latest``; the first path component names a
    registry only when it contains a dot or a colon or is ``localhost``.
    """
    original = text
    if not text or len(text) > MAX_REFERENCE_LENGTH or text != text.strip():
        raise InputError(
            f"invalid image reference {original[:80]!r}",
            hint="write it as [REGISTRY/]NAME[:TAG][@sha256:DIGEST]",
        )
    digest: str | None = None
    if "@" in text:
        text, digest_text = text.split("@", 1)
        digest = parse_digest(digest_text)
    tag: str | None = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise InputError(
                f"invalid tag {tag[:80]!r} in image reference {original[:120]!r}",
                hint="tags are up to 128 of [A-Za-z0-9_.-] and do not start with . or -",
            )
    registry, _, path = text.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        registry, path = DEFAULT_REGISTRY, text
    if not _DOMAIN_RE.match(registry):
        raise InputError(
            f"invalid registry {registry[:80]!r} in image reference {original[:120]!r}",
            hint="a registry is HOST[:PORT]",
        )
    if registry == "index.docker.io":
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = f"library/{path}"
    if not _PATH_RE.match(path):
        raise InputError(
            f"invalid repository name {path[:80]!r} in image reference {original[:120]!r}",
            hint="repository names are lowercase [a-z0-9] components separated by / . _ or -",
        )
    if tag is None and digest is None:
        tag = default_tag
    return ImageReference(registry=registry, repository=path, tag=tag, digest=digest)
