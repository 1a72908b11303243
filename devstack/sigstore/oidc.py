"""An OpenID Connect issuer that mints the identity tokens CI systems hand to Sigstore clients.

It hosts one issuer URL per provider kind (``/email``, ``/github``, ``/gitlab``, ``/uri``) because
real Fulcio decides how to read a token's claims from its issuer, never from the claims alone.
It also serves GitHub Actions' token-request endpoint, so ambient credential detection (the
``id`` package) runs its real HTTP code against it.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from devstack.sigstore.server import Request, Response, json_response

PROVIDERS = ("email", "github", "gitlab", "uri")
AUDIENCE = "sigstore"


class OIDCProvider:
    def __init__(self) -> None:
        self.base_url = ""  # known once the service is bound
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._ec = ec.generate_private_key(ec.SECP256R1())
        self._kids = {"RS256": uuid.uuid4().hex[:16], "ES256": uuid.uuid4().hex[:16]}
        self._request_tokens: dict[str, dict[str, Any]] = {}  # GitHub request token -> claims
        self._lock = threading.Lock()

    def issuer(self, provider: str) -> str:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown provider {provider!r}; choose one of {PROVIDERS}")
        return f"{self.base_url}/{provider}"

    def mint(self, provider: str, claims: Mapping[str, Any], *, lifetime: int = 600,
             audience: str = AUDIENCE, alg: str = "RS256",
             signing_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None) -> str:
        """A signed JWT; ``signing_key`` lets tests forge one with a key the JWKS lacks."""
        issued = int(time.time())
        payload = {"iss": self.issuer(provider), "aud": audience, "iat": issued,
                   "nbf": issued, "exp": issued + lifetime, "jti": uuid.uuid4().hex, **claims}
        key = signing_key or (self._rsa if alg == "RS256" else self._ec)
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": self._kids[alg]})

    def github_request_url(self, claims: Mapping[str, Any]) -> tuple[str, str]:
        """``(ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN)`` for ``claims``.

        Tokens are minted when requested, as on GitHub, so a long job never holds a stale one.
        """
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._request_tokens[token] = dict(claims)
        return f"{self.base_url}/github/idtoken?api-version=2.0", token

    def jwks(self) -> dict[str, Any]:
        keys = [{**RSAAlgorithm.to_jwk(self._rsa.public_key(), as_dict=True),
                 "kid": self._kids["RS256"], "alg": "RS256", "use": "sig"},
                {**ECAlgorithm.to_jwk(self._ec.public_key(), as_dict=True),
                 "kid": self._kids["ES256"], "alg": "ES256", "use": "sig"}]
        return {"keys": keys}

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or not parts or parts[0] not in PROVIDERS:
            return json_response(404, {"error": "not_found"})
        provider, rest = parts[0], "/".join(parts[1:])
        issuer = self.issuer(provider)
        if rest == ".well-known/openid-configuration":
            return json_response(200, {
                "issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks",
                "authorization_endpoint": f"{issuer}/authorize",
                "token_endpoint": f"{issuer}/token",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "email"]})
        if rest == ".well-known/jwks":
            return json_response(200, self.jwks())
        if provider == "github" and rest == "idtoken":
            return self._github_token(request)
        return json_response(404, {"error": "not_found"})

    def _github_token(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            claims = self._request_tokens.get(token) if scheme.lower() == "bearer" else None
        if claims is None:
            return json_response(401, {"message": "Unauthorized: bad request token"})
        # Without an audience GitHub uses the owner's URL, which Fulcio would refuse.
        audience = (request.query.get("audience")
                    or f"https://github.com/{claims.get('repository_owner', '')}")
        value = self.mint("github", claims, audience=audience)
        return json_response(200, {"count": 1, "value": value})
