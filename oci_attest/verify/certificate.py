"""Step 5 of bundle verification: the signing certificate, at every verified time.

Fulcio certificates live for minutes, so "valid now" means nothing: the leaf must have been
valid at each time the bundle proves, chain at that time to a certificate authority whose
validity in the trusted root covers it (never to a CA the bundle brings along), carry a valid
SCT when the root lists CT logs, and be meant for code signing.
"""

from __future__ import annotations

from typing import Any, cast

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import VerificationError as X509VerificationError
from sigstore._internal.sct import verify_sct
from sigstore.errors import VerificationError

from oci_attest.verify.evidence import EvidenceRejected, VerifiedTime, first_line
from oci_attest.verify.trust import TrustMaterial


def check_certificate(leaf: x509.Certificate, times: list[VerifiedTime],
                      trust: TrustMaterial, notes: list[str]) -> None:
    """The leaf at every verified time: validity, chain, SCT, key usage (notes say what was
    not checked because the trusted root does not allow it)."""
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    for verified in times:
        if not not_before <= verified.time <= not_after:
            raise EvidenceRejected(
                f"signing certificate (valid {not_before.isoformat()} .. "
                f"{not_after.isoformat()}) was not valid at the {verified.describe()}",
                step="certificate")
    chain: list[x509.Certificate] = []
    for verified in times:
        chain = _chain_at(leaf, verified, trust)
    if trust.ct_keyring is not None:
        try:
            verify_sct(leaf, chain, cast(Any, trust.ct_keyring))
        except VerificationError as error:
            raise EvidenceRejected(f"certificate transparency: the certificate's SCT is not "
                                   f"valid: {first_line(error)}", step="sct") from None
        except (ValueError, x509.ExtensionNotFound) as error:
            raise EvidenceRejected(f"certificate transparency: {error}", step="sct") from None
    else:
        notes.append("no SCT checked: the trusted root lists no certificate transparency log")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound as error:
        raise EvidenceRejected(f"signing certificate lacks a required extension: {error}",
                               step="certificate") from None
    if not usage.digital_signature:
        raise EvidenceRejected("signing certificate's key usage does not allow digital "
                               "signatures", step="certificate")
    if ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise EvidenceRejected("signing certificate is not for code signing (extended key "
                               "usage)", step="certificate")


def _chain_at(leaf: x509.Certificate, verified: VerifiedTime,
              trust: TrustMaterial) -> list[x509.Certificate]:
    """Build the chain at one verified time, using only CAs whose window covers that time."""
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    errors: list[str] = []
    outside: list[str] = []
    for authority in trust.certificate_authorities:
        if not authority.certificates:
            continue
        verifier = (PolicyBuilder().store(Store(list(authority.certificates)))
                    .time(verified.time)
                    .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
                    .build_client_verifier())
        try:
            chain = verifier.verify(leaf, []).chain[1:]
        except (X509VerificationError, x509.UnsupportedGeneralNameType) as error:
            errors.append(str(error))
            continue
        if not authority.valid_at(verified.time):
            outside.append(f"{authority.name} ({authority.describe_window()})")
            continue
        return chain
    if outside:
        raise EvidenceRejected(
            f"signing certificate was issued by {', '.join(outside)}, whose validity in the "
            f"trusted root does not cover the {verified.describe()}", step="certificate")
    detail = errors[0] if errors else "no certificate authority"
    raise EvidenceRejected(f"signing certificate does not chain to a certificate authority in "
                           f"the trusted root at the {verified.describe()}: {detail}",
                           step="certificate")
