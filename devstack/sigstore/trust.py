"""The ClientTrustConfig document (trusted root + signing config v0.2) for the local stack.

Clients load it unchanged through ``ClientTrustConfig.from_json``; the schema forbids extra
fields, so the "development only" label lives in the operator and certificate subjects.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from devstack.sigstore import pki

CLIENT_TRUST_CONFIG = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
TRUSTED_ROOT = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
OPERATOR = "attest-dev (NOT FOR PRODUCTION)"


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def transparency_log(url: str, key: ec.EllipticCurvePublicKey, start: datetime) -> dict[str, Any]:
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": pki.b64(pki.spki_der(key)),
                          "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": _time(start)}},
            "logId": {"keyId": pki.b64(pki.key_id(key))}}


def authority(url: str, chain: list[x509.Certificate]) -> dict[str, Any]:
    """A CA or TSA entry; ``chain`` runs from the issuing certificate to the root."""
    return {"subject": {"organization": pki.ORGANIZATION,
                        "commonName": chain[0].subject.rfc4514_string()},
            "uri": url,
            "certChain": {"certificates": [{"rawBytes": pki.b64(pki.der(c))} for c in chain]},
            "validFor": {"start": _time(chain[-1].not_valid_before_utc)}}


def service(url: str, start: datetime, version: int = 1) -> dict[str, Any]:
    return {"url": url, "majorApiVersion": version, "operator": OPERATOR,
            "validFor": {"start": _time(start)}}


def client_trust_config(*, trusted_root: Mapping[str, Any], urls: Mapping[str, str],
                        start: datetime, rekor_version: int, tsa: bool) -> dict[str, Any]:
    """``urls`` has ``oidc``, ``ca``, ``rekor`` and ``tsa``; v2 logs have no SET, so need a TSA."""
    if rekor_version not in (1, 2):
        raise ValueError("rekor_version must be 1 or 2")
    if rekor_version == 2 and not tsa:
        raise ValueError("Rekor v2 entries carry no signed time: a TSA is required")
    signing_config = {
        "mediaType": SIGNING_CONFIG,
        "caUrls": [service(urls["ca"], start)],
        "oidcUrls": [service(f"{urls['oidc']}/email", start)],  # an issuer, for interactive use
        "rekorTlogUrls": [service(urls["rekor"], start, rekor_version)],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaUrls": [service(f"{urls['tsa']}/api/v1/timestamp", start)] if tsa else [],
        "tsaConfig": {"selector": "EXACT", "count": 1} if tsa else {"selector": "ANY"},
    }
    return {"mediaType": CLIENT_TRUST_CONFIG, "trustedRoot": dict(trusted_root),
            "signingConfig": signing_config}
