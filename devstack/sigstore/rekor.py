"""A Rekor-compatible transparency log: the v1 REST API and the v2 (rekor-tiles) write API.

Entries are validated as Rekor validates them (the signature must verify against the submitted
certificate) and stored as Rekor canonicalizes them, because verifiers compare the logged body
with the bundle. v1 entries carry an integrated time with a signed entry timestamp; v2 entries
carry none, which is why a v2 signing config needs a TSA.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devstack.sigstore import merkle, pki
from devstack.sigstore.server import LOOPBACK, Request, Response, json_response

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
V2_KEY_DETAILS = {"PKIX_ECDSA_P256_SHA_256": "sha256", "PKIX_ECDSA_P384_SHA_384": "sha384",
                  "PKIX_ECDSA_P521_SHA_512": "sha512"}


class EntryError(Exception):
    """A proposed entry Rekor would refuse; carries the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Log:
    """One append-only Merkle log with its own key, log id and signed checkpoints."""

    def __init__(self, version: int) -> None:
        self.key = pki.new_key()
        self.log_id = pki.key_id(self.key.public_key())
        self.tree_id = secrets.randbelow(2**62)
        # Like Rekor, name the log after its host: sigstore-js looks the signer name up in
        # the trusted root's baseUrl, which for this stack always names the loopback host.
        self.origin = f"{LOOPBACK} - {self.tree_id}" if version == 1 else f"{LOOPBACK}/v2"
        self.bodies: list[bytes] = []
        self.leaves: list[bytes] = []
        self.promises: list[tuple[int, str]] = []  # v1: (integratedTime, SET)
        self.lock = threading.RLock()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def checkpoint(self, size: int, root: bytes) -> str:
        """A signed note; the key hint is the first 4 bytes of the log id, as verifiers expect."""
        note = f"{self.origin}\n{size}\n{pki.b64(root)}\n"
        signature = pki.b64(self.log_id[:4] + self.sign(note.encode()))
        return f"{note}\n\u2014 {LOOPBACK} {signature}\n"

    def proof(self, index: int) -> dict[str, Any]:
        with self.lock:
            leaves = list(self.leaves)
        root = merkle.root(leaves)
        return {"logIndex": index, "treeSize": len(leaves), "rootHash": root,
                "hashes": merkle.inclusion_proof(index, leaves),
                "checkpoint": self.checkpoint(len(leaves), root)}


class Rekor:
    def __init__(self) -> None:
        self.v1, self.v2 = Log(1), Log(2)
        self.base_url = ""

    def handle(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("POST", "/api/v1/log/entries"):
                return self._v1_create(request)
            if route == ("GET", "/api/v1/log/entries") and "logIndex" in request.query:
                return self._v1_lookup(request.query["logIndex"], by_index=True)
            if route[0] == "GET" and route[1].startswith("/api/v1/log/entries/"):
                return self._v1_lookup(route[1].rsplit("/", 1)[1], by_index=False)
            if route == ("GET", "/api/v1/log"):
                proof = self.v1.proof(0)
                return json_response(200, {
                    "rootHash": proof["rootHash"].hex(), "treeSize": proof["treeSize"],
                    "signedTreeHead": proof["checkpoint"], "treeID": str(self.v1.tree_id),
                    "inactiveShards": []})
            if route == ("GET", "/api/v1/log/publicKey"):
                pem = self.v1.key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                return Response(200, pem, "application/x-pem-file")
            if route == ("POST", "/api/v2/log/entries"):
                return self._v2_create(request)
            raise EntryError("Not Found", 404)
        except EntryError as exc:
            return json_response(exc.status, {"code": exc.status, "message": str(exc)})

    # -- v1 --------------------------------------------------------------------------------

    def _v1_create(self, request: Request) -> Response:
        try:
            proposed = request.json()
            body = rfc8785.dumps(canonical_v1(proposed))
        except EntryError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EntryError(f"error processing entry: {exc!r}") from exc
        log = self.v1
        with log.lock:
            leaf = merkle.leaf_hash(body)
            if leaf in log.leaves:
                uuid = self._uuid(log.leaves.index(leaf))
                raise EntryError("an equivalent entry already exists in the transparency log "
                                 f"with UUID {uuid}", 409)
            index = len(log.leaves)
            integrated = int(time.time())
            promise: dict[str, str | int] = {"body": pki.b64(body), "integratedTime": integrated,
                                             "logID": log.log_id.hex(), "logIndex": index}
            log.bodies.append(body)
            log.leaves.append(leaf)
            log.promises.append((integrated, pki.b64(log.sign(rfc8785.dumps(promise)))))
        uuid = self._uuid(index)
        return json_response(201, self._v1_entry(index), {
            "Location": f"{self.base_url}/api/v1/log/entries/{uuid}", "ETag": uuid})

    def _uuid(self, index: int) -> str:
        return f"{self.v1.tree_id:016x}{self.v1.leaves[index].hex()}"

    def _v1_entry(self, index: int) -> dict[str, Any]:
        log = self.v1
        proof = log.proof(index)
        integrated, signed_entry_timestamp = log.promises[index]
        return {self._uuid(index): {
            "body": pki.b64(log.bodies[index]), "integratedTime": integrated,
            "logID": log.log_id.hex(), "logIndex": index,
            "verification": {
                "signedEntryTimestamp": signed_entry_timestamp,
                "inclusionProof": {**proof, "rootHash": proof["rootHash"].hex(),
                                   "hashes": [h.hex() for h in proof["hashes"]]}}}}

    def _v1_lookup(self, key: str, *, by_index: bool) -> Response:
        with self.v1.lock:
            if by_index:
                index = int(key) if key.isdigit() else -1
            else:
                leaf = bytes.fromhex(key[-64:]) if len(key) in (64, 80) else b""
                index = self.v1.leaves.index(leaf) if leaf in self.v1.leaves else -1
            if not 0 <= index < len(self.v1.leaves):
                raise EntryError("Entry not found", 404)
        return json_response(200, self._v1_entry(index))

    # -- v2 --------------------------------------------------------------------------------

    def _v2_create(self, request: Request) -> Response:
        try:
            entry = request.json()["hashedRekordRequestV002"]
            digest = base64.b64decode(entry["digest"], validate=True)
            signature = base64.b64decode(entry["signature"]["content"], validate=True)
            verifier = entry["signature"]["verifier"]
            cert = x509.load_der_x509_certificate(
                base64.b64decode(verifier["x509Certificate"]["rawBytes"]))
            hash_name = V2_KEY_DETAILS[verifier["keyDetails"]]
            _verify_prehashed(cert.public_key(), signature, digest, hash_name)
        except (ValueError, KeyError, TypeError, InvalidSignature) as exc:
            raise EntryError(f"invalid hashedrekord request: {exc!r}") from exc
        body = rfc8785.dumps({"kind": "hashedrekord", "apiVersion": "0.0.2", "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": "SHA2_" + hash_name[3:], "digest": pki.b64(digest)},
                "signature": {"content": pki.b64(signature), "verifier": {
                    "x509Certificate": {"rawBytes": pki.b64(pki.der(cert))},
                    "keyDetails": verifier["keyDetails"]}}}}})
        log = self.v2
        with log.lock:
            index = len(log.leaves)
            log.bodies.append(body)
            log.leaves.append(merkle.leaf_hash(body))
        proof = log.proof(index)
        return json_response(201, {
            "logIndex": str(index), "logId": {"keyId": pki.b64(log.log_id)},
            "kindVersion": {"kind": "hashedrekord", "version": "0.0.2"},
            "inclusionProof": {
                "logIndex": str(index), "rootHash": pki.b64(proof["rootHash"]),
                "treeSize": str(proof["treeSize"]),
                "hashes": [pki.b64(h) for h in proof["hashes"]],
                "checkpoint": {"envelope": proof["checkpoint"]}},
            "canonicalizedBody": pki.b64(body)})


def canonical_v1(proposed: dict[str, Any]) -> dict[str, Any]:
    """Rekor's canonical body for a proposed ``hashedrekord`` or ``dsse`` 0.0.1 entry."""
    kind, spec = proposed.get("kind"), proposed.get("spec")
    if kind not in ("hashedrekord", "dsse") or not isinstance(spec, dict):
        raise EntryError(f"unsupported entry kind {kind!r} (this log accepts hashedrekord, dsse)")
    if proposed.get("apiVersion") != "0.0.1":
        raise EntryError(f"{kind} entries must use apiVersion 0.0.1")
    if kind == "hashedrekord":
        signature = base64.b64decode(spec["signature"]["content"], validate=True)
        key, pem = _load_verifier(spec["signature"]["publicKey"]["content"])
        algorithm, value = spec["data"]["hash"]["algorithm"], spec["data"]["hash"]["value"]
        digest = bytes.fromhex(value)
        if algorithm not in HASHES or len(digest) != HASHES[algorithm]().digest_size:
            raise EntryError(f"invalid {algorithm} digest")
        try:
            _verify_prehashed(key, signature, digest, algorithm)
        except InvalidSignature as exc:
            raise EntryError("error processing entry: signature verification failed") from exc
        return {"apiVersion": "0.0.1", "kind": kind, "spec": {
            "data": {"hash": {"algorithm": algorithm, "value": digest.hex()}},
            "signature": {"content": pki.b64(signature), "publicKey": {"content": pem}}}}
    envelope_text = spec["proposedContent"]["envelope"]
    envelope = json.loads(envelope_text)
    payload = base64.b64decode(envelope["payload"], validate=True)
    payload_type = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)
    verifiers = [_load_verifier(v) for v in spec["proposedContent"]["verifiers"]]
    signatures = []
    for item in envelope["signatures"]:
        raw = base64.b64decode(item["sig"], validate=True)
        matched = next((p for k, p in verifiers if _verifies(k, raw, pae)), None)
        if matched is None:
            raise EntryError("error processing entry: all signatures must have a key that "
                             "verifies it")
        signatures.append({"signature": item["sig"], "verifier": matched})
    return {"apiVersion": "0.0.1", "kind": kind, "spec": {
        "envelopeHash": {"algorithm": "sha256",
                         "value": hashlib.sha256(envelope_text.encode()).hexdigest()},
        "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
        "signatures": sorted(signatures, key=lambda s: s["signature"])}}


def _load_verifier(b64_pem: str) -> tuple[Any, str]:
    """A certificate or public key, and Rekor's canonical (re-encoded PEM, base64) form."""
    pem = base64.b64decode(b64_pem, validate=True)
    if b"CERTIFICATE" in pem:
        cert = x509.load_pem_x509_certificate(pem)
        return cert.public_key(), pki.b64(pki.pem(cert).encode())
    key = serialization.load_pem_public_key(pem)
    canonical = key.public_bytes(serialization.Encoding.PEM,
                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, pki.b64(canonical)


def _verify_prehashed(key: Any, signature: bytes, digest: bytes, algorithm: str) -> None:
    prehashed = Prehashed(HASHES[algorithm]())
    if isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, digest, ec.ECDSA(prehashed))
    elif isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, digest, padding.PKCS1v15(), prehashed)
    else:
        raise InvalidSignature


def _verifies(key: Any, signature: bytes, data: bytes) -> bool:
    try:
        _verify_prehashed(key, signature, hashlib.sha256(data).digest(), "sha256")
    except InvalidSignature:
        return False
    return True
