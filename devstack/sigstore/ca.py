"""A Fulcio-compatible CA: OIDC token in, short-lived code-signing certificate out.

It authenticates the token the way Fulcio does (discovery document and JWKS fetched from the
token's issuer, which must be one it trusts), checks proof of possession, and issues a
certificate that satisfies the Sigstore verifier's profile, with its one SCT embedded.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from devstack.sigstore import pki
from devstack.sigstore.ctlog import CTLog
from devstack.sigstore.oidc import AUDIENCE
from devstack.sigstore.principals import PrincipalError, principal_for
from devstack.sigstore.server import Request, Response, json_response

LEAF_LIFETIME = timedelta(minutes=10)
INVALID_ARGUMENT = 3  # gRPC codes, as grpc-gateway reports them in the JSON error body
IDENTITY_ERROR = "There was an error processing the identity token"


class RequestError(Exception):
    def __init__(self, message: str, status: int = 400, code: int = INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class CertificateAuthority:
    def __init__(self, ct: CTLog) -> None:
        self.ct = ct
        self.root_key, self.intermediate_key = pki.new_key(), pki.new_key()
        self.root = pki.ca_certificate("attest dev Fulcio root", self.root_key, path_length=1)
        self.intermediate = pki.ca_certificate("attest dev Fulcio intermediate",
                                               self.intermediate_key,
                                               (self.root, self.root_key), path_length=0)
        self.issuers: dict[str, str] = {}  # issuer URL -> provider kind
        self._jwks: dict[str, jwt.PyJWKClient] = {}

    @property
    def chain(self) -> list[x509.Certificate]:
        return [self.intermediate, self.root]

    def handle(self, request: Request) -> Response:
        try:
            if request.method == "POST" and request.path == "/api/v2/signingCert":
                return self._signing_cert(request)
            if request.method == "GET" and request.path == "/api/v2/trustBundle":
                return json_response(200, {"chains": [
                    {"certificates": [pki.pem(c) for c in self.chain]}]})
            raise RequestError("Not Found", 404, 5)
        except RequestError as exc:
            return json_response(exc.status, {"code": exc.code, "message": str(exc),
                                              "details": []})

    def _signing_cert(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            raise RequestError("invalid JSON body") from exc
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = (body.get("credentials") or {}).get("oidcIdentityToken") or (
            token if scheme.lower() == "bearer" else "")
        provider, issuer, claims = self._authenticate(token)
        try:
            principal = principal_for(provider, issuer, claims)
        except PrincipalError as exc:
            raise RequestError(IDENTITY_ERROR) from exc
        public_key = self._proof_of_possession(body)
        cert = self.issue(principal.san, principal.extensions, public_key)
        chain = [pki.pem(c) for c in [cert, *self.chain]]
        return json_response(201, {"signedCertificateEmbeddedSct": {
            "chain": {"certificates": chain}}})

    def _authenticate(self, token: str) -> tuple[str, str, dict[str, Any]]:
        """Fulcio's checks: a trusted issuer, its JWKS signature, audience and lifetime."""
        try:
            issuer = str(jwt.decode(token, options={"verify_signature": False})["iss"])
            provider = self.issuers[issuer]
            key = self._jwks_client(issuer).get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256", "ES256"], audience=AUDIENCE,
                                issuer=issuer,
                                options={"require": ["iss", "sub", "aud", "exp", "iat"]})
        except (jwt.PyJWTError, KeyError, OSError, ValueError) as exc:
            raise RequestError(IDENTITY_ERROR) from exc
        return provider, issuer, claims

    def _jwks_client(self, issuer: str) -> jwt.PyJWKClient:
        if issuer not in self._jwks:  # only issuers we trust, all on loopback
            discovery_url = f"{issuer}/.well-known/openid-configuration"
            with urllib.request.urlopen(discovery_url, timeout=10) as response:  # noqa: S310
                jwks_uri = json.load(response)["jwks_uri"]
            self._jwks[issuer] = jwt.PyJWKClient(jwks_uri, timeout=10)
        return self._jwks[issuer]

    def _proof_of_possession(self, body: dict[str, Any]) -> Any:
        """The CSR's public key, once the CSR's own signature shows the caller holds its key."""
        try:
            csr = x509.load_pem_x509_csr(base64.b64decode(body["certificateSigningRequest"]))
            key = csr.public_key()
        except (KeyError, TypeError, ValueError) as exc:
            raise RequestError("The certificate signing request could not be parsed") from exc
        if not csr.is_signature_valid:
            raise RequestError("The signature supplied in the request could not be verified")
        if not (isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
                or (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048)):
            raise RequestError("The public key supplied in the request is insecure")
        return key

    def issue(self, san: x509.GeneralName, extensions: list[tuple[x509.ObjectIdentifier, bytes]],
              public_key: Any, *, valid_from: datetime | None = None,
              lifetime: timedelta = LEAF_LIFETIME) -> x509.Certificate:
        """Sign the precertificate, log it for an SCT, then sign it again with the SCT last.

        ``valid_from``/``lifetime`` let tests forge what Fulcio never issues on request: a
        certificate that had already expired when something was signed with it.
        """
        start = valid_from or pki.now()
        builder = (
            x509.CertificateBuilder().subject_name(x509.Name([]))
            .issuer_name(self.intermediate.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + lifetime)
            .add_extension(pki.leaf_key_usage(), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.intermediate_key.public_key()), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=True)  # empty subject
        )
        for oid, value in extensions:
            builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
        precert = builder.sign(self.intermediate_key, hashes.SHA256())
        sct = self.ct.sct_extension_value(precert.tbs_certificate_bytes,
                                          self.intermediate_key.public_key())
        builder = builder.add_extension(x509.UnrecognizedExtension(
            ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, sct), critical=False)
        return builder.sign(self.intermediate_key, hashes.SHA256())

