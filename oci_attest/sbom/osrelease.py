"""The image's operating system, from ``etc/os-release`` (or ``usr/lib/os-release``).

On Debian and most distributions ``etc/os-release`` is a symbolic link to
``../usr/lib/os-release``, so both the link and the file are kept and resolved at the end, the
way the final filesystem would resolve them.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Iterable

from oci_attest.sbom.catalogers.base import (
    Cataloger,
    Context,
    Delivery,
    FileInput,
    Found,
    FoundFile,
    Interest,
)
from oci_attest.sbom.model import Distro, Package

PATHS = ("etc/os-release", "usr/lib/os-release")
_MAX = 64 * 1024


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines with shell quoting; malformed lines are ignored, never fatal."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        key = key.strip()
        if not key.replace("_", "").isalnum():
            continue
        try:
            parts = shlex.split(raw, comments=False, posix=True)
            value = " ".join(parts)
        except ValueError:
            value = raw.strip().strip("\"'")
        values[key] = value
    return values


def distro_from(values: dict[str, str]) -> Distro | None:
    distro_id = values.get("ID", "").strip().lower()
    if not distro_id:
        return None
    return Distro(id=distro_id, version_id=values.get("VERSION_ID") or None,
                  version_codename=values.get("VERSION_CODENAME") or None,
                  pretty_name=values.get("PRETTY_NAME") or None,
                  id_like=tuple(values.get("ID_LIKE", "").lower().split()))


class OsReleaseCataloger(Cataloger):
    """Not an ecosystem: finds the :class:`Distro` that qualifies OS package purls."""

    name = "os-release"
    ecosystem = "os"

    def __init__(self) -> None:
        self.distro: Distro | None = None

    def interests(self) -> Iterable[Interest]:
        yield Interest(basenames=frozenset({"os-release"}), accept=lambda path: path in PATHS,
                       delivery=Delivery.LINK, max_size=_MAX)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        if file.link_target is not None:
            return Found(facts={"link": file.link_target})
        text = file.read_all(_MAX).decode("utf-8", "replace")
        return Found(facts={"values": parse_os_release(text)})

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        by_path = {item.path: item.found.facts for item in files}
        for start in PATHS:
            path = start
            for _hop in range(8):
                facts = by_path.get(path)
                if facts is None:
                    break
                link = facts.get("link")
                if isinstance(link, str):
                    base = "" if link.startswith("/") else posixpath.dirname(path)
                    path = posixpath.normpath(posixpath.join(base, link)).lstrip("/")
                    continue
                values = facts.get("values")
                if isinstance(values, dict):
                    self.distro = distro_from({str(k): str(v) for k, v in values.items()})
                    return []
                break
        return []
