"""Registry credentials from the docker config and its credential helpers.

Credentials are looked up per registry host and handed only to that host's token endpoint or
API; they are never logged, never returned to callers for display, and never follow a redirect
to another host (blob storage URLs are presigned and need none).
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from docker import auth as docker_auth

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credentials:
    """A username/password or identity token for one registry; ``repr`` hides the secret."""

    username: str | None = None
    password: str | None = None
    identity_token: str | None = None

    def basic_header(self) -> str | None:
        if self.username is None or self.password is None:
            return None
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret={'***' if self.password else None})"


def credentials_for(registry: str) -> Credentials | None:
    """Resolve credentials the way ``docker login`` stored them (config, credsStore, helpers)."""
    try:
        config = docker_auth.load_config()
        entry = docker_auth.resolve_authconfig(config, registry)
    except Exception as error:  # a broken helper must not crash a pull of a public image
        log.warning("could not read docker credentials for %s: %s", registry, type(error).__name__)
        return None
    if not entry:
        return None
    username = entry.get("username") or entry.get("Username")
    password = entry.get("password") or entry.get("Password") or entry.get("Secret")
    token = entry.get("identitytoken") or entry.get("IdentityToken")
    if not (username or password or token):
        return None
    return Credentials(username=username, password=password, identity_token=token)
