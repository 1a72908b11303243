"""Step 3 of bundle verification: each transparency log entry, bound to this bundle.

An entry counts only if it comes from a log in the trusted root, its body records exactly this
signature, signer and content, and it is proven to be in the log: by an inclusion proof (with a
signed checkpoint) whose leaf index is the entry's own ``logIndex``, and/or by a signed entry
timestamp that covers body, time, log id and index. A number that no signature or proof covers
is never reported as where the entry is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, cast

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import verify_checkpoint
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry
from sigstore_models.common import v1 as common_v1
from sigstore_models.rekor import v1 as rekor_v1

from oci_attest._internal import strict_json
from oci_attest._internal.strict_json import DuplicateKeyError
from oci_attest.verify.evidence import ArtifactDigest, Entry, EvidenceRejected, Material, first_line
from oci_attest.verify.identity import key_der
from oci_attest.verify.signature import pae
from oci_attest.verify.trust import LogInstance, TrustMaterial

_SUPPORTED_BODIES = {("hashedrekord", "0.0.1"), ("hashedrekord", "0.0.2"), ("dsse", "0.0.1"),
                     ("intoto", "0.0.2")}
_V2_HASHES: dict[str, str] = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


def check_body(entry: Entry, material: Material, signer_spki: bytes,
               artifact: ArtifactDigest | None) -> None:
    """The log entry must record exactly this signature, signer and content."""
    where = f"log entry {entry.position}"
    try:
        body = strict_json.loads(entry.body)
    except DuplicateKeyError as error:
        raise EvidenceRejected(f"{where} body is ambiguous: {error}", step="tlog-body") from None
    except (ValueError, RecursionError):
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
    """The entry is well-formed but records something other than this bundle."""


def _body_hashedrekord_v001(spec: dict[str, Any], material: Material, signer_spki: bytes,
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


def _body_hashedrekord_v002(spec: dict[str, Any], material: Material, signer_spki: bytes,
                            artifact: ArtifactDigest | None) -> None:
    inner = spec["hashedRekordV002"]
    algorithm = _V2_HASHES.get(inner["data"]["algorithm"])
    if algorithm is None:
        raise _Mismatch(f"unsupported digest algorithm {inner['data']['algorithm']}")
    recorded = base64.b64decode(inner["data"]["digest"])
    if material.envelope is not None:
        expected = hashlib.new(algorithm, pae(material.envelope.payload_type,
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


def _body_dsse_v001(spec: dict[str, Any], material: Material, signer_spki: bytes) -> None:
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


def _body_intoto_v002(spec: dict[str, Any], material: Material, signer_spki: bytes) -> None:
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


def _same_signer(recorded: bytes, material: Material, signer_spki: bytes) -> None:
    """The log must name the bundle's own certificate (or, for managed keys, the key).

    Rekor v1 records PEM (text, which may carry surrounding whitespace); Rekor v2 records raw
    DER, where every byte counts: a DER certificate may well end in a byte that happens to be
    ASCII whitespace, so only PEM is ever stripped.
    """
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
            cert = x509.load_der_x509_certificate(recorded)
        except ValueError:
            key = serialization.load_der_public_key(recorded)
            if material.leaf is not None or key_der(key) != signer_spki:
                raise _Mismatch("it records a different public key") from None
            return
    if material.leaf is None or cert != material.leaf:
        raise _Mismatch("it records a different certificate")


def check_inclusion(entry: Entry, log: LogInstance, material: Material) -> None:
    where = f"log entry {entry.position}"
    view = _sigstore_entry(entry)
    if entry.proof is not None and entry.promise is None and (
            entry.proof.log_index != entry.log_index):
        # Without a signed entry timestamp nothing but the proof binds the index: the proof's
        # leaf index is where the entry is, whatever logIndex the bundle states. (With one,
        # the SET signs the global index, which differs from a shard's tree index.)
        raise EvidenceRejected(f"{where} states log index {entry.log_index}, but its inclusion "
                               f"proof is for index {entry.proof.log_index}",
                               step="inclusion-proof")
    if entry.proof is not None:
        try:
            verify_merkle_inclusion(view)
        except VerificationError as error:
            detail = first_line(error)
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
                                       f"{first_line(error)}", step="checkpoint") from None
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
                                   f"invalid: {first_line(error)}", step="set") from None
    elif entry.proof is None:
        raise EvidenceRejected(f"{where} has neither an inclusion proof nor a signed entry "
                               f"timestamp", step="inclusion-proof")
    elif material.version == "0.1":
        raise EvidenceRejected(f"{where} has no inclusion promise (required in bundle v0.1)",
                               step="set")


def _sigstore_entry(entry: Entry) -> TransparencyLogEntry:
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


def check_log_entries(material: Material, trust: TrustMaterial, signer_spki: bytes,
                      artifact: ArtifactDigest | None) -> list[tuple[Entry, LogInstance]]:
    """Every entry of the bundle, each with the trusted log it is proven to be in."""
    if not material.entries and trust.tlogs:
        raise EvidenceRejected("bundle has no transparency log entry, but the trusted root "
                               "requires one (it lists transparency logs)", step="tlog")
    entry_logs: list[tuple[Entry, LogInstance]] = []
    for entry in material.entries:
        log = trust.tlog(entry.log_id)
        if log is None:
            raise EvidenceRejected(
                f"log entry {entry.position} comes from a transparency log that is not in the "
                f"trusted root (log id {base64.b64encode(entry.log_id).decode()})", step="tlog")
        check_body(entry, material, signer_spki, artifact)
        check_inclusion(entry, log, material)
        entry_logs.append((entry, log))
    return entry_logs
