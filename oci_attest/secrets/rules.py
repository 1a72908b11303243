"""What a secret baked into an image looks like: one rule per kind of credential.

Rules are precise rather than greedy: a release gate that cries wolf gets switched off. Each
rule either recognises a credential by its own shape (a PEM private key with a real body, a
GitHub token with its prefix and length) or by a well-known file that holds credentials in a
well-known field (a docker ``config.json`` with ``auths``, an ``.npmrc`` with ``_authToken``).
Placeholders (``${NPM_TOKEN}``, AWS's documented example keys, empty fields) are not findings.

A match reports the rule, the line and nothing else: the value never leaves this module, not
even hashed (a short hash of a short secret can be brute-forced).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: Bumped whenever a rule changes, and recorded with every scan in the provenance.
RULES_VERSION = "2"


@dataclass(frozen=True)
class Rule:
    id: str
    description: str


@dataclass(frozen=True)
class Match:
    """A rule that fired on one file; ``line`` is 1-based (0 when the rule reads the whole file)."""

    rule: Rule
    line: int


PEM_PRIVATE_KEY = Rule("private-key", "PEM private key (RSA, EC, DSA, OpenSSH, PKCS#8 or PGP)")
AWS_ACCESS_KEY = Rule("aws-access-key", "AWS access key id")
GITHUB_TOKEN = Rule("github-token", "GitHub token")
GITLAB_TOKEN = Rule("gitlab-token", "GitLab token")
NPM_TOKEN = Rule("npm-token", "npm access token")
PYPI_TOKEN = Rule("pypi-token", "PyPI API token")
SLACK_TOKEN = Rule("slack-token", "Slack token or webhook URL")
GCP_SERVICE_ACCOUNT = Rule("gcp-service-account", "Google Cloud service-account key (JSON)")
DOCKER_CONFIG = Rule("docker-config-auth", "docker config.json with registry credentials")
NPMRC = Rule("npmrc-auth", ".npmrc with an auth token or password")
PYPIRC = Rule("pypirc-password", ".pypirc with a password")
KUBECONFIG = Rule("kubeconfig-credentials", "kubeconfig with a token or client key")

BUILD_ARG = Rule("build-arg-in-history",
                 "secret-looking build argument recorded in the image history")

ALL_RULES = (PEM_PRIVATE_KEY, AWS_ACCESS_KEY, GITHUB_TOKEN, GITLAB_TOKEN, NPM_TOKEN, PYPI_TOKEN,
             SLACK_TOKEN, GCP_SERVICE_ACCOUNT, DOCKER_CONFIG, NPMRC, PYPIRC, KUBECONFIG,
             BUILD_ARG)
#: The longest text a content rule can match: a stream is scanned in windows that overlap by
#: at least this much, so no match is lost at a window boundary.
MAX_MATCH_BYTES = 68 * 1024

# One cheap pass decides whether a file deserves the detailed rules at all.
_TRIGGERS = re.compile(
    rb"PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|gldt-|glrt-|npm_|pypi-|xox[baprs]-"
    rb"|hooks\.slack\.com|service_account|\"auths\"|_authToken|_auth\s*=|_password|password"
    rb"|client-key-data|token:")

_PEM_BEGIN = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----")
_PEM_HEADER = re.compile(rb"^[A-Za-z-]+:")
_PEM_MAX_BODY = 64 * 1024
_AWS_ID = re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
# AWS's documentation uses ids ending in EXAMPLE (AKIAIOSFODNN7EXAMPLE, AKIAI44QH8DHBEXAMPLE).
_AWS_EXAMPLE_SUFFIX = b"EXAMPLE"
_EXECUTABLE_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                     b"\xcf\xfa\xed\xfe", b"MZ")
_TOKENS: tuple[tuple[Rule, re.Pattern[bytes]], ...] = (
    (GITHUB_TOKEN, re.compile(rb"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}"
                              rb"|github_pat_[A-Za-z0-9_]{80,255})(?![A-Za-z0-9_])")),
    (GITLAB_TOKEN, re.compile(rb"(?<![A-Za-z0-9_-])gl(?:pat|dt|rt)-[A-Za-z0-9_-]{20,64}"
                              rb"(?![A-Za-z0-9_-])")),
    (NPM_TOKEN, re.compile(rb"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])")),
    (PYPI_TOKEN, re.compile(rb"(?<![A-Za-z0-9_-])pypi-AgE[A-Za-z0-9_-]{50,}")),
    (SLACK_TOKEN, re.compile(rb"(?<![A-Za-z0-9_-])xox[baprs]-[0-9]{6,}-[A-Za-z0-9-]{10,}"
                             rb"|https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}"
                             rb"/[A-Za-z0-9]{20,}")),
)
_ENV_REFERENCE = re.compile(rb"^\s*[\"']?\$\{?[A-Za-z_][A-Za-z0-9_]*\}?[\"']?\s*$")
# [ \t]*, not \s*: a match must not run over line breaks (an empty value would take the next
# line as the secret, and the finding would point at the blank line before).
_NPMRC_AUTH = re.compile(
    rb"(?m)^[ \t]*(?://[^\s=]*:)?(_authToken|_auth|_password)[ \t]*=[ \t]*(.*)$")
_PYPIRC_PASSWORD = re.compile(rb"(?m)^[ \t]*password[ \t]*[:=][ \t]*(.*)$")
_KUBE_KIND = re.compile(rb"(?m)^kind:\s*[\"']?Config[\"']?\s*$")
_KUBE_SECRET = re.compile(rb"(?m)^[ \t]*(?:token|client-key-data|password):[ \t]*(\S.*)$")


def looks_interesting(data: bytes) -> bool:
    """The cheap prefilter: can any rule possibly match?"""
    return _TRIGGERS.search(data) is not None


def scan(path: str, data: bytes) -> list[Match]:
    """Every rule that fires on the file at ``path`` (image-relative) with content ``data``."""
    if not looks_interesting(data):
        return []
    found: dict[str, Match] = {}
    for match in content_rules(data, executable=is_executable(data)):
        found.setdefault(match.rule.id, match)
    name = path.rsplit("/", 1)[-1]
    matchers = list(_FILE_RULES.get(name, ()))
    if name.endswith((".kubeconfig", ".yaml", ".yml", ".conf")):
        matchers.append(_kubeconfig)  # kubeconfigs have no fixed name: the content decides
    for matcher in matchers:
        hit = matcher(path, data)
        if hit is not None:
            found.setdefault(hit.rule.id, hit)
    if GCP_SERVICE_ACCOUNT.id in found:
        found.pop(PEM_PRIVATE_KEY.id, None)  # the key is the service account's: one finding
    return sorted(found.values(), key=lambda m: (m.line, m.rule.id))


def needs_whole_file(path: str) -> bool:
    """Whether a rule for this file name parses the whole file (a docker config, an .npmrc),
    so streaming a large one through the content rules alone is not a full scan."""
    return path.rsplit("/", 1)[-1] in _FILE_RULES


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def is_executable(head: bytes) -> bool:
    """An ELF, Mach-O or PE program or library, judged by its first bytes."""
    return head.startswith(_EXECUTABLE_MAGIC)


def content_rules(data: bytes, *, executable: bool = False) -> Iterator[Match]:
    """The rules that recognise a credential by its own shape, wherever it is: in a text file,
    inside a binary, in any window of a large file, in the image config.

    In a compiled program the PEM rule does not apply: crypto libraries carry the public test
    keys of their self-tests as PEM strings (Debian's libgnutls does), and a gate that fails
    every image with GnuTLS gets switched off. Tokens and key ids still apply there.
    """
    line = 0 if executable else _pem_private_key(data)
    if line:
        yield Match(PEM_PRIVATE_KEY, line)
    # An access key id alone is a finding: the id names the account and the key to revoke,
    # and its secret is rarely far away (another file, another layer, the environment).
    ids = [m for m in _AWS_ID.finditer(data) if not m.group(0).endswith(_AWS_EXAMPLE_SUFFIX)]
    if ids:
        yield Match(AWS_ACCESS_KEY, _line_of(data, ids[0].start()))
    for rule, pattern in _TOKENS:
        token = pattern.search(data)
        if token is not None:
            yield Match(rule, _line_of(data, token.start()))
    if b"service_account" in data and b"private_key" in data:
        match = _gcp_service_account(data)
        if match is not None:
            yield match


def _pem_private_key(data: bytes) -> int:
    """The line of the first PEM private key with a real body, 0 if none.

    Each BEGIN marker's END is looked for only up to the next BEGIN (a body holding another
    BEGIN is no key) and within a bounded length, so the searched ranges never overlap: linear
    in the file, however many markers a hostile file holds, with no cap on markers that a
    real key could hide behind.
    """
    begins = list(_PEM_BEGIN.finditer(data))
    for number, begin in enumerate(begins):
        limit = begins[number + 1].start() if number + 1 < len(begins) else len(data)
        limit = min(limit, begin.end() + _PEM_MAX_BODY)
        end = data.find(b"-----END " + begin.group(1) + b"-----", begin.end(), limit)
        if end < 0:
            continue
        lines = data[begin.end():end].splitlines()
        body = b"".join(line.strip() for line in lines
                        if line.strip() and not _PEM_HEADER.match(line.strip()))
        if len(body) >= 64 and len(set(body)) >= 16 and \
                re.fullmatch(rb"[A-Za-z0-9+/=]+", body):  # a key, not "XXXX" in a manual
            return _line_of(data, begin.start())
    return 0


def _gcp_service_account(data: bytes) -> Match | None:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if isinstance(document, dict) and document.get("type") == "service_account":
        key = document.get("private_key")
        if isinstance(key, str) and "PRIVATE KEY" in key and len(key) > 100:
            return Match(GCP_SERVICE_ACCOUNT, 0)
    return None


def _placeholder(value: bytes) -> bool:
    value = value.strip().strip(b"\"'")
    return not value or _ENV_REFERENCE.match(value) is not None or value in (b"null", b"~")


def _docker_config(path: str, data: bytes) -> Match | None:
    if "/.docker/" not in f"/{path}" and not path.endswith("containers/auth.json"):
        return None
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return None
    for entry in auths.values():
        if isinstance(entry, dict) and any(
                isinstance(entry.get(k), str) and entry.get(k)
                for k in ("auth", "password", "identitytoken", "registrytoken")):
            return Match(DOCKER_CONFIG, 0)
    return None


def _npmrc(path: str, data: bytes) -> Match | None:
    for match in _NPMRC_AUTH.finditer(data):
        if not _placeholder(match.group(2)):
            return Match(NPMRC, _line_of(data, match.start()))
    return None


def _pypirc(path: str, data: bytes) -> Match | None:
    for match in _PYPIRC_PASSWORD.finditer(data):
        if not _placeholder(match.group(1)):
            return Match(PYPIRC, _line_of(data, match.start()))
    return None


def _kubeconfig(path: str, data: bytes) -> Match | None:
    if not _KUBE_KIND.search(data):
        return None
    for match in _KUBE_SECRET.finditer(data):
        if not _placeholder(match.group(1)):
            return Match(KUBECONFIG, _line_of(data, match.start()))
    return None


_FILE_RULES: dict[str, tuple[Callable[[str, bytes], Match | None], ...]] = {
    "config.json": (_docker_config,),
    "auth.json": (_docker_config,),
    ".npmrc": (_npmrc,),
    "npmrc": (_npmrc,),
    ".pypirc": (_pypirc,),
    "config": (_kubeconfig,),
    "kubeconfig": (_kubeconfig,),
}

