"""How a registry is reached: HTTP or HTTPS, which CA to trust, which proxy to go through.

Corporate networks put registries behind a forward proxy and a private CA; attest follows the
conventions every other tool there already follows, in this order:

* CA: ``--registry-ca FILE`` (``ATTEST_REGISTRY_CA``) for every registry; else docker's
  ``/etc/docker/certs.d/<host[:port]>/ca.crt`` for that host (``ATTEST_DOCKER_CERTS_DIR``
  moves the directory), with ``client.cert``/``client.key`` there used as a client
  certificate; else ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``; else the system bundle.
* Proxy: ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY`` (either case), as
  requests reads them, except that a loopback registry is never proxied: a proxy would resolve
  ``127.0.0.1`` to itself, and a local registry must stay local whatever the CI exports.
* Scheme: a loopback registry is spoken to over plain HTTP (like the docker engine) unless a
  CA is configured for it, which says it speaks TLS; everything else over HTTPS, or HTTP when
  listed in ``ATTEST_INSECURE_REGISTRIES``.

Nothing here reads ``.netrc``: requests' ``trust_env`` would add its credentials to requests
(redirect targets included), so the environment is consulted only for proxies and CAs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import requests.utils

from oci_attest.errors import InputError
from oci_attest.reference import is_loopback_host

ENV_REGISTRY_CA = "ATTEST_REGISTRY_CA"
ENV_CERTS_DIR = "ATTEST_DOCKER_CERTS_DIR"
DOCKER_CERTS_DIR = "/etc/docker/certs.d"

_registry_ca: Path | None = None


def set_registry_ca(path: Path | None) -> None:
    """``--registry-ca FILE``: trust this CA (PEM) for every registry of this run."""
    global _registry_ca
    if path is not None and not path.is_file():
        raise InputError(f"--registry-ca {path}: no such file",
                         hint="give the PEM file of the CA that signed the registry's certificate")
    _registry_ca = path


@dataclass(frozen=True)
class Transport:
    """What :class:`~oci_attest.registry.client.RegistryClient` needs to reach one host."""

    scheme: str
    verify: bool | str
    cert: tuple[str, str] | None
    ca_source: str | None

    def proxies(self, url: str) -> dict[str, str]:
        """The proxy for ``url`` from the environment (honouring NO_PROXY); none for loopback."""
        host = urlparse(url).netloc
        if is_loopback_host(host):
            return {}
        found = requests.utils.get_environ_proxies(url, no_proxy=None)
        return {k: v for k, v in found.items() if k in ("http", "https", "all")}


def _registry_ca_file() -> Path | None:
    if _registry_ca is not None:
        return _registry_ca
    value = os.environ.get(ENV_REGISTRY_CA)
    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise InputError(f"{ENV_REGISTRY_CA}={value}: no such file",
                         hint="give the PEM file of the CA that signed the registry's certificate")
    return path


def _docker_certs(host: str) -> tuple[Path | None, tuple[str, str] | None]:
    directory = Path(os.environ.get(ENV_CERTS_DIR) or DOCKER_CERTS_DIR) / host
    ca = directory / "ca.crt"
    cert, key = directory / "client.cert", directory / "client.key"
    client = (str(cert), str(key)) if cert.is_file() and key.is_file() else None
    return (ca if ca.is_file() else None), client


def transport_for(registry: str) -> Transport:
    """Scheme, CA and client certificate for ``registry`` (a host[:port])."""
    explicit = _registry_ca_file()
    docker_ca, client_cert = _docker_certs(registry)
    ca = explicit or docker_ca
    insecure = {h.strip() for h in os.environ.get("ATTEST_INSECURE_REGISTRIES", "").split(",")
                if h.strip()}
    if registry in insecure:
        scheme = "http"
    elif is_loopback_host(registry):
        scheme = "https" if ca is not None else "http"
    else:
        scheme = "https"
    verify: bool | str = True
    source = None
    if ca is not None:
        verify, source = str(ca), ("--registry-ca" if explicit else str(ca))
    else:
        for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
            value = os.environ.get(name)
            if value:
                verify, source = value, name
                break
    return Transport(scheme=scheme, verify=verify, cert=client_cert, ca_source=source)
