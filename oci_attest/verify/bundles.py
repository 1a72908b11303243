"""Verify one piece of Sigstore evidence: a bundle, or a cosign ``.att`` layer, against a root.

Why not just ``sigstore.verify.Verifier``: it is the reference for what must be checked and we
reuse its checks (certificate chain construction, SCT verification, Merkle inclusion, signed
checkpoints, keyrings), but its orchestration refuses evidence that is valid:

* log entries of kind ``intoto`` 0.0.2 (npm provenance, the SLSA GitHub generators): the body
  differs, the certificate/SCT/SET/proof checks do not;
* bundles from instances without a transparency log (GitHub's private instance: TSA only);
* cosign's ``.att`` layout, which carries a signed entry timestamp but no inclusion proof;
* bundles signed with a managed key;
* a timestamp equal to the end of a TSA's validity (validity periods are closed intervals).

It also accepts a little it should not (trusted-root validity windows of log keys and CAs are
not applied) and often rejects for a secondary reason. So the steps are orchestrated here, in
an order chosen so that the first failing step names the actual problem:

1. parse (JSON, media type, structure), with the bundle's own chain never trusted;
2. the signature over the content (DSSE PAE or the artifact digest);
3. each log entry: from a log in the trusted root, its body consistent with the bundle,
   inclusion proof and signed checkpoint, signed entry timestamp;
4. verified times: log integrated times (under a verified SET, inside the log key's validity)
   and RFC 3161 timestamps from trusted TSAs (inside the TSA's validity, end inclusive);
5. the certificate: valid at every verified time, chaining to a trusted CA whose validity
   covers that time, its SCT (when the root lists CT logs), key usage.

Every failure raises :class:`EvidenceRejected` with one line naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import VerificationError as X509VerificationError
from pydantic import ValidationError
from rfc3161_client import TimeStampResponse, VerifierBuilder, decode_timestamp_response
from rfc3161_client import VerificationError as Rfc3161VerificationError
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import verify_checkpoint
from sigstore._internal.sct import verify_sct
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry
from sigstore_models.bundle import v1 as bundle_v1
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v1 as rekor_v1

from oci_attest.registry import media_types as mt
from oci_attest.verify.identity import (
    SignerIdentity,
    identity_of_certificate,
    identity_of_key,
    key_der,
)
from oci_attest.verify.trust import Authority, LogInstance, TrustMaterial, describe_validation_error

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey

BUNDLE_VERSIONS: dict[str, str] = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    mt.SIGSTORE_BUNDLE_V03: "0.3",
}
#: Same cap as sigstore-go and sigstore-python: a bundle cannot make us verify 10k timestamps.
MAX_TIMESTAMPS = 32
_SUPPORTED_BODIES = {("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"), ("dsse", "0.0.1"),
                     ("intoto", "0.0.2")}
_V2_HASHES: dict[str, str] = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}
_COSIGN_CERT = mt.ANNOTATION_COSIGN_CERTIFICATE
_COSIGN_BUNDLE = mt.ANNOTATION_COSIGN_BUNDLE
_COSIGN_RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"


class EvidenceRejected(Exception):
    """One bundle or layer failed verification; ``reason`` is the one line to show."""

    def __init__(self, reason: str, *, step: str) -> None:
        super().__init__(reason)
        self.reason = " ".join(reason.split())
        self.step = step


@dataclass(frozen=True)
class ArtifactDigest:
    """The digest evidence is checked against (``sha256:<hex>`` or ``sha512:<hex>``)."""

    algorithm: str
    value: bytes

    @classmethod
    def parse(cls, text: str) -> ArtifactDigest:
        algorithm, sep, hexvalue = text.partition(":")
        sizes = {"sha256": 32, "sha384": 48, "sha512": 64}
        if not sep or algorithm not in sizes:
            raise ValueError(f"invalid digest {text!r}: use sha256:<hex> or sha512:<hex>")
        try:
            value = bytes.fromhex(hexvalue)
        except ValueError:
            raise ValueError(f"invalid digest {text!r}: not hexadecimal") from None
        if len(value) != sizes[algorithm] or hexvalue != hexvalue.lower():
            raise ValueError(f"invalid digest {text!r}: wrong length or not lowercase hex")
        return cls(algorithm, value)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> ArtifactDigest:
        return cls(algorithm, hashlib.new(algorithm, data).digest())

    @property
    def hex(self) -> str:
        return self.value.hex()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


@dataclass(frozen=True)
class VerifiedTime:
    source: str  # "transparency log" | "timestamp authority"
    time: datetime

    def describe(self) -> str:
        return f"{self.source} time {self.time.isoformat()}"


@dataclass(frozen=True)
class VerifiedEvidence:
    """What a verified bundle proves: this payload (or artifact) was signed by this signer."""

    content: str  # "dsse" | "message-signature"
    payload_type: str | None
    payload: bytes | None
    signer: SignerIdentity
    times: tuple[VerifiedTime, ...]
    log_entries: tuple[str, ...]
    notes: tuple[str, ...] = ()
    certificate: x509.Certificate | None = field(default=None, compare=False)

    @property
    def signed_at(self) -> datetime:
        """The earliest verified time: when the signature existed at the latest."""
        return min(t.time for t in self.times)


@dataclass
class _Entry:
    position: int
    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None
    body: bytes
    promise: bytes | None
    proof: rekor_v1.InclusionProof | None


@dataclass
class _Material:
    label: str
    version: str
    leaf: x509.Certificate | None
    key_hint: str | None
    envelope: Any  # sigstore_models.intoto.Envelope (payload, payload_type, signatures)
    signature: bytes
    message_digest: common_v1.HashOutput | None
    entries: list[_Entry]
    timestamps: list[bytes]
    requires_proof: bool


# ------------------------------------------------------------------------------ entry points
def verify_bundle(raw: bytes, trust: TrustMaterial, *, key: PublicKey | None = None,
                  artifact: ArtifactDigest | None = None) -> VerifiedEvidence:
    """Verify a Sigstore bundle (v0.1-v0.3). ``artifact`` is required for message signatures."""
    with _malformed_is_rejected():
        material = _parse_bundle(raw)
        return _verify(material, trust, key=key, artifact=artifact)


def verify_cosign_layer(envelope_json: bytes, annotations: Mapping[str, str],
                        trust: TrustMaterial) -> VerifiedEvidence:
    """Verify one layer of a cosign ``sha256-<hex>.att`` manifest the way cosign does.

    The certificate comes from the layer annotation, the proof of logging is the signed entry
    timestamp in ``dev.sigstore.cosign/bundle`` (there is no inclusion proof in this layout),
    and the log entry body must record this envelope and certificate. The chain annotation is
    never trusted: the CA chain comes from the trusted root only.
    """
    envelope = _parse_envelope_json(envelope_json)
    cert_pem = annotations.get(_COSIGN_CERT)
    if not cert_pem:
        raise EvidenceRejected("cosign layer has no certificate annotation (key-signed .att "
                               "layers are not supported)", step="parse")
    try:
        leaf = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as error:
        raise EvidenceRejected(f"cosign certificate annotation is not a PEM certificate: "
                               f"{error}", step="parse") from None
    set_text = annotations.get(_COSIGN_BUNDLE)
    if not set_text:
        raise EvidenceRejected("cosign layer has no dev.sigstore.cosign/bundle annotation: "
                               "nothing proves it was logged", step="parse")
    entry = _parse_cosign_set(set_text)
    timestamps: list[bytes] = []
    rfc3161 = annotations.get(_COSIGN_RFC3161)
    if rfc3161:
        try:
            token = json.loads(rfc3161).get("SignedRFC3161Timestamp", "")
            timestamps.append(base64.b64decode(token, validate=True))
        except (ValueError, AttributeError, binascii.Error):
            raise EvidenceRejected("cosign RFC 3161 timestamp annotation is malformed",
                                   step="parse") from None
    signatures = envelope.signatures
    if len(signatures) != 1:
        raise EvidenceRejected(f"DSSE envelope must carry exactly one signature, it has "
                               f"{len(signatures)}", step="parse")
    _check_leaf(leaf, "cosign certificate annotation")
    material = _Material(label="cosign .att layer", version="cosign", leaf=leaf, key_hint=None,
                         envelope=envelope, signature=signatures[0].sig, message_digest=None,
                         entries=[entry], timestamps=timestamps, requires_proof=False)
    with _malformed_is_rejected():
        return _verify(material, trust, key=None, artifact=None)


@contextmanager
def _malformed_is_rejected() -> Iterator[None]:
    """Hostile input must end as a rejection, never as a crash.

    cryptography and the timestamp decoder parse lazily, so a corrupt extension, key or
    timestamp can surface as ``ValueError`` deep inside a check; whatever the check, the
    evidence is unusable and is reported as such.
    """
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, OverflowError,
            UnicodeDecodeError) as error:
        raise EvidenceRejected(f"malformed evidence: {type(error).__name__}: "
                               f"{_first_line(error)[:200]}", step="malformed") from None


# --------------------------------------------------------------------------------- parsing
def _parse_bundle(raw: bytes) -> _Material:
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise EvidenceRejected(f"bundle is not valid JSON: {error}", step="parse") from None
    if not isinstance(document, dict):
        raise EvidenceRejected("bundle is not a JSON object", step="parse")
    media_type = document.get("mediaType")
    version = BUNDLE_VERSIONS.get(str(media_type))
    if version is None:
        raise EvidenceRejected(f"unsupported bundle version: mediaType {media_type!r}",
                               step="parse")
    material_doc = document.get("verificationMaterial")
    if not isinstance(material_doc, dict):
        raise EvidenceRejected("bundle has no verificationMaterial object", step="parse")
    chain_doc = material_doc.get("x509CertificateChain")
    if isinstance(chain_doc, dict) and not chain_doc.get("certificates"):
        raise EvidenceRejected("bundle's certificate chain is empty", step="parse")
    raw_entries = material_doc.get("tlogEntries", [])
    if not isinstance(raw_entries, list):
        raise EvidenceRejected("bundle's tlogEntries is not a list", step="parse")
    entries = [_parse_entry(i, e, version) for i, e in enumerate(raw_entries)]
    # The rest goes through the protobuf-specs model; entries were parsed above (with the
    # error messages we want), and a bundle that leaves out tlogEntries is legitimate when
    # the instance has no log, so the model sees an empty list.
    stripped = dict(document)
    stripped["verificationMaterial"] = {**material_doc, "tlogEntries": []}
    try:
        model = bundle_v1.Bundle.from_json(json.dumps(stripped))
    except ValidationError as error:
        raise EvidenceRejected(f"malformed bundle: {describe_validation_error(error)}",
                               step="parse") from None
    vm = model.verification_material
    leaf: x509.Certificate | None = None
    if vm.certificate is not None:
        leaf = _load_der_certificate(vm.certificate.raw_bytes, "bundle certificate")
    elif vm.x509_certificate_chain is not None:
        chain = [_load_der_certificate(c.raw_bytes, f"certificate {i} of the bundle's chain")
                 for i, c in enumerate(vm.x509_certificate_chain.certificates)]
        leaf = chain[0]
        for cert in chain[1:]:
            if _is_self_signed_ca(cert):
                raise EvidenceRejected(
                    f"bundle's certificate chain contains a root certificate "
                    f"({cert.subject.rfc4514_string()}); trust anchors may only come from "
                    f"the trusted root", step="parse")
    if leaf is not None:
        _check_leaf(leaf, "bundle's signing certificate")
    key_hint = vm.public_key.hint if vm.public_key is not None else None
    envelope = model.dsse_envelope
    if envelope is not None:
        if len(envelope.signatures) != 1:
            raise EvidenceRejected(f"DSSE envelope must carry exactly one signature, it has "
                                   f"{len(envelope.signatures)}", step="parse")
        signature = envelope.signatures[0].sig
        message_digest = None
    else:
        assert model.message_signature is not None  # the model enforces one of the two
        signature = model.message_signature.signature
        message_digest = model.message_signature.message_digest
    timestamps: list[bytes] = []
    if vm.timestamp_verification_data is not None:
        timestamps = [t.signed_timestamp for t in vm.timestamp_verification_data
                      .rfc3161_timestamps]
    return _Material(label=f"bundle v{version}", version=version, leaf=leaf,
                     key_hint=key_hint, envelope=envelope, signature=signature,
                     message_digest=message_digest, entries=entries, timestamps=timestamps,
                     requires_proof=version != "0.1")


def _parse_entry(position: int, doc: Any, version: str) -> _Entry:
    where = f"log entry {position}"
    if not isinstance(doc, dict):
        raise EvidenceRejected(f"{where} is not an object", step="parse")
    try:
        log_index = int(doc.get("logIndex", "0"))
    except (TypeError, ValueError):
        raise EvidenceRejected(f"{where} has a malformed logIndex", step="parse") from None
    if log_index < 0:
        raise EvidenceRejected(f"{where} has a negative log index ({log_index})", step="parse")
    kind_version = doc.get("kindVersion")
    if not isinstance(kind_version, dict):
        raise EvidenceRejected(f"{where} has no kindVersion", step="parse")
    log_id = _b64(_dig(doc, "logId", "keyId"), f"{where} logId")
    body = _b64(doc.get("canonicalizedBody"), f"{where} canonicalizedBody")
    integrated: int | None = None
    if doc.get("integratedTime") not in (None, "", "0", 0):
        try:
            integrated = int(doc["integratedTime"])
        except (TypeError, ValueError):
            raise EvidenceRejected(f"{where} has a malformed integratedTime",
                                   step="parse") from None
        if integrated < 0:
            raise EvidenceRejected(f"{where} has a negative integratedTime", step="parse")
    promise = None
    if doc.get("inclusionPromise") is not None:
        promise = _b64(_dig(doc, "inclusionPromise", "signedEntryTimestamp"),
                       f"{where} signed entry timestamp")
    proof = None
    if doc.get("inclusionProof") is not None:
        try:
            proof = rekor_v1.InclusionProof.from_json(json.dumps(doc["inclusionProof"]))
        except ValidationError as error:
            raise EvidenceRejected(f"{where} has a malformed inclusion proof: "
                                   f"{describe_validation_error(error)}", step="parse") from None
    elif version != "0.1":
        raise EvidenceRejected(f"{where} has no inclusion proof (required from bundle v0.2 on; "
                               f"a verifier must not look it up online)", step="parse")
    return _Entry(position=position, log_index=log_index, log_id=log_id,
                  kind=str(kind_version.get("kind")), version=str(kind_version.get("version")),
                  integrated_time=integrated, body=body, promise=promise, proof=proof)


def _parse_cosign_set(text: str) -> _Entry:
    try:
        document = json.loads(text)
        payload = document["Payload"]
        body = base64.b64decode(payload["body"], validate=True)
        entry = _Entry(position=0, log_index=int(payload["logIndex"]),
                       log_id=bytes.fromhex(payload["logID"]), kind="", version="",
                       integrated_time=int(payload["integratedTime"]), body=body,
                       promise=base64.b64decode(document["SignedEntryTimestamp"], validate=True),
                       proof=None)
        parsed = json.loads(body)
        entry.kind, entry.version = str(parsed["kind"]), str(parsed["apiVersion"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise EvidenceRejected("cosign dev.sigstore.cosign/bundle annotation is malformed",
                               step="parse") from None
    return entry


def _parse_envelope_json(raw: bytes) -> Any:
    from sigstore_models.intoto import Envelope

    try:
        return Envelope.from_json(raw)
    except ValidationError as error:
        raise EvidenceRejected(f"malformed DSSE envelope: {describe_validation_error(error)}",
                               step="parse") from None
    except ValueError as error:
        raise EvidenceRejected(f"DSSE envelope is not valid JSON: {error}", step="parse") from None


def _dig(doc: Mapping[str, Any], *keys: str) -> Any:
    value: Any = doc
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise EvidenceRejected(f"{what} is missing", step="parse")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise EvidenceRejected(f"{what} is not valid base64", step="parse") from None


def _load_der_certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise EvidenceRejected(f"{what} is not a valid certificate: {error}",
                               step="parse") from None


def _check_leaf(leaf: x509.Certificate, what: str) -> None:
    """Parse the certificate's extensions and key now, so a corrupt one is named as such."""
    try:
        _ = list(leaf.extensions)
        leaf.public_key()
    except ValueError as error:
        raise EvidenceRejected(f"{what} is malformed: {_first_line(error)[:200]}",
                               step="parse") from None
    if _is_ca(leaf):
        raise EvidenceRejected(f"{what} is a CA certificate, not a leaf", step="parse")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(constraints.ca)


def _is_self_signed_ca(cert: x509.Certificate) -> bool:
    if not _is_ca(cert) or cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# -------------------------------------------------------------------------------- verifying
def _verify(material: _Material, trust: TrustMaterial, *, key: PublicKey | None,
            artifact: ArtifactDigest | None) -> VerifiedEvidence:
    notes: list[str] = []
    # (1) who signs: the certificate, or the managed key the caller vouches for.
    if material.leaf is None:
        if key is None:
            hint = f" (hint {material.key_hint!r})" if material.key_hint else ""
            raise EvidenceRejected(f"bundle is signed with a managed key{hint} but no key was "
                                   f"given to verify it with (--key)", step="key")
        signer_key: PublicKey = key
        signer = identity_of_key(key_der(key))
    else:
        if key is not None:
            raise EvidenceRejected("a key was given (--key) but the bundle is signed with a "
                                   "certificate; verify it by identity instead", step="key")
        leaf_key = material.leaf.public_key()
        if not isinstance(leaf_key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                          | rsa.RSAPublicKey):
            raise EvidenceRejected("signing certificate has an unsupported key type",
                                   step="signature")
        signer_key = leaf_key
        signer = identity_of_certificate(material.leaf)
    signer_spki = key_der(signer_key)

    # (2) the signature over the content.
    if material.envelope is not None:
        envelope = material.envelope
        pae = _pae(envelope.payload_type, envelope.payload)
        if not _signature_ok(signer_key, material.signature, pae):
            raise EvidenceRejected("DSSE envelope signature is invalid: it does not verify with "
                                   "the signer's key", step="signature")
        content = "dsse"
    else:
        if artifact is None:
            raise EvidenceRejected("bundle holds a message signature; the artifact (or its "
                                   "digest) is needed to verify it", step="signature")
        digest = material.message_digest
        if digest is not None and (_HASH_NAMES.get(digest.algorithm.value) != artifact.algorithm
                                   or digest.digest != artifact.value):
            raise EvidenceRejected(f"bundle's messageDigest does not match the artifact "
                                   f"({artifact})", step="signature")
        if not _signature_ok(signer_key, material.signature, artifact.value,
                             prehashed=artifact.algorithm):
            raise EvidenceRejected(f"signature is invalid for the artifact {artifact}",
                                   step="signature")
        content = "message-signature"

    # (3) transparency log entries.
    if not material.entries and trust.tlogs:
        raise EvidenceRejected("bundle has no transparency log entry, but the trusted root "
                               "requires one (it lists transparency logs)", step="tlog")
    entry_logs: list[tuple[_Entry, LogInstance]] = []
    descriptions: list[str] = []
    for entry in material.entries:
        log = trust.tlog(entry.log_id)
        if log is None:
            raise EvidenceRejected(
                f"log entry {entry.position} comes from a transparency log that is not in the "
                f"trusted root (log id {base64.b64encode(entry.log_id).decode()})", step="tlog")
        _check_body(entry, material, signer_spki, artifact)
        _check_inclusion(entry, log, material)
        entry_logs.append((entry, log))
        descriptions.append(f"{log.base_url} index {entry.log_index}")

    # (4) verified times.
    times: list[VerifiedTime] = []
    for entry, log in entry_logs:
        if entry.promise is None or entry.integrated_time is None:
            continue
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
            when = _verify_timestamp(number, token, material.signature, trust)
            times.append(VerifiedTime("timestamp authority", when))
    if not times:
        raise EvidenceRejected(
            "no verified signing time: the bundle needs a transparency log entry with a signed "
            "entry timestamp or an RFC 3161 timestamp from a trusted timestamp authority",
            step="time")

    # (5) the certificate.
    if material.leaf is not None:
        _check_certificate(material.leaf, times, trust, notes)

    return VerifiedEvidence(
        content=content,
        payload_type=material.envelope.payload_type if material.envelope is not None else None,
        payload=material.envelope.payload if material.envelope is not None else None,
        signer=signer, times=tuple(times), log_entries=tuple(descriptions),
        notes=tuple(notes), certificate=material.leaf)


_HASH_NAMES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what a DSSE signature actually covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _signature_ok(key: PublicKey, signature: bytes, data: bytes, *,
                  prehashed: str | None = None) -> bool:
    algorithms: dict[str, hashes.HashAlgorithm] = {
        "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            if prehashed:
                return False  # ed25519 signs the message itself, not a digest
            key.verify(signature, data)
            return True
        if prehashed:
            chosen: list[Any] = [Prehashed(algorithms[prehashed])]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            curve_hash = {"secp384r1": hashes.SHA384(), "secp521r1": hashes.SHA512()}.get(
                key.curve.name)
            chosen = [hashes.SHA256()] + ([curve_hash] if curve_hash else [])
        else:
            chosen = [hashes.SHA256()]
        for algorithm in chosen:
            try:
                if isinstance(key, ec.EllipticCurvePublicKey):
                    key.verify(signature, data, ec.ECDSA(algorithm))
                else:
                    key.verify(signature, data, padding.PKCS1v15(), algorithm)
                return True
            except InvalidSignature:
                continue
    except (InvalidSignature, ValueError):
        return False
    return False


# ------------------------------------------------------------------------ log entry checks
def _check_body(entry: _Entry, material: _Material, signer_spki: bytes,
                artifact: ArtifactDigest | None) -> None:
    """The log entry must record exactly this signature, signer and content."""
    where = f"log entry {entry.position}"
    try:
        body = json.loads(entry.body)
    except ValueError:
        raise EvidenceRejected(f"{where} body is not JSON", step="tlog-body") from None
    if not isinstance(body, dict):
        raise EvidenceRejected(f"{where} body is not an object", step="tlog-body")
    kind, version = body.get("kind"), body.get("apiVersion")
    if (kind, version) != (entry.kind, entry.version):
        raise EvidenceRejected(f"{where} body is {kind}/{version} but the bundle says "
                               f"{entry.kind}/{entry.version}", step="tlog-body")
    if (kind, version) not in _SUPPORTED_BODIES:
        raise EvidenceRejected(f"{where} has an unsupported kind {kind}/{version}",
                               step="tlog-body")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise EvidenceRejected(f"{where} body has no spec", step="tlog-body")
    try:
        if kind == "hashedrekord" and version == "0.0.1":
            _body_hashedrekord_v001(spec, material, signer_spki, artifact)
        elif kind == "hashedrekord":
            _body_hashedrekord_v002(spec, material, signer_spki, artifact)
        elif kind == "dsse":
            _body_dsse_v001(spec, material, signer_spki)
        else:
            _body_intoto_v002(spec, material, signer_spki)
    except _Mismatch as mismatch:
        raise EvidenceRejected(f"{where} does not match the bundle: {mismatch}",
                               step="tlog-body") from None
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise EvidenceRejected(f"{where} body is malformed ({type(error).__name__}: {error})",
                               step="tlog-body") from None


class _Mismatch(Exception):
    pass


def _body_hashedrekord_v001(spec: dict[str, Any], material: _Material, signer_spki: bytes,
                            artifact: ArtifactDigest | None) -> None:
    if material.envelope is not None:
        raise _Mismatch("a hashedrekord 0.0.1 entry cannot record a DSSE envelope")
    assert artifact is not None
    data = spec["data"]["hash"]
    if data["algorithm"] != artifact.algorithm or data["value"] != artifact.hex:
        raise _Mismatch(f"it records the artifact digest {data['algorithm']}:{data['value']}, "
                        f"not {artifact}")
    signature = spec["signature"]
    if base64.b64decode(signature["content"]) != material.signature:
        raise _Mismatch("it records a different signature")
    _same_signer(base64.b64decode(signature["publicKey"]["content"]), material, signer_spki)


def _body_hashedrekord_v002(spec: dict[str, Any], material: _Material, signer_spki: bytes,
                            artifact: ArtifactDigest | None) -> None:
    inner = spec["hashedRekordV002"]
    algorithm = _V2_HASHES.get(inner["data"]["algorithm"])
    if algorithm is None:
        raise _Mismatch(f"unsupported digest algorithm {inner['data']['algorithm']}")
    recorded = base64.b64decode(inner["data"]["digest"])
    if material.envelope is not None:
        expected = hashlib.new(algorithm, _pae(material.envelope.payload_type,
                                               material.envelope.payload)).digest()
        what = "the DSSE envelope's PAE"
    else:
        assert artifact is not None
        expected = artifact.value if artifact.algorithm == algorithm else b""
        what = f"the artifact {artifact}"
    if recorded != expected:
        raise _Mismatch(f"its digest is not that of {what}")
    signature = inner["signature"]
    if base64.b64decode(signature["content"]) != material.signature:
        raise _Mismatch("it records a different signature")
    verifier = signature["verifier"]
    if "x509Certificate" in verifier:
        _same_signer(base64.b64decode(verifier["x509Certificate"]["rawBytes"]), material,
                     signer_spki)
    else:
        _same_signer(base64.b64decode(verifier["publicKey"]["rawBytes"]), material, signer_spki)


def _body_dsse_v001(spec: dict[str, Any], material: _Material, signer_spki: bytes) -> None:
    envelope = material.envelope
    if envelope is None:
        raise _Mismatch("a dsse entry needs a DSSE envelope in the bundle")
    payload_hash = spec["payloadHash"]
    if payload_hash["algorithm"] != "sha256" or payload_hash["value"] != hashlib.sha256(
            envelope.payload).hexdigest():
        raise _Mismatch("its payload hash is not the envelope payload's")
    signatures = spec["signatures"]
    if len(signatures) != len(envelope.signatures):
        raise _Mismatch("it records a different number of signatures")
    for recorded, actual in zip(signatures, envelope.signatures, strict=True):
        if base64.b64decode(recorded["signature"]) != actual.sig:
            raise _Mismatch("it records a different signature")
        _same_signer(base64.b64decode(recorded["verifier"]), material, signer_spki)


def _body_intoto_v002(spec: dict[str, Any], material: _Material, signer_spki: bytes) -> None:
    envelope = material.envelope
    if envelope is None:
        raise _Mismatch("an intoto entry needs a DSSE envelope in the bundle")
    content = spec["content"]
    recorded = content["envelope"]
    if recorded.get("payloadType", envelope.payload_type) != envelope.payload_type:
        raise _Mismatch("it records a different payload type")
    signatures = recorded["signatures"]
    if len(signatures) != 1:
        raise _Mismatch(f"it records {len(signatures)} signatures, the bundle one")
    # Rekor stores intoto signatures base64-encoded twice.
    if base64.b64decode(base64.b64decode(signatures[0]["sig"])) != material.signature:
        raise _Mismatch("it records a different signature")
    _same_signer(base64.b64decode(signatures[0]["publicKey"]), material, signer_spki)
    payload_hash = content["payloadHash"]
    if payload_hash["algorithm"] != "sha256" or payload_hash["value"] != hashlib.sha256(
            envelope.payload).hexdigest():
        raise _Mismatch("its payload hash is not the envelope payload's")


def _same_signer(recorded: bytes, material: _Material, signer_spki: bytes) -> None:
    """The log must name the bundle's own certificate (or, for managed keys, the key)."""
    text = recorded.strip()
    if text.startswith(b"-----BEGIN CERTIFICATE"):
        cert = x509.load_pem_x509_certificate(text)
    elif text.startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(text)
        if material.leaf is not None or key_der(key) != signer_spki:
            raise _Mismatch("it records a different public key")
        return
    else:
        try:
            cert = x509.load_der_x509_certificate(text)
        except ValueError:
            key = serialization.load_der_public_key(text)
            if material.leaf is not None or key_der(key) != signer_spki:
                raise _Mismatch("it records a different public key") from None
            return
    if material.leaf is None or cert != material.leaf:
        raise _Mismatch("it records a different certificate")


def _check_inclusion(entry: _Entry, log: LogInstance, material: _Material) -> None:
    where = f"log entry {entry.position}"
    view = _sigstore_entry(entry)
    if entry.proof is not None:
        try:
            verify_merkle_inclusion(view)
        except VerificationError as error:
            detail = _first_line(error)
            if "invalid root hash" in detail:
                detail = "the Merkle root computed from the entry differs from the proof's"
            raise EvidenceRejected(f"{where}: inclusion proof is not valid for this entry "
                                   f"({detail})", step="inclusion-proof") from None
        if entry.proof.checkpoint is None:
            if material.requires_proof:
                raise EvidenceRejected(f"{where}: inclusion proof has no signed checkpoint",
                                       step="inclusion-proof")
        else:
            try:
                verify_checkpoint(cast(Any, log.keyring), view)
            except VerificationError as error:
                raise EvidenceRejected(f"{where}: signed checkpoint is invalid: "
                                       f"{_first_line(error)}", step="checkpoint") from None
            except ValueError as error:
                raise EvidenceRejected(f"{where}: signed checkpoint is malformed: {error}",
                                       step="checkpoint") from None
    elif material.requires_proof:
        raise EvidenceRejected(f"{where} has no inclusion proof", step="inclusion-proof")
    if entry.promise is not None:
        if entry.integrated_time is None:
            raise EvidenceRejected(f"{where} has a signed entry timestamp but no integrated "
                                   f"time", step="set")
        canonical = rfc8785.dumps({
            "body": base64.b64encode(entry.body).decode(),
            "integratedTime": entry.integrated_time,
            "logID": entry.log_id.hex(),
            "logIndex": entry.log_index,
        })
        try:
            log.keyring.verify(key_id=KeyID(entry.log_id), signature=entry.promise,
                               data=canonical)
        except VerificationError as error:
            raise EvidenceRejected(f"{where}: signed entry timestamp (inclusion promise) is "
                                   f"invalid: {_first_line(error)}", step="set") from None
    elif entry.proof is None:
        raise EvidenceRejected(f"{where} has neither an inclusion proof nor a signed entry "
                               f"timestamp", step="inclusion-proof")
    elif material.version == "0.1":
        raise EvidenceRejected(f"{where} has no inclusion promise (required in bundle v0.1)",
                               step="set")


def _sigstore_entry(entry: _Entry) -> TransparencyLogEntry:
    """Adapt an entry to what sigstore's Merkle and checkpoint checks read.

    ``TransparencyLogEntry.__init__`` insists on a checkpoint; the checks themselves do not,
    and we want a missing checkpoint reported after a wrong proof, so the constructor is
    bypassed and only the fields those functions read are set.
    """
    inner = rekor_v1.TransparencyLogEntry.model_construct(
        log_index=entry.log_index,
        log_id=common_v1.LogId.model_construct(key_id=entry.log_id),
        kind_version=rekor_v1.KindVersion.model_construct(kind=entry.kind,
                                                          version=entry.version),
        integrated_time=entry.integrated_time,
        inclusion_proof=entry.proof,
        canonicalized_body=entry.body,
    )
    view = TransparencyLogEntry.__new__(TransparencyLogEntry)
    view._inner = inner
    return view


# ---------------------------------------------------------------------------- timestamps
def _verify_timestamp(number: int, token: bytes, signature: bytes,
                      trust: TrustMaterial) -> datetime:
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
        raise EvidenceRejected(f"{where} is malformed: {_first_line(error)[:200]}",
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
        import warnings

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


# --------------------------------------------------------------------------- certificates
def _check_certificate(leaf: x509.Certificate, times: list[VerifiedTime],
                       trust: TrustMaterial, notes: list[str]) -> None:
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
                                   f"valid: {_first_line(error)}", step="sct") from None
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


def _first_line(error: BaseException) -> str:
    text = " ".join(str(a) for a in error.args) if error.args else str(error)
    return " ".join(text.split())[:300]


def load_public_key(pem: bytes) -> PublicKey:
    """A managed verification key from PEM (the ``--key`` file)."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
                      | rsa.RSAPublicKey):
        raise ValueError("unsupported key type (use ECDSA, Ed25519 or RSA)")
    return key
