"""What a base image brings into the build besides its name: layers, platform, ENV, ONBUILD.

Read from the registry by digest before the build, because three facts the provenance states
depend on them: which platform manifest of a multi-platform index the engine builds from (the
engine takes the first entry matching its platform; the index digest alone does not say which),
the layer list the built image must start with (checked after the build), and the ``OnBuild``
triggers the engine runs as if they were written right after ``FROM``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import InputError, RegistryError
from oci_attest.reference import ImageReference
from oci_attest.registry.client import RegistryClient

MAX_ONBUILD_TRIGGERS = 100


@dataclass(frozen=True)
class BaseImage:
    """One base image as the engine will see it on ``platform``."""

    digest: str
    manifest: str
    platform: str
    diff_ids: list[str] = field(default_factory=list)
    onbuild: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def from_index(self) -> bool:
        return self.manifest != self.digest

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "manifest": self.manifest, "platform": self.platform,
                "diffIds": list(self.diff_ids), "onbuild": list(self.onbuild)}


def split_platform(platform: str) -> tuple[str, str, str | None]:
    parts = platform.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"malformed platform {platform!r}", hint="write os/arch[/variant]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _platform_of(os_name: object, arch: object, variant: object) -> str:
    text = f"{os_name}/{arch}"
    return f"{text}/{variant}" if variant else text


def inspect_base(client: RegistryClient, ref: ImageReference, platform: str) -> BaseImage:
    """The platform manifest, config and triggers of ``ref`` (which must carry a digest)."""
    assert ref.digest is not None
    top = client.get_manifest(ref.repository, ref.digest)
    manifest = top
    if top.is_index:
        want_os, want_arch, want_variant = split_platform(platform)
        chosen = None
        for child in top.manifests():
            plat = child.platform or {}
            if (str(plat.get("os", "")).lower() == want_os
                    and str(plat.get("architecture", "")).lower() == want_arch
                    and (want_variant is None
                         or str(plat.get("variant", "")).lower() == want_variant)):
                chosen = child
                break  # the engine takes the first match, in index order
        if chosen is None:
            raise RegistryError(f"{ref} has no manifest for platform {platform}",
                                hint="build on a matching engine or pick another base")
        manifest = client.get_manifest(ref.repository, chosen.digest)
        if manifest.is_index:
            raise RegistryError(f"{ref}: the {platform} entry {chosen.digest} is itself an index")
    config_raw = client.get_blob(ref.repository, manifest.config().digest)
    try:
        config = json.loads(config_raw)
    except (ValueError, RecursionError):
        raise RegistryError(f"the config of {ref} is not JSON") from None
    if not isinstance(config, dict):
        raise RegistryError(f"the config of {ref} is not a JSON object")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        inner = {}
    onbuild = inner.get("OnBuild") or []
    env_list = inner.get("Env") or []
    if (not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids)
            or not isinstance(onbuild, list) or not all(isinstance(t, str) for t in onbuild)
            or not isinstance(env_list, list)):
        raise RegistryError(f"the config of {ref} has malformed rootfs, OnBuild or Env")
    if len(onbuild) > MAX_ONBUILD_TRIGGERS:
        raise InputError(f"base image {ref} has {len(onbuild)} ONBUILD triggers, more than "
                         f"{MAX_ONBUILD_TRIGGERS}")
    env = {}
    for item in env_list:
        key, sep, value = str(item).partition("=")
        if sep:
            env[key] = value
    actual = _platform_of(config.get("os"), config.get("architecture"), config.get("variant"))
    return BaseImage(digest=ref.digest, manifest=manifest.digest,
                     platform=actual if config.get("os") else platform,
                     diff_ids=list(diff_ids), onbuild=list(onbuild), env=env)
