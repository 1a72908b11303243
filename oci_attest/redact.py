"""Decide which build argument and environment values are secrets, and hide them.

Provenance is public evidence that outlives the build, so a secret written into it is leaked
for good. A value is redacted when its name looks secret (``*TOKEN*``, ``*PASSWORD*``,
``*SECRET*``, ``*KEY*``, ...), when the user names it with ``--redact``, or when the value
itself has the shape of a well-known credential, whatever its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

REDACTED = "[REDACTED]"

#: Matched anywhere in a name.
_SECRET_SUBSTRINGS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "CREDENTIAL", "PRIVATE")
#: Too short to match inside words: matched as a whole component or at the end (APIKEY).
_SECRET_COMPONENTS = ("KEY", "PASS", "PWD", "CERT", "AUTH", "SESSION", "COOKIE")
_NOT_SECRET_NAMES = frozenset({"AUTHOR", "AUTHORS", "PASSTHROUGH", "KEYBOARD", "MONKEY"})
_SECRET_VALUE_PATTERNS = (
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),            # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{40,}"),
    re.compile(r"glpat-[A-Za-z0-9_-]{20,}"),              # GitLab personal access tokens
    re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}"),             # AWS access key ids
    re.compile(r"xox[baprs]-[A-Za-z0-9-]{10,}"),          # Slack
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),  # JWTs
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    re.compile(r"AIza[0-9A-Za-z_-]{35}"),                 # Google API keys
    re.compile(r"npm_[A-Za-z0-9]{36}"),
    re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"),  # URLs with user:password
)


def name_looks_secret(name: str, extra: Iterable[str] = ()) -> bool:
    upper = name.upper()
    if upper in {e.upper() for e in extra}:
        return True
    if upper in _NOT_SECRET_NAMES:
        return False
    if any(part in upper for part in _SECRET_SUBSTRINGS):
        return True
    components = set(re.split(r"[^A-Z0-9]+", upper))
    return any(part in components or upper.endswith(part) for part in _SECRET_COMPONENTS)


def value_looks_secret(value: str) -> bool:
    return any(pattern.search(value) for pattern in _SECRET_VALUE_PATTERNS)


def redact_mapping(values: Mapping[str, str], extra_names: Iterable[str] = ()) -> dict[str, str]:
    """A copy with secret values replaced by :data:`REDACTED`."""
    extra = list(extra_names)
    return {
        name: REDACTED if name_looks_secret(name, extra) or value_looks_secret(value) else value
        for name, value in values.items()
    }


def secret_values(values: Mapping[str, str], extra_names: Iterable[str] = ()) -> list[str]:
    """The values :func:`redact_mapping` would hide: what must never appear in any output."""
    extra = list(extra_names)
    return [value for name, value in values.items()
            if value and (name_looks_secret(name, extra) or value_looks_secret(value))]


_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?:[^/\s@\"']*@)?"
                  r"(?P<rest>[^\s?#\"']*)(?:[?#][^\s\"']*)?")
_REQUEST_TARGET = re.compile(r"(?<![\w.:/])(?P<path>/[^\s?\"']*)\?[^\s\"']*")


def scrub_urls(text: str) -> str:
    """Keep where a URL points (scheme, host, path) and drop what may carry a secret: user
    info and the query string (the docker engine's build API carries every build argument in
    it; a registry's presigned blob URL carries a signature)."""
    text = _URL.sub(lambda m: f"{m['scheme']}{m['rest']}", text)
    return _REQUEST_TARGET.sub(lambda m: f"{m['path']}?…", text)


#: Query parameters that carry a credential in presigned and token-bearing URLs.
_SECRET_QUERY_NAMES = frozenset({"sig", "signature", "x-amz-signature", "x-amz-credential",
                                 "x-amz-security-token", "x-goog-signature", "x-goog-credential",
                                 "access_token", "token"})


def url_without_credentials(url: str) -> str:
    """``url`` as evidence may record it: no user info, and the values of credential-bearing
    query parameters (``X-Amz-Signature``, ``access_token``, ``*TOKEN*``...) redacted; the
    rest of the query stays, since it may be what names the file."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if k.lower() in _SECRET_QUERY_NAMES
                            or name_looks_secret(k) else v) for k, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


_SECRET_QUERY = re.compile(
    r"(?i)([?&](?:sig|signature|x-amz-[a-z-]*(?:signature|credential|token)"
    r"|x-goog-(?:signature|credential)|[a-z_]*token|[a-z_]*secret[a-z_]*|[a-z_]*password)=)"
    r"[^&\s\"'#]+")


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Remove known secret values, credential-shaped values and credential-bearing URL query
    parameters from free text (log lines, build output, error messages)."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_VALUE_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
