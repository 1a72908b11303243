"""An RFC 3161 timestamp authority, so bundles carry a verified time even without Rekor v1.

Requests are parsed with cryptography's declarative ASN.1; responses are written with the
small DER helpers, as a CMS SignedData over a TSTInfo with the signed attributes (content type,
message digest, ESS signing-certificate-v2) that RFC 3161 and RFC 5816 verifiers look for.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated

from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from devstack.sigstore import der, pki
from devstack.sigstore.server import Request, Response

SIGNED_DATA, TST_INFO = "1.2.840.113549.1.7.2", "1.2.840.113549.1.9.16.1.4"
CONTENT_TYPE, MESSAGE_DIGEST = "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"
SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
SHA256, ECDSA_SHA256 = "2.16.840.1.101.3.4.2.1", "1.2.840.10045.4.3.2"
POLICY = "2.999.1"  # the X.660 example arc: this TSA makes no policy promise


@asn1.sequence
class AlgorithmIdentifier:
    algorithm: x509.ObjectIdentifier
    parameters: asn1.Null | None


@asn1.sequence
class MessageImprint:
    hash_algorithm: AlgorithmIdentifier
    hashed_message: bytes


@asn1.sequence
class TimeStampReq:
    version: int
    message_imprint: MessageImprint
    req_policy: x509.ObjectIdentifier | None
    nonce: int | None
    cert_req: Annotated[bool, asn1.Default(False)]


class TimestampAuthority:
    def __init__(self) -> None:
        self.root_key, self.key = pki.new_key(), pki.new_key()
        self.root = pki.ca_certificate("attest dev TSA root", self.root_key, path_length=0)
        start = pki.now() - timedelta(hours=1)
        self.leaf = (
            x509.CertificateBuilder().subject_name(pki.name("attest dev TSA"))
            .issuer_name(self.root.subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + pki.CA_LIFETIME)
            .add_extension(pki.leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.root_key.public_key()), critical=False)
            .sign(self.root_key, hashes.SHA256()))

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.leaf, self.root]

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/api/v1/timestamp/certchain":
            return Response(200, "".join(pki.pem(c) for c in self.chain).encode(),
                            "application/pem-certificate-chain")
        if request.method != "POST" or request.path != "/api/v1/timestamp":
            return Response(404, b"not found\n", "text/plain")
        try:
            query = asn1.decode_der(TimeStampReq, request.body)
        except ValueError as exc:
            return Response(400, f"error parsing timestamp request: {exc}\n".encode(),
                            "text/plain")
        return Response(200, self.respond(query), "application/timestamp-reply")

    def respond(self, query: TimeStampReq) -> bytes:
        imprint = query.message_imprint
        tst_info = der.seq(
            der.integer(1), der.oid(POLICY),
            der.seq(der.seq(der.oid(imprint.hash_algorithm.algorithm.dotted_string)),
                    der.octets(imprint.hashed_message)),
            der.integer(secrets.randbits(63)), der.generalized_time(pki.now()),
            der.seq(der.integer(1)),  # accuracy: one second
            *([der.integer(query.nonce)] if query.nonce is not None else []))
        leaf_der = pki.der(self.leaf)
        attributes = [
            der.seq(der.oid(CONTENT_TYPE), der.set_of(der.oid(TST_INFO))),
            der.seq(der.oid(MESSAGE_DIGEST),
                    der.set_of(der.octets(hashlib.sha256(tst_info).digest()))),
            der.seq(der.oid(SIGNING_CERTIFICATE_V2), der.set_of(der.seq(der.seq(der.seq(
                der.octets(hashlib.sha256(leaf_der).digest())))))),
        ]
        attrs = b"".join(sorted(attributes))  # signed as a SET, stored as [0] IMPLICIT
        signed_attrs = der.tlv(0x31, attrs)
        signature = self.key.sign(signed_attrs, ec.ECDSA(hashes.SHA256()))
        issuer_and_serial = der.seq(self.leaf.issuer.public_bytes(),
                                    der.integer(self.leaf.serial_number))
        signer_info = der.seq(
            der.integer(1), issuer_and_serial, der.seq(der.oid(SHA256)),
            der.tlv(0xA0, attrs),
            der.seq(der.oid(ECDSA_SHA256)), der.octets(signature))
        signed_data = der.seq(
            der.integer(3), der.set_of(der.seq(der.oid(SHA256))),
            der.seq(der.oid(TST_INFO), der.explicit(0, der.octets(tst_info))),
            der.tlv(0xA0, leaf_der),  # certificates [0] IMPLICIT: the signer, for chain building
            der.set_of(signer_info))
        token = der.seq(der.oid(SIGNED_DATA), der.explicit(0, signed_data))
        return der.seq(der.seq(der.integer(0)), token)  # PKIStatus granted
