"""Which Sigstore instance to trust: a trusted root from a file, a trust config, or the public one.

Verification is only as good as the roots it starts from, so this module is deliberately
small and strict:

* ``--trusted-root FILE`` or ``--trust-config FILE`` name a private or air-gapped instance (or a
  test stack). The document is validated field by field and an error names the bad field,
  because a trust root that silently loses a log key is worse than one that fails loudly (a
  log key without a validity start is refused, as the Sigstore client specification asks).
* ``--offline`` without a file uses the trusted root embedded in the installed ``sigstore``
  package, read straight from the package: no TUF update, no cache directory, no socket.
* otherwise the public-good instance is refreshed over TUF; failing to reach it is an
  infrastructure error (exit 5), never a failed verification or a pass.

Loaded roots are cached per process (keyed by path and modification time) so that a
long-running verifier (the admission webhook, the benchmark's warm runs) parses them once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography.x509 import Certificate, load_der_x509_certificate
from pydantic import ValidationError
from sigstore._internal.trust import CertificateAuthority, Keyring
from sigstore.errors import Error as SigstoreError
from sigstore.models import TrustedRoot
from sigstore_models.common.v1 import TimeRange
from sigstore_models.trustroot import v1 as trustroot_v1

from oci_attest._internal import strict_json
from oci_attest.errors import InputError, RegistryError

#: Where the sigstore package keeps the public-good trusted root it ships with.
_EMBEDDED_PACKAGE = "sigstore._store"
_EMBEDDED_PRODUCTION = "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"


class TrustRootUnavailable(RegistryError):
    """The trust root could not be fetched (TUF unreachable): an outage, not a verdict."""

    kind = "trust root unavailable"


@dataclass(frozen=True)
class LogInstance:
    """One transparency log (Rekor) or CT log the trust root vouches for."""

    log_id: bytes
    base_url: str
    valid_for: TimeRange | None
    keyring: Keyring

    def valid_at(self, when: datetime) -> bool:
        """Closed interval: a time equal to the end is still inside (TimeRange semantics)."""
        return _in_range(self.valid_for, when)


@dataclass(frozen=True)
class Authority:
    """A certificate authority (Fulcio) or timestamp authority, with its validity window."""

    name: str
    certificates: tuple[Certificate, ...]
    valid_for: TimeRange
    sigstore: CertificateAuthority

    def valid_at(self, when: datetime) -> bool:
        return _in_range(self.valid_for, when)

    def describe_window(self) -> str:
        end = self.valid_for.end.isoformat() if self.valid_for.end else "open-ended"
        return f"{self.valid_for.start.isoformat()} .. {end}"


@dataclass(frozen=True)
class TrustMaterial:
    """A parsed trusted root plus where it came from (named in every report)."""

    source: str
    root: TrustedRoot
    tlogs: tuple[LogInstance, ...]
    ctlogs: tuple[LogInstance, ...]
    certificate_authorities: tuple[Authority, ...]
    timestamp_authorities: tuple[Authority, ...]
    fingerprint: str
    ct_keyring: Keyring | None

    def tlog(self, log_id: bytes) -> LogInstance | None:
        """The log whose id (SHA-256 of its key) the entry names; None when not trusted."""
        return next((log for log in self.tlogs if log.log_id == log_id), None)


def _in_range(window: TimeRange | None, when: datetime) -> bool:
    if window is None:
        return True
    if when < window.start:
        return False
    return window.end is None or when <= window.end


_CACHE: dict[tuple[str, ...], TrustMaterial] = {}
_CACHE_LOCK = threading.Lock()


def load_trust(*, trusted_root: Path | None = None, trust_config: Path | None = None,
               offline: bool = False) -> TrustMaterial:
    """Pick the trust root the options ask for; see the module docstring for the order."""
    if trusted_root is not None and trust_config is not None:
        from oci_attest.errors import UsageError

        raise UsageError("--trusted-root and --trust-config are alternatives; give one")
    if trusted_root is not None:
        return _cached(("root", *_file_key(trusted_root)),
                       lambda: _from_root_file(trusted_root))
    if trust_config is not None:
        return _cached(("config", *_file_key(trust_config)),
                       lambda: _from_config_file(trust_config))
    if offline:
        return _cached(("embedded",), _embedded_production)
    return _cached(("tuf",), _production_online)


def clear_cache() -> None:
    """Forget loaded roots (the benchmark's cold runs and tests use this)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _file_key(path: Path) -> tuple[str, str]:
    try:
        stat = path.stat()
    except OSError as error:
        raise InputError(f"cannot read trust file {path}: {error.strerror}") from None
    return str(path.resolve()), f"{stat.st_mtime_ns}:{stat.st_size}"


def _cached(key: tuple[str, ...], load: Any) -> TrustMaterial:
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is not None:
        return found
    material: TrustMaterial = load()
    with _CACHE_LOCK:
        _CACHE[key] = material
    return material


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror}") from None


def _from_root_file(path: Path) -> TrustMaterial:
    return parse_trusted_root(_read(path, "trusted root"), source=f"trusted root {path}")


def _from_config_file(path: Path) -> TrustMaterial:
    raw = _read(path, "trust config")
    try:
        document = strict_json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InputError(f"trust config {path} is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("mediaType") != _TRUST_CONFIG_MEDIA_TYPE:
        raise InputError(
            f"trust config {path} is not a Sigstore client trust config",
            hint=f"its mediaType must be {_TRUST_CONFIG_MEDIA_TYPE}")
    root = document.get("trustedRoot")
    if not isinstance(root, dict):
        raise InputError(f"trust config {path} has no trustedRoot object")
    return parse_trusted_root(json.dumps(root).encode(), source=f"trust config {path}")


def _embedded_production() -> TrustMaterial:
    raw = (resources.files(_EMBEDDED_PACKAGE) / _EMBEDDED_PRODUCTION
           / "trusted_root.json").read_bytes()
    return parse_trusted_root(raw, source="public-good trusted root embedded in sigstore "
                                          "(offline)")


def _production_online() -> TrustMaterial:
    from sigstore.models import ClientTrustConfig

    try:
        config = ClientTrustConfig.production(offline=False)
    except SigstoreError as error:
        raise TrustRootUnavailable(
            f"could not refresh the public-good trust root over TUF: {error}",
            hint="use --offline (embedded root) or --trusted-root FILE") from None
    raw = config._inner.trusted_root.to_json().encode()
    return parse_trusted_root(raw, source="public-good trusted root (TUF)")


def parse_trusted_root(raw: bytes, *, source: str) -> TrustMaterial:
    """Validate a trusted root document and index it for verification.

    Protobuf JSON leaves out empty repeated fields, so a root without ``tlogs`` or ``ctlogs``
    (GitHub's private instance has neither) means "none", not "malformed".
    """
    try:
        document = strict_json.loads(raw)  # a key given twice: which log key is trusted?
    except (ValueError, RecursionError) as error:
        raise InputError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise InputError(f"{source} is not a JSON object")
    for repeated in ("tlogs", "ctlogs", "certificateAuthorities", "timestampAuthorities"):
        document.setdefault(repeated, [])
    try:
        inner = trustroot_v1.TrustedRoot.from_json(json.dumps(document))
    except ValidationError as error:
        raise InputError(f"{source} is invalid: {describe_validation_error(error)}",
                         hint="a trusted root must follow the Sigstore TrustedRoot schema; "
                              "every key's validFor needs a start") from None
    except ValueError as error:
        raise InputError(f"{source} is not valid JSON: {error}") from None
    try:
        root = TrustedRoot(inner)
    except SigstoreError as error:
        raise InputError(f"{source} is invalid: {error}") from None
    tlogs = tuple(_log(entry, source, "tlogs", i) for i, entry in enumerate(inner.tlogs))
    ctlogs = tuple(_log(entry, source, "ctlogs", i) for i, entry in enumerate(inner.ctlogs))
    cas = tuple(_authority(a, source, "certificateAuthorities", i)
                for i, a in enumerate(inner.certificate_authorities))
    tsas = tuple(_authority(a, source, "timestampAuthorities", i)
                 for i, a in enumerate(inner.timestamp_authorities))
    if not cas:
        raise InputError(f"{source} lists no certificate authority",
                         hint="keyless verification needs the Fulcio CA chain")
    ct_keyring = Keyring([entry.public_key for entry in inner.ctlogs]) if ctlogs else None
    return TrustMaterial(source=source, root=root, tlogs=tlogs, ctlogs=ctlogs,
                         certificate_authorities=cas, timestamp_authorities=tsas,
                         fingerprint=hashlib.sha256(raw).hexdigest(), ct_keyring=ct_keyring)


def _log(entry: trustroot_v1.TransparencyLogInstance, source: str, where: str,
         index: int) -> LogInstance:
    if not entry.public_key.raw_bytes:
        raise InputError(f"{source} is invalid: {where}[{index}].publicKey has no rawBytes")
    keyring = Keyring([entry.public_key])
    if not keyring._keyring:
        raise InputError(f"{source} is invalid: {where}[{index}].publicKey is not a usable "
                         f"key ({entry.public_key.key_details})")
    return LogInstance(log_id=entry.log_id.key_id, base_url=entry.base_url,
                       valid_for=entry.public_key.valid_for, keyring=keyring)


def _authority(entry: trustroot_v1.CertificateAuthority, source: str, where: str,
               index: int) -> Authority:
    try:
        certificates = tuple(load_der_x509_certificate(c.raw_bytes)
                             for c in entry.cert_chain.certificates)
        wrapped = CertificateAuthority(entry)
    except (ValueError, SigstoreError) as error:
        raise InputError(f"{source} is invalid: {where}[{index}] certificate chain: "
                         f"{error}") from None
    name = certificates[0].subject.rfc4514_string() if certificates else where
    return Authority(name=name, certificates=certificates, valid_for=entry.valid_for,
                     sigstore=wrapped)


def describe_validation_error(error: ValidationError, limit: int = 3) -> str:
    """Pydantic's errors as ``field.path: message`` (the part a person can act on)."""
    parts = []
    for item in error.errors()[:limit]:
        location = ".".join(_camel(str(p)) for p in item.get("loc", ()))
        message = str(item.get("msg", "invalid"))
        kind = item.get("type")
        if kind == "missing":
            message = "required field is missing"
        parts.append(f"{location}: {message}" if location else message)
    more = len(error.errors()) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
