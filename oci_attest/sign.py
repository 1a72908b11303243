"""Keyless signing with Sigstore: an identity token becomes one short-lived certificate, and
every statement of a build is signed with it as a DSSE envelope inside a Sigstore bundle.

One certificate per build, not per statement: public-good Fulcio rate-limits, and a verifier
reading several attestations of one image expects one signer. Transient failures of the CA,
the log or the timestamp authority are retried with bounded backoff. The sigstore client sets
no timeout on its CA and log requests (a stalled service would hang a release for ever), so
every HTTP request made while signing gets one (``ATTEST_SIGNING_TIMEOUT``, seconds). And a
timestamp authority that fails is only a warning to the sigstore client, which then returns a
bundle without a timestamp; with a TSA configured that bundle is refused and signing retried,
because on a TSA-only (Rekor v2) instance it could never be verified.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
import requests.adapters
from sigstore import dsse
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityError, IdentityToken, Issuer, detect_credential
from sigstore.sign import Signer, SigningContext

from oci_attest._internal.retry import (
    RetryPolicy,
    TransientError,
    call_with_retries,
    parse_retry_after,
    reason,
)
from oci_attest.errors import InputError, SigningError

log = logging.getLogger(__name__)
T = TypeVar("T")

IDENTITY_TOKEN_ENV = "ATTEST_IDENTITY_TOKEN"  # noqa: S105 - a variable name, not a value
SIGNING_TIMEOUT_ENV = "ATTEST_SIGNING_TIMEOUT"
SIGSTORE_TOKEN_ENV = "SIGSTORE_ID_TOKEN"  # noqa: S105 - a variable name, not a value
DEFAULT_SIGNING_TIMEOUT = 60.0
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class SignedStatement:
    """A statement and its bundle (Sigstore bundle v0.3 JSON)."""

    name: str
    bundle_json: bytes


def load_trust_config(path: Path | None) -> ClientTrustConfig:
    """A ``ClientTrustConfig`` from a file, or the public-good instance's by default."""
    if path is None:
        try:
            return ClientTrustConfig.production()
        except Exception as error:
            raise SigningError(f"cannot load the public Sigstore trust configuration: "
                               f"{_short(error)}", hint="pass --trust-config FILE for a private "
                               "instance, or check network access to the TUF repository") from None
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(f"cannot read trust config {path}: {error.strerror}",
                         hint="pass the path of a ClientTrustConfig JSON file") from None
    try:
        return ClientTrustConfig.from_json(text)
    except Exception as error:
        from pydantic import ValidationError

        from oci_attest.verify.trust import describe_validation_error

        # pydantic's own text spans lines and links to its docs; name the fields instead
        problem = (describe_validation_error(error) if isinstance(error, ValidationError)
                   else _short(error))
        raise InputError(f"trust config {path} is not a valid ClientTrustConfig: {problem}",
                         hint="it must have mediaType "
                         "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json") from None


def resolve_identity_token(explicit: str | None, trust_config: ClientTrustConfig) -> str:
    """The OIDC token to sign with: explicit, else ambient CI credentials, else interactive.

    The token is a credential: it is never logged, stored or echoed in an error.
    """
    # SIGSTORE_ID_TOKEN is cosign's variable, and what GitLab's id_tokens are usually named:
    # honoured on any CI (the ambient detection below reads it only under GitLab).
    token = explicit or os.environ.get(IDENTITY_TOKEN_ENV) or os.environ.get(SIGSTORE_TOKEN_ENV)
    if token and token.startswith("@"):
        try:
            token = Path(token[1:]).read_text().strip()
        except OSError as error:
            raise InputError(f"cannot read the identity token file {token[1:]}: "
                             f"{error.strerror}") from None
    if token:
        return token.strip()
    try:
        ambient = detect_credential()
    except Exception as error:
        raise SigningError(f"ambient CI credentials are misconfigured: {_short(error)}",
                           hint="on GitHub Actions grant `permissions: id-token: write`; on "
                                "GitLab declare an id_tokens entry SIGSTORE_ID_TOKEN with "
                                "aud: sigstore") from None
    if ambient:
        return str(ambient)
    if sys.stdin.isatty() and sys.stderr.isatty():
        return _interactive_token(trust_config)
    raise SigningError("no identity token: none given, no ambient CI credentials found, and no "
                       "terminal for the interactive flow",
                       hint="pass --identity-token, set ATTEST_IDENTITY_TOKEN or "
                            "SIGSTORE_ID_TOKEN, run in a CI with "
                            "OIDC enabled, or use --no-sign")


def _interactive_token(trust_config: ClientTrustConfig) -> str:
    url = trust_config.signing_config.get_oidc_url()
    try:
        return str(Issuer(url).identity_token())
    except Exception as error:
        raise SigningError(f"interactive sign-in failed: {_short(error)}") from None


def signing_timeout() -> float:
    """Seconds one request to the CA, log or TSA may take (``ATTEST_SIGNING_TIMEOUT``)."""
    try:
        return max(0.1, float(os.environ.get(SIGNING_TIMEOUT_ENV, DEFAULT_SIGNING_TIMEOUT)))
    except ValueError:
        raise InputError(f"{SIGNING_TIMEOUT_ENV} must be a number of seconds") from None


@contextlib.contextmanager
def _bounded_requests(seconds: float) -> Iterator[None]:
    """Give every HTTP request made inside a timeout, whatever the library passed.

    ``requests`` sends ``timeout=None`` (wait for ever) when a caller sets none, which
    overrides a socket default; the one place every request passes through is the transport
    adapter, so the bound is applied there, and restored afterwards.
    """
    original = requests.adapters.HTTPAdapter.send

    def send(adapter: requests.adapters.HTTPAdapter, request: requests.PreparedRequest,
             *args: Any, **kwargs: Any) -> requests.Response:
        timeout = kwargs.get("timeout")
        if timeout is None or (isinstance(timeout, int | float) and timeout > seconds):
            kwargs["timeout"] = seconds
        return original(adapter, request, *args, **kwargs)

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    requests.adapters.HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]
        socket.setdefaulttimeout(previous)


def _classify(error: BaseException, what: str) -> BaseException:
    """Map a sigstore/requests failure to TransientError (retry) or SigningError (stop)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.HTTPError) and current.response is not None:
            status = current.response.status_code
            if status in _TRANSIENT_STATUS:
                return TransientError(f"{what}: HTTP {status}", retry_after=parse_retry_after(
                    current.response.headers.get("Retry-After")))
            return SigningError(f"{what} was refused (HTTP {status}): {_short(error)}",
                                hint=_hint_for(status))
        if isinstance(current, requests.ConnectionError | requests.Timeout | TimeoutError |
                      ConnectionError | requests.exceptions.ChunkedEncodingError):
            return TransientError(f"{what}: {type(current).__name__}")
        nxt = current.__cause__ or current.__context__
        if nxt is None:
            nxt = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = nxt
    return SigningError(f"{what} failed: {_short(error)}")


def _hint_for(status: int) -> str:
    if status in (401, 403):
        return "the identity token was refused: is it expired, or is its audience not 'sigstore'?"
    if status == 400:
        return "the signing service rejected the request; check --trust-config"
    return "check the signing service"


def sign_statements(statements: list[tuple[str, bytes]], *, identity_token: str,
                    trust_config: ClientTrustConfig,
                    timeout: float | None = None) -> Iterator[SignedStatement]:
    """Sign each ``(name, statement)`` with one certificate; yields as each completes, so a
    caller can persist every bundle before the next is attempted."""
    _check_token_shape(identity_token)
    try:
        token = IdentityToken(identity_token)
    except IdentityError as error:
        raise SigningError(f"the identity token is not usable: {_short(error)}",
                           hint="pass a fresh OIDC token with audience 'sigstore'") from None
    if not token.in_validity_period():
        raise SigningError("the identity token has expired",
                           hint="request a fresh one; CI tokens live only minutes")
    policy = RetryPolicy.from_env()
    with _bounded_requests(timeout or signing_timeout()):
        try:
            context = SigningContext.from_trust_config(trust_config)
            timestamp_authorities = len(trust_config.signing_config.get_tsas())
        except Exception as error:
            raise SigningError(f"the signing configuration is unusable: {_short(error)}",
                               hint="check --trust-config") from None

        def make_signer() -> Signer:
            try:
                return Signer(token, context)
            except Exception as error:
                raise _classify(error, "requesting a signing certificate") from None

        signer = _retrying("requesting a signing certificate", make_signer, policy)
        for name, payload in statements:
            statement = dsse.Statement(payload)

            def sign_one(statement: dsse.Statement = statement, name: str = name) -> bytes:
                try:
                    bundle = signer.sign_dsse(statement)
                except Exception as error:
                    raise _classify(error, f"signing the {name} statement") from None
                bundle_json = str(bundle.to_json()).encode()
                if _timestamps(bundle_json) < timestamp_authorities:
                    raise TransientError(f"signing the {name} statement: the timestamp "
                                         "authority returned no timestamp")
                return bundle_json

            yield SignedStatement(name=name, bundle_json=_retrying(
                f"signing the {name} statement", sign_one, policy))


def _timestamps(bundle_json: bytes) -> int:
    """How many RFC 3161 timestamps a bundle carries."""
    import json

    material = json.loads(bundle_json).get("verificationMaterial") or {}
    data = material.get("timestampVerificationData") or {}
    return len(data.get("rfc3161Timestamps") or [])


def _check_token_shape(identity_token: str) -> None:
    """Say precisely what is wrong with a token before the library says "malformed"."""
    import time

    import jwt

    try:
        claims = jwt.decode(identity_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise SigningError("the identity token is not a JWT",
                           hint="pass the raw OIDC token (three base64url parts)") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if "sigstore" not in audiences:
        raise SigningError("the identity token's audience is not 'sigstore'",
                           hint="request the token with audience=sigstore")
    expires = claims.get("exp")
    if isinstance(expires, int | float) and expires < time.time():
        raise SigningError("the identity token has expired",
                           hint="request a fresh one; CI tokens live only minutes")


def _retrying(what: str, func: Callable[[], T], policy: RetryPolicy) -> T:
    try:
        return call_with_retries(what, func, policy)
    except TransientError as error:
        raise SigningError(f"{what} kept failing after {policy.attempts} attempts: "
                           f"{reason(error, what)}",
                           hint="the signing service is unavailable; rerun with --resume DIR"
                           ) from None


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())[:300]
