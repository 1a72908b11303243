"""Step 1 of bundle verification: parse a bundle or a cosign layer into :class:`Material`.

Parsing is strict because everything after it trusts the shape: JSON with a key given twice is
refused (two ``dsseEnvelope`` or ``logIndex`` keys mean different things to different
parsers), the bundle's own certificate chain is never trusted (a root in it is refused), and the
signing certificate must be a leaf whose extensions and key parse now, so that a corrupt one is
named as such rather than failing some later check obscurely.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pydantic import ValidationError
from sigstore_models.bundle import v1 as bundle_v1
from sigstore_models.rekor import v1 as rekor_v1

from oci_attest._internal import strict_json
from oci_attest.registry import media_types as mt
from oci_attest.verify.evidence import Entry, EvidenceRejected, Material, first_line
from oci_attest.verify.trust import describe_validation_error

BUNDLE_VERSIONS: dict[str, str] = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    mt.SIGSTORE_BUNDLE_V03: "0.3",
}

_COSIGN_CERT = mt.ANNOTATION_COSIGN_CERTIFICATE
_COSIGN_BUNDLE = mt.ANNOTATION_COSIGN_BUNDLE
_COSIGN_RFC3161 = "dev.sigstore.cosign/rfc3161timestamp"


def parse_cosign_layer(envelope_json: bytes, annotations: Mapping[str, str]) -> Material:
    """Read one layer of a cosign ``sha256-<hex>.att`` manifest the way cosign does.

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
            token = strict_json.loads(rfc3161).get("SignedRFC3161Timestamp", "")
            timestamps.append(base64.b64decode(token, validate=True))
        except (ValueError, AttributeError, binascii.Error):
            raise EvidenceRejected("cosign RFC 3161 timestamp annotation is malformed",
                                   step="parse") from None
    signatures = envelope.signatures
    if len(signatures) != 1:
        raise EvidenceRejected(f"DSSE envelope must carry exactly one signature, it has "
                               f"{len(signatures)}", step="parse")
    _check_leaf(leaf, "cosign certificate annotation")
    return Material(label="cosign .att layer", version="cosign", leaf=leaf, key_hint=None,
                    envelope=envelope, signature=signatures[0].sig, message_digest=None,
                    entries=[entry], timestamps=timestamps, requires_proof=False)


def parse_bundle(raw: bytes) -> Material:
    """Step 1 for a bundle: structure, media type, log entries, and a leaf that is no CA."""
    try:
        document = strict_json.loads(raw)
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
    return Material(label=f"bundle v{version}", version=version, leaf=leaf,
                     key_hint=key_hint, envelope=envelope, signature=signature,
                     message_digest=message_digest, entries=entries, timestamps=timestamps,
                     requires_proof=version != "0.1")


def _parse_entry(position: int, doc: Any, version: str) -> Entry:
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
    return Entry(position=position, log_index=log_index, log_id=log_id,
                  kind=str(kind_version.get("kind")), version=str(kind_version.get("version")),
                  integrated_time=integrated, body=body, promise=promise, proof=proof)


def _parse_cosign_set(text: str) -> Entry:
    try:
        document = strict_json.loads(text)
        payload = document["Payload"]
        body = base64.b64decode(payload["body"], validate=True)
        entry = Entry(position=0, log_index=int(payload["logIndex"]),
                       log_id=bytes.fromhex(payload["logID"]), kind="", version="",
                       integrated_time=int(payload["integratedTime"]), body=body,
                       promise=base64.b64decode(document["SignedEntryTimestamp"], validate=True),
                       proof=None)
        parsed = strict_json.loads(body)
        entry.kind, entry.version = str(parsed["kind"]), str(parsed["apiVersion"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise EvidenceRejected("cosign dev.sigstore.cosign/bundle annotation is malformed",
                               step="parse") from None
    return entry


def _parse_envelope_json(raw: bytes) -> Any:
    from sigstore_models.intoto import Envelope

    try:
        strict_json.loads(raw)  # the model below would keep the last of two equal keys
        return Envelope.from_json(raw)
    except ValidationError as error:
        raise EvidenceRejected(f"malformed DSSE envelope: {describe_validation_error(error)}",
                               step="parse") from None
    except (ValueError, RecursionError) as error:
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
        raise EvidenceRejected(f"{what} is malformed: {first_line(error)[:200]}",
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
