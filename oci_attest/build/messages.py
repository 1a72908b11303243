"""Turn an exception from a build engine's client library into a message safe to print.

The docker SDK's errors embed the full request URL, and the engine's build API carries build
arguments, labels and the Dockerfile in that URL's query string: printing ``str(error)`` leaks
every ``--build-arg`` value, and truncating it cut off the one part a user needs (the engine's
own explanation). So the engine's explanation is used when there is one, and URLs and request
targets in whatever text remains lose their user info and query strings.
"""

from __future__ import annotations

from oci_attest.redact import scrub_urls

_MAX = 2000


def engine_message(error: BaseException) -> str:
    """The engine's own words for ``error``, without request URLs, bodies or query strings."""
    explanation = getattr(error, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    if isinstance(explanation, str) and explanation.strip():
        text = explanation
    else:
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        reason = getattr(response, "reason", None)
        if status is not None:
            text = f"HTTP {status}" + (f" {reason}" if reason else "")
        else:
            text = str(error) or type(error).__name__
    return scrub(text)


def scrub(text: str) -> str:
    """Strip URLs and request targets of secrets and fold the text onto one line."""
    text = " ".join(scrub_urls(text).split())
    return text if len(text) <= _MAX else text[:_MAX] + "…"
