"""What went wrong talking to a registry, in one line that names the real problem.

"Rate limiting" is the wrong hint for a certificate the machine does not trust, a proxy that
is down or a port nothing listens on; a pipeline owner reading the CI log needs the actual
cause and the knob that fixes it. Transient causes come back as :class:`TransientError` (the
caller retries them), the others as the :class:`RegistryError` to raise.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import requests
import urllib3

from oci_attest._internal.retry import TransientError
from oci_attest.errors import NotFound, RegistryError
from oci_attest.registry.transport import Transport

#: An error body is read only this far: it is for a one-line message.
MAX_ERROR_BODY = 64 * 1024


def transport_failure(error: requests.RequestException, what: str, host: str, registry: str,
                      transport: Transport, base: str) -> Exception:
    """Name the real problem: a TLS failure, a proxy, a refused connection, a timeout."""
    text = " ".join(str(error).split())
    if isinstance(error, requests.exceptions.SSLError):
        lowered = text.lower()
        detail = ("certificate verify failed" if "certificate verify failed" in lowered
                  else "hostname mismatch" if "hostname" in lowered
                  else "wrong version number (is it plain HTTP?)"
                  if "wrong version number" in lowered else "handshake failed")
        source = transport.ca_source
        return RegistryError(
            f"{what}: TLS to {host} failed: {detail}"
            + (f" (CA from {source})" if source else ""),
            hint="give the registry's CA with --registry-ca FILE, ATTEST_REGISTRY_CA or "
                 f"/etc/docker/certs.d/{registry}/ca.crt")
    if isinstance(error, requests.exceptions.ProxyError):
        proxies = transport.proxies(base)
        proxy = urlparse(proxies.get("https") or proxies.get("http") or "").netloc or "?"
        problem = ("refused the connection (is it running?)" if "refused" in text.lower()
                   else f"failed to connect to {host}")
        return TransientError(
            f"{what}: the proxy {proxy} {problem}",
            hint="check HTTPS_PROXY / NO_PROXY and that the proxy is reachable")
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return TransientError(f"{what}: connecting to {host} timed out",
                              hint="check the registry address and the network path")
    if isinstance(error, requests.ConnectionError) and "refused" in text.lower():
        return TransientError(f"{what}: connection to {host} refused",
                              hint="nothing listens there: check the registry address")
    if isinstance(error, (requests.ConnectionError, requests.Timeout,
                          requests.exceptions.ChunkedEncodingError,
                          requests.exceptions.ContentDecodingError)):
        return TransientError(f"{what}: {type(error).__name__}")
    return RegistryError(f"{what} on {registry} failed: {type(error).__name__}")


def status_failure(response: requests.Response, what: str, registry: str) -> RegistryError:
    """An unexpected HTTP status, with the registry's own error codes (a bounded read);
    404 is :class:`NotFound` (exit 8: retrying will not help)."""
    status = response.status_code
    detail = ""
    try:
        body = response.raw.read(MAX_ERROR_BODY, decode_content=True) \
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
    elif status == 400 and response.url.startswith("http://"):
        # What an HTTPS-only server answers to plain HTTP (a loopback registry with TLS).
        hint = ("asked over plain HTTP; if the registry serves HTTPS, give its CA with "
                f"--registry-ca FILE or /etc/docker/certs.d/{registry}/ca.crt")
    message = f"{what} on {registry}: HTTP {status}"
    if detail:
        message += f" ({' '.join(detail.split())[:300]})"
    if status == 404:
        return NotFound(message, hint=hint)
    return RegistryError(message, hint=hint)
