"""Registry credentials for the webhook: its own docker config, and the Pod's imagePullSecrets.

A private image verified with no credentials fails as "not found", which would deny every Pod
of a private registry; the kubelet pulls with the Pod's ``imagePullSecrets``, so the webhook
reads the same secrets (through the Kubernetes API, with its service account's permission to
read Secrets) and uses them for that registry. Secrets are read briefly cached, never logged,
and handed only to the registry they are for (the registry client's rule).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError
from oci_attest.registry.auth import Credentials

log = logging.getLogger(__name__)


def _from_auth_entry(entry: Any) -> Credentials | None:
    """A docker config ``auths`` entry (``auth`` = base64 user:pass, or the split fields)."""
    if not isinstance(entry, dict):
        return None
    username, password = entry.get("username"), entry.get("password")
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
    token = entry.get("identitytoken")
    if not (username or password or token):
        return None
    return Credentials(username=username or None, password=password or None,
                       identity_token=token if isinstance(token, str) else None)


def lookup(auths: Any, registry: str) -> Credentials | None:
    """The entry for ``registry`` in a config's ``auths`` (keys may carry a scheme or path)."""
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        host = str(key).removeprefix("https://").removeprefix("http://").split("/", 1)[0]
        if host == registry or (registry == "docker.io" and host in ("index.docker.io",
                                                                    "registry-1.docker.io")):
            return _from_auth_entry(entry)
    return None


class DockerConfigCredentials:
    """The webhook's own ``config.json`` (``registryCredentials`` in the admission config)."""

    def __init__(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read registry credentials {path}: "
                             f"{getattr(error, 'strerror', None) or 'not JSON'}",
                             hint="give a docker config.json with an auths mapping") from None
        self._auths = document.get("auths") if isinstance(document, dict) else None

    def for_registry(self, registry: str) -> Credentials | None:
        return lookup(self._auths, registry)


class PullSecrets:
    """Reads ``kubernetes.io/dockerconfigjson`` Secrets through the Kubernetes API."""

    def __init__(self, kubeconfig: Path | None, ttl_seconds: float = 30.0) -> None:
        from kubernetes import client, config  # heavy import: only when the feature is on

        if kubeconfig is not None:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig))
        else:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
            api_client = client.ApiClient()
        self._api = client.CoreV1Api(api_client)
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def for_registry(self, namespace: str, names: list[str], registry: str) -> Credentials | None:
        for name in names:
            credentials = lookup(self._auths(namespace, name), registry)
            if credentials is not None:
                return credentials
        return None

    def _auths(self, namespace: str, name: str) -> Any:
        key = (namespace, name)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        auths: Any = None
        try:
            secret = self._api.read_namespaced_secret(name, namespace, _request_timeout=5)
            data = secret.data or {}
            raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
            if raw:
                document = json.loads(base64.b64decode(raw))
                auths = document.get("auths", document) if isinstance(document, dict) else None
        except Exception as error:  # an unreadable secret means "no credentials", not a crash
            log.warning("cannot read imagePullSecret %s/%s: %s", namespace, name,
                        type(error).__name__)
        with self._lock:
            self._cache[key] = (time.monotonic() + self._ttl, auths)
        return auths
