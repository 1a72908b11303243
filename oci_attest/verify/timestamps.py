"""Step 4 of bundle verification: the times the bundle proves it was signed by.

Two sources count: a log entry's integrated time, when a signed entry timestamp covers it and
the log key was valid then; and RFC 3161 tokens over this signature from a timestamp authority
in the trusted root, inside that authority's validity (end inclusive). The certificate is later
checked at every one of these times.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from rfc3161_client import TimeStampResponse, VerifierBuilder, decode_timestamp_response
from rfc3161_client import VerificationError as Rfc3161VerificationError
from sigstore_models.common import v1 as common_v1

from oci_attest.verify.evidence import (
    Entry,
    EvidenceRejected,
    Material,
    VerifiedTime,
    first_line,
)
from oci_attest.verify.trust import Authority, LogInstance, TrustMaterial

MAX_TIMESTAMPS = 32


def verified_times(material: Material, entry_logs: list[tuple[Entry, LogInstance]],
                   trust: TrustMaterial) -> list[VerifiedTime]:
    """Every time the bundle proves, from signed log entries and trusted timestamps."""
    times: list[VerifiedTime] = []
    for entry, log in entry_logs:
        if entry.promise is None or entry.integrated_time is None:
            continue  # an integrated time no signature covers proves nothing
        when = datetime.fromtimestamp(entry.integrated_time, tz=UTC)
        if not log.valid_at(when):
            raise EvidenceRejected(
                f"log entry {entry.position} was integrated at {when.isoformat()}, outside the "
                f"validity of its log key in the trusted root ({_window(log.valid_for)})",
                step="time")
        times.append(VerifiedTime("transparency log", when))
    if material.timestamps:
        if len(material.timestamps) > MAX_TIMESTAMPS:
            raise EvidenceRejected(f"bundle has {len(material.timestamps)} timestamps (at most "
                                   f"{MAX_TIMESTAMPS} are accepted)", step="time")
        if len(set(material.timestamps)) != len(material.timestamps):
            raise EvidenceRejected("bundle contains the same timestamp twice", step="time")
        if not trust.timestamp_authorities:
            raise EvidenceRejected("bundle has RFC 3161 timestamps but the trusted root lists no "
                                   "timestamp authority", step="time")
        for number, token in enumerate(material.timestamps):
            when = verify_timestamp(number, token, material.signature, trust)
            times.append(VerifiedTime("timestamp authority", when))
    if not times:
        raise EvidenceRejected(
            "no verified signing time: the bundle needs a transparency log entry with a signed "
            "entry timestamp or an RFC 3161 timestamp from a trusted timestamp authority",
            step="time")
    return times


def verify_timestamp(number: int, token: bytes, signature: bytes,
                     trust: TrustMaterial) -> datetime:
    """One RFC 3161 token: over this signature, from a trusted TSA, inside its validity."""
    where = f"RFC 3161 timestamp {number}"
    try:
        response = decode_timestamp_response(token)
    except ValueError as error:
        signers = _embedded_certificate_names(token)
        trusted = {c.subject for a in trust.timestamp_authorities for c in a.certificates}
        if signers and not any(name in trusted for name, _ in signers):
            names = ", ".join(sorted({_short_name(n) for n, _ in signers}))
            raise EvidenceRejected(f"{where} is from a timestamp authority that is not in the "
                                   f"trusted root ({names})", step="timestamp") from None
        raise EvidenceRejected(f"{where} cannot be decoded: {error}", step="timestamp") from None
    try:
        imprint = response.tst_info.message_imprint
        imprint_oid = imprint.hash_algorithm.dotted_string
        _ = response.tst_info.gen_time, list(response.signed_data.signer_infos)
    except ValueError as error:
        raise EvidenceRejected(f"{where} is malformed: {first_line(error)[:200]}",
                               step="timestamp") from None
    algorithm = _IMPRINT_HASHES.get(imprint_oid)
    if algorithm is None or hashlib.new(algorithm, signature).digest() != imprint.message:
        raise EvidenceRejected(f"{where} does not cover this bundle's signature (its message "
                               f"imprint is of something else)", step="timestamp")
    gen_time = response.tst_info.gen_time
    reasons: list[str] = []
    signer_known = False
    for authority in trust.timestamp_authorities:
        if _signed_by(response, authority):
            signer_known = True
        problem = _timestamp_problem(response, signature, authority)
        if problem is None:
            return gen_time
        reasons.append(f"{authority.name}: {problem}")
    if not signer_known:
        names = ", ".join(sorted({_short_name(s.issuer)
                                  for s in response.signed_data.signer_infos}))
        raise EvidenceRejected(f"{where} was not issued by a timestamp authority in the trusted "
                               f"root (signer issued by {names or 'unknown'})",
                               step="timestamp")
    raise EvidenceRejected(f"{where} (time {gen_time.isoformat()}) was not verified: "
                           + "; ".join(reasons), step="timestamp")


_IMPRINT_HASHES = {"2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
                   "2.16.840.1.101.3.4.2.3": "sha512"}


def _signed_by(response: TimeStampResponse, authority: Authority) -> bool:
    if not authority.certificates:
        return False
    leaf = authority.certificates[0]
    return any(s.issuer == leaf.issuer and s.serial_number == leaf.serial_number
               for s in response.signed_data.signer_infos)


def _timestamp_problem(response: TimeStampResponse, signature: bytes,
                       authority: Authority) -> str | None:
    certificates = authority.certificates
    if len(certificates) < 2:
        return "its chain in the trusted root is incomplete"
    builder = VerifierBuilder().tsa_certificate(certificates[0]).add_root_certificate(
        certificates[-1])
    for intermediate in certificates[1:-1]:
        builder = builder.add_intermediate_certificate(intermediate)
    try:
        builder.build().verify_message(response, signature)
    except Rfc3161VerificationError as error:
        return _openssl_reason(str(error)) or "signature does not verify"
    gen_time = response.tst_info.gen_time
    if not authority.valid_at(gen_time):
        return (f"time {gen_time.isoformat()} is outside the authority's validity in the "
                f"trusted root ({authority.describe_window()})")
    return None


def _embedded_certificate_names(token: bytes) -> list[tuple[x509.Name, int]]:
    """Subjects of certificates embedded in a timestamp we could not decode strictly.

    Some TSAs emit BER (e.g. unsorted SET OF certificates) that the strict DER decoder
    refuses; reading their certificates leniently still tells whether the TSA is trusted at
    all, which is the reason worth reporting.
    """
    try:
        content_info = _der_second_element(token)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            certs = pkcs7.load_der_pkcs7_certificates(content_info)
    except (ValueError, IndexError):
        return []
    return [(c.subject, c.serial_number) for c in certs]


def _der_second_element(data: bytes) -> bytes:
    """The second element of an outer SEQUENCE (TimeStampResp -> timeStampToken)."""

    def header(at: int) -> tuple[int, int]:
        length = data[at + 1]
        start = at + 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[start:start + count], "big")
            start += count
        return start, length

    inner_start, _ = header(0)
    status_start, status_length = header(inner_start)
    token_at = status_start + status_length
    token_start, token_length = header(token_at)
    return data[token_at:token_start + token_length]


def _short_name(name: x509.Name) -> str:
    """The CN when there is one: DNs of public TSAs run to hundreds of characters."""
    common = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if common:
        return f"CN={common[0].value!s}"
    return name.rfc4514_string()


def _openssl_reason(text: str) -> str:
    """Pull the human part out of an OpenSSL error stack (``Verify error: ...``)."""
    match = re.search(r'data: "(?:Verify error: )?([^"]+)"', text)
    if match:
        return f"TSA certificate chain: {match.group(1)}"
    return " ".join(text.split())[:200]


def _window(window: common_v1.TimeRange | None) -> str:
    if window is None:
        return "unbounded"
    end = window.end.isoformat() if window.end else "open-ended"
    return f"{window.start.isoformat()} .. {end}"
