"""One exception hierarchy for everything attest reports to a user.

A CI log is read by someone in a hurry: every expected failure becomes exactly one line naming
what went wrong and what to do about it, and a stable exit code a pipeline can branch on. A
traceback is reserved for bugs (and for ``--debug``). Each class below fixes its exit code so
that callers raise by meaning, never by number.
"""

from __future__ import annotations

from typing import ClassVar

#: Exit codes are a public contract (documented in README.md); never renumber them.
EXIT_OK = 0
EXIT_POLICY_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_BUILD_FAILED = 4
EXIT_REGISTRY = 5
EXIT_SIGNING = 6
EXIT_SECRETS_FOUND = 7
EXIT_NOT_FOUND = 8
EXIT_VULNERABLE = 9


class AttestError(Exception):
    """Base of every expected failure; carries a one-line message and an optional fix."""

    exit_code: ClassVar[int] = EXIT_BAD_INPUT
    kind: ClassVar[str] = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = _one_line(message)
        self.hint = _one_line(hint) if hint else None

    def render(self) -> str:
        """The single line printed on stderr."""
        text = f"attest: {self.kind}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class VerificationFailed(AttestError):
    """The evidence does not satisfy the policy: the image must not move on."""

    exit_code = EXIT_POLICY_FAILED
    kind = "verification failed"


class UsageError(AttestError):
    """The command line itself is wrong (unknown flag, conflicting options)."""

    exit_code = EXIT_USAGE
    kind = "usage"


class InputError(AttestError):
    """A file, reference or document given to attest is malformed or unusable."""

    exit_code = EXIT_BAD_INPUT
    kind = "bad input"


class BuildFailed(AttestError):
    """The container build itself failed; nothing was pushed or signed."""

    exit_code = EXIT_BUILD_FAILED
    kind = "build failed"


class RegistryError(AttestError):
    """The registry could not be reached or answered in a way we cannot use."""

    exit_code = EXIT_REGISTRY
    kind = "registry error"


class NotFound(RegistryError):
    """The tag, digest or repository does not exist: a typo or a missing push, which retrying
    (what a pipeline does on exit 5) will never fix."""

    exit_code = EXIT_NOT_FOUND
    kind = "not found"


class LimitExceeded(AttestError):
    """Content would exceed a resource limit (bytes read per verification); the registry holds
    more than any honest image needs, so the verification fails closed rather than run out of
    memory. Not an :class:`InputError`, so that code skipping one bad attestation does not
    skip this."""

    exit_code = EXIT_BAD_INPUT
    kind = "limit exceeded"


class DigestMismatch(RegistryError):
    """Content read from a registry does not hash to the digest it was fetched by."""

    kind = "digest mismatch"


class SigningError(AttestError):
    """Obtaining an identity, a certificate, a log entry or a timestamp failed."""

    exit_code = EXIT_SIGNING
    kind = "signing error"


class SecretsFound(AttestError):
    """A secret was found baked into an image; the value itself is never part of the message."""

    exit_code = EXIT_SECRETS_FOUND
    kind = "secrets found"


class VulnerabilitiesFound(AttestError):
    """``attest build --scan-vulns --fail-on``: the built image has an active finding at or
    above the threshold, so it is neither pushed nor signed."""

    exit_code = EXIT_VULNERABLE
    kind = "vulnerabilities found"


def _one_line(text: str) -> str:
    """Collapse whitespace so a message from a library never spans several log lines, and
    escape the control characters that are left (an ESC sequence can rewrite earlier lines)."""
    from oci_attest._internal.text import safe

    return safe(" ".join(text.split()))
