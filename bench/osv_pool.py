"""Real package names and versions from the OSV exports in ../shared, for the vulnerability
benchmarks: every (ecosystem, name) an advisory names, with the versions the records list
(affected ones) plus a few later ones, so synthetic SBOMs and fleets look like real ones (a
few components affected, most not)."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPORTS = [ROOT.parent / "shared" / "vulndb" / "osv" / e / "all.zip" for e in ("PyPI", "Go")]


def exports() -> list[Path]:
    missing = [str(p) for p in EXPORTS if not p.exists()]
    if missing:
        raise SystemExit(f"the OSV exports are missing: {missing}")
    return EXPORTS


def package_pool(seed: int = 7) -> list[str]:
    """purls of real package names at real (mostly listed) versions."""
    versions: dict[tuple[str, str], set[str]] = {}
    aliases: list[str] = []
    for path in exports():
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                record = json.loads(archive.read(name))
                aliases += [a for a in record.get("aliases") or [] if a.startswith("CVE-")]
                for affected in record.get("affected") or []:
                    package = affected.get("package") or {}
                    key = (package.get("ecosystem", ""), package.get("name", ""))
                    listed = versions.setdefault(key, set())
                    listed.update((affected.get("versions") or [])[-3:])
    rng = random.Random(seed)
    pool: list[str] = []
    for (ecosystem, name), listed in sorted(versions.items()):
        if ecosystem == "PyPI":
            for version in sorted(listed)[:3] or ["1.0.0"]:
                pool.append(f"pkg:pypi/{name.lower()}@{version}")
            pool.append(f"pkg:pypi/{name.lower()}@{rng.randint(90, 99)}.0.0")
        elif ecosystem == "Go" and name != "stdlib" and "/" in name:
            namespace, _, short = name.rpartition("/")
            for version in ["v0.0.1", f"v{rng.randint(90, 99)}.0.0"]:
                pool.append(f"pkg:golang/{namespace}/{short}@{version}")
    return pool


def cve_aliases() -> list[str]:
    found: list[str] = []
    for path in exports():
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                record = json.loads(archive.read(name))
                found += [a for a in record.get("aliases") or [] if a.startswith("CVE-")]
    return sorted(set(found))
