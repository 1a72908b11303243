"""``attest mirror --config FILE``: keep a list of upstream repositories mirrored.

The file says, per upstream repository, where it goes, which tags (shell patterns such as
``1.27.*``), optionally one platform, and optionally the policy the upstream evidence must pass:

```yaml
mirrors:
  - source: docker.io/library/nginx
    destination: registry.internal/mirror/nginx
    tags: ["1.27.*", "stable"]
    platform: linux/amd64          # optional: mirror only this platform's manifest
    policy: policies/upstream.yaml # optional: verify upstream evidence first
```

A sync is a plan (every matching tag, and whether the destination already has that digest)
then its execution; ``--dry-run`` prints the plan only. A tag whose digest moved upstream is
mirrored (and verified) again; a tag already mirrored is skipped without copying or signing.
One failing tag does not stop the others; the run fails at the end, naming each failure.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci_attest._internal.yaml_errors import load_yaml_file
from oci_attest.errors import InputError
from oci_attest.reference import parse_reference
from oci_attest.registry.client import RegistryClient

_ENTRY_KEYS = frozenset({"source", "destination", "tags", "platform", "policy"})


@dataclass(frozen=True)
class MirrorEntry:
    source: str
    destination: str
    tags: tuple[str, ...]
    platform: str | None
    policy: Path | None


@dataclass(frozen=True)
class PlannedCopy:
    entry: MirrorEntry
    tag: str
    upstream_digest: str
    destination_digest: str | None

    @property
    def up_to_date(self) -> bool:
        return self.destination_digest == self.upstream_digest

    def to_json(self) -> dict[str, Any]:
        return {"source": f"{self.entry.source}:{self.tag}",
                "destination": f"{self.entry.destination}:{self.tag}",
                "upstreamDigest": self.upstream_digest,
                "destinationDigest": self.destination_digest,
                "action": "skip" if self.up_to_date else "mirror"}


def load_config(path: Path) -> list[MirrorEntry]:
    """Parse and validate the mirror list; unknown keys are errors, as in a verify policy."""
    document = load_yaml_file(path, "mirror config")
    if not isinstance(document, dict) or set(document) != {"mirrors"} \
            or not isinstance(document["mirrors"], list) or not document["mirrors"]:
        raise InputError(f"mirror config {path} must be a mapping with one key, mirrors: "
                         "a non-empty list", hint="see `attest mirror --help`")
    return [_entry(path, number, item)
            for number, item in enumerate(document["mirrors"], start=1)]


def _entry(path: Path, number: int, item: Any) -> MirrorEntry:
    where = f"{path}: mirrors[{number}]"
    if not isinstance(item, dict):
        raise InputError(f"{where} must be a mapping")
    unknown = sorted(set(item) - _ENTRY_KEYS)
    if unknown:
        raise InputError(f"{where} has unknown key {unknown[0]!r}",
                         hint=f"allowed: {', '.join(sorted(_ENTRY_KEYS))}")
    for key in ("source", "destination"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise InputError(f"{where} needs {key}: a repository such as "
                             "registry.example/team/app")
        parsed = parse_reference(value, default_tag=None)
        if parsed.tag or parsed.digest:
            raise InputError(f"{where}: {key} {value!r} must be a repository without a tag",
                             hint="put tag patterns under tags:")
    tags = item.get("tags")
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t
                                                         for t in tags):
        raise InputError(f"{where} needs tags: a non-empty list of tag patterns (1.27.*)")
    platform = item.get("platform")
    if platform is not None and not isinstance(platform, str):
        raise InputError(f"{where}: platform must be a string such as linux/amd64")
    policy = item.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise InputError(f"{where}: policy must be the path of an attest verify policy")
    return MirrorEntry(source=item["source"], destination=item["destination"],
                       tags=tuple(tags), platform=platform,
                       policy=(path.parent / policy) if policy else None)


def plan(entries: list[MirrorEntry]) -> list[PlannedCopy]:
    """Every matching upstream tag and what the destination has for it now."""
    planned: list[PlannedCopy] = []
    for entry in entries:
        source = parse_reference(entry.source, default_tag=None)
        destination = parse_reference(entry.destination, default_tag=None)
        src_client = RegistryClient.for_reference(source)
        dst_client = RegistryClient.for_reference(destination)
        tags = [tag for tag in src_client.list_tags(source.repository)
                if any(fnmatch.fnmatchcase(tag, pattern) for pattern in entry.tags)]
        for tag in sorted(tags):
            upstream = src_client.resolve(source.with_tag(tag))
            assert upstream.digest is not None
            upstream_digest = upstream.digest
            if entry.platform:
                from oci_attest.verify.image import resolve_platform

                manifest = src_client.get_manifest(source.repository, upstream_digest)
                if manifest.is_index:
                    upstream_digest = resolve_platform(src_client, upstream,
                                                       entry.platform).digest or upstream_digest
            current = dst_client.head_manifest(destination.repository, tag)
            planned.append(PlannedCopy(entry, tag, upstream_digest,
                                       current.digest if current else None))
    return planned
