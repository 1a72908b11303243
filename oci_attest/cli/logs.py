"""Logging for the command line: attest's own debug output, never a library's secrets.

``--debug`` used to set the root logger to DEBUG, which turned on the docker SDK (it logs every
build argument: ``Setting build args: {...}``), urllib3 (every request URL, and the engine's
build URL carries build args and labels) and GitPython (every command). Now ``--debug`` raises
only the ``oci_attest`` loggers; third-party loggers stay at WARNING (ERROR with ``-q``) unless
named in ``ATTEST_DEBUG_LOGGERS``. Every line still passes a filter that drops URL user info and
query strings and credential-shaped values, as a last line of defence.
"""

from __future__ import annotations

import logging
import os
import sys

#: Third-party loggers that --debug may turn on only when named here (comma-separated).
DEBUG_LOGGERS_ENV = "ATTEST_DEBUG_LOGGERS"

_RAISED: set[str] = set()


def safe_text(text: str) -> str:
    """A library's text may hold a request URL with credentials or build args, or a token."""
    from oci_attest.redact import redact_text, scrub_urls

    return redact_text(scrub_urls(text), ())


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return safe_text(super().format(record))


def configure_logging(*, debug: bool, quiet: bool) -> None:
    """``--debug`` is attest's own debug output only; every other logger stays at WARNING
    (ERROR with ``-q``) unless named in ``ATTEST_DEBUG_LOGGERS``."""
    base = logging.ERROR if quiet else logging.WARNING
    root = logging.getLogger()
    root.setLevel(base)
    handler = next((h for h in root.handlers if isinstance(h, logging.StreamHandler)
                    and getattr(h, "_attest", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler._attest = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    handler.stream = sys.stderr  # each invocation's stderr (tests swap it)
    handler.setFormatter(_RedactingFormatter("attest: %(message)s"))
    own = logging.getLogger("oci_attest")
    own.setLevel(logging.DEBUG if debug else logging.NOTSET)
    while _RAISED:  # an earlier invocation in this process asked for them, this one may not
        logging.getLogger(_RAISED.pop()).setLevel(logging.NOTSET)
    if debug:
        for name in os.environ.get(DEBUG_LOGGERS_ENV, "").split(","):
            if name.strip():
                logging.getLogger(name.strip()).setLevel(logging.DEBUG)
                _RAISED.add(name.strip())
