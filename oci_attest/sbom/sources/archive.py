"""``docker save`` tarballs, from a file (``docker-archive:``) or from the engine
(``docker-daemon:``). Nothing is unpacked: layers are read in place inside the tarball.

Two layouts exist. Docker 25+ writes an OCI layout inside the archive: the manifest that names
the config gives each layer's media type and digest, and the image is reported under that
manifest's digest. Older engines write only ``manifest.json``, which declares no media types;
its layers are plain tars by the Docker image spec, but other writers gzip them, so there (and
only there) the compression is recognised from the first bytes, as ``docker load`` does. Either
way every layer is hashed against the config's ``diff_id`` (and, with a manifest, its
descriptor digest) before anything read from it counts (:mod:`.streams`).

``docker-daemon:`` asks the engine for ``docker save`` and keeps that stream in a temporary
file for the duration of the scan, because the engine writes the layers in directory order and
names their order only in ``manifest.json`` at the very end of the stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError
from oci_attest.reference import parse_reference
from oci_attest.sbom.sources.image import (
    MAX_CONFIG,
    Image,
    Layer,
    Platform,
    Progress,
    config_platform,
    diff_ids,
    json_object,
    name_for,
)
from oci_attest.sbom.sources.streams import (
    GZIP,
    PLAIN,
    RAW_CHUNK,
    ZSTD,
    Expect,
    compression_for,
    local_layer_opener,
)

_LEGACY_TYPES = {PLAIN: "application/vnd.docker.image.rootfs.diff.tar",
                 GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
                 ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd"}


def open_docker_archive(path: Path, wanted: Platform | None = None,
                        name_hint: str | None = None) -> Image:
    """A ``docker save`` tarball (the legacy layout, or the OCI one docker 25+ writes)."""
    if not path.is_file():
        raise InputError(f"docker archive {str(path)!r} does not exist or is not a file",
                         hint="create it with `docker save IMAGE -o FILE`")
    try:
        outer = tarfile.open(path, mode="r:")  # noqa: SIM115 - closed in the finally below
        members = {m.name.removeprefix("./"): m for m in outer.getmembers()}
    except (tarfile.TarError, OSError) as error:
        raise InputError(f"{path} is not a readable tar archive: {error}",
                         hint="pass a file written by `docker save`") from None
    try:
        def member_bytes(name: str, limit: int = MAX_CONFIG) -> bytes:
            member = _resolve_member(members, name)
            if member is None or member.size > limit:
                raise InputError(f"{path}: {name!r} is missing or too large",
                                 hint="pass a file written by `docker save`")
            handle = outer.extractfile(member)
            if handle is None:
                raise InputError(f"{path}: {name!r} is not a regular file")
            return handle.read()

        entry = _manifest_entry(member_bytes, "manifest.json" in members, path)
        config_raw = member_bytes(entry["Config"])
        config = json_object(config_raw, f"{path}: image config")
        image_id = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        layer_names = [str(name) for name in entry["Layers"]]
        uncompressed = diff_ids(config, len(layer_names), str(path))
        digest, digest_is_id = image_id, True
        oci = _manifest_for_config(member_bytes, image_id) if "index.json" in members else None
        if oci is not None:
            digest, digest_is_id = oci[0], False
            layers = _oci_layers(path, members, oci[1], uncompressed)
        else:
            layers = _legacy_layers(path, members, layer_names, uncompressed)
    finally:
        outer.close()
    tags = [str(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
    ref = name_for(name_hint or (tags[0] if tags else None), path.stem)
    return Image(name=ref.name, repository_url=ref.name, tag=ref.tag, digest=digest,
                 digest_is_image_id=digest_is_id, platform=config_platform(config),
                 config=config, layers=layers)


def _manifest_entry(member_bytes: Callable[[str], bytes], present: bool,
                    path: Path) -> dict[str, Any]:
    try:
        listing = json.loads(member_bytes("manifest.json")) if present else None
    except (ValueError, RecursionError):
        listing = None
    if not isinstance(listing, list) or not listing:
        raise InputError(f"{path} has no manifest.json listing an image",
                         hint="pass a file written by `docker save IMAGE`")
    if len(listing) > 1:
        raise InputError(f"{path} holds {len(listing)} images",
                         hint="save one image per archive: `docker save IMAGE -o FILE`")
    entry = listing[0]
    if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
            or not isinstance(entry.get("Layers"), list):
        raise InputError(f"{path}: manifest.json entry is malformed")
    return entry


def _legacy_layers(path: Path, members: dict[str, tarfile.TarInfo], names: list[str],
                   uncompressed: list[str]) -> list[Layer]:
    layers = []
    for index, (name, diff_id) in enumerate(zip(names, uncompressed, strict=True)):
        member = _member(path, members, name, index)
        what = f"layer {index + 1} ({name}) of {path}"
        kind = _sniff(path, member.offset_data)
        layers.append(Layer(index, diff_id, diff_id, _LEGACY_TYPES[kind], member.size,
                            local_layer_opener(path, member.offset_data, member.size, kind,
                                               what, [Expect(diff_id, "diff_id")])))
    return layers


def _oci_layers(path: Path, members: dict[str, tarfile.TarInfo], manifest: dict[str, Any],
                uncompressed: list[str]) -> list[Layer]:
    """Layers as the OCI manifest inside the archive describes them (media type, digest)."""
    from oci_attest.registry.client import Descriptor

    raw_layers = manifest.get("layers")
    if not isinstance(raw_layers, list) or len(raw_layers) != len(uncompressed):
        raise InputError(f"{path}: the OCI manifest inside lists other layers than the config",
                         hint="the archive is malformed; save the image again")
    layers = []
    for index, (raw, diff_id) in enumerate(zip(raw_layers, uncompressed, strict=True)):
        descriptor = Descriptor.from_json(raw)
        algorithm, _, hex_part = descriptor.digest.partition(":")
        name = f"blobs/{algorithm}/{hex_part}"
        what = f"layer {index + 1} ({descriptor.digest}) of {path}"
        kind = compression_for(descriptor.media_type, what)
        member = _member(path, members, name, index)
        if member.size != descriptor.size:
            raise InputError(f"{what} is {member.size} bytes, but its descriptor says "
                             f"{descriptor.size}", hint="the archive was altered or damaged")
        expected = [Expect(descriptor.digest, "descriptor digest"), Expect(diff_id, "diff_id")]
        layers.append(Layer(index, descriptor.digest, diff_id, descriptor.media_type,
                            member.size, local_layer_opener(path, member.offset_data,
                                                            member.size, kind, what, expected)))
    return layers


def _member(path: Path, members: dict[str, tarfile.TarInfo], name: str,
            index: int) -> tarfile.TarInfo:
    member = _resolve_member(members, name)
    if member is None or not member.isfile():
        raise InputError(f"{path}: layer {index + 1} ({name!r}) is missing from the archive",
                         hint="save the image again")
    return member


def _sniff(path: Path, offset: int) -> str:
    """Legacy archives declare no media type: gzip and zstd members are recognised by their
    magic number (what ``docker load`` does). The content is still checked against the
    ``diff_id`` however it is read, so a wrong guess can only fail, never mislead."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        head = handle.read(4)
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ZSTD
    return PLAIN


def _resolve_member(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo | None:
    """Follow symbolic links inside the archive (docker dedups identical layers with them)."""
    seen = 0
    current = members.get(name.removeprefix("./"))
    while current is not None and current.issym() and seen < 8:
        target = os.path.normpath(os.path.join(os.path.dirname(current.name), current.linkname))
        current = members.get(target.removeprefix("./"))
        seen += 1
    return current


def _manifest_for_config(member_bytes: Callable[[str], bytes],
                         config_digest: str) -> tuple[str, dict[str, Any]] | None:
    """The (verified) OCI manifest inside the archive that names this config, if any."""
    from oci_attest.registry.client import verify_digest

    try:
        index = json.loads(member_bytes("index.json"))
        for descriptor in index.get("manifests") or []:
            digest = str(descriptor.get("digest", ""))
            algorithm, _, hex_part = digest.partition(":")
            raw = member_bytes(f"blobs/{algorithm}/{hex_part}")
            verify_digest(raw, digest, "manifest in the archive")
            manifest = json.loads(raw)
            if isinstance(manifest, dict) \
                    and (manifest.get("config") or {}).get("digest") == config_digest:
                return digest, manifest
    except (InputError, ValueError, AttributeError, TypeError, RecursionError):
        return None
    return None


# ------------------------------------------------------------------------- docker-daemon
def open_docker_daemon(text: str, wanted: Platform, say: Progress) -> Image:
    try:
        import docker
        from docker import errors as docker_errors
    except ImportError:  # pragma: no cover - declared dependency
        raise InputError("docker-daemon: needs the docker Python package") from None
    try:
        client = docker.from_env()
        image = client.images.get(text)
    except docker_errors.ImageNotFound:
        raise InputError(f"the docker engine has no image {text!r}",
                         hint="pull or build it first, or pass a registry reference") from None
    except docker_errors.DockerException as error:
        from oci_attest.redact import scrub_urls

        raise InputError(f"cannot reach the docker engine: {scrub_urls(str(error))}",
                         hint="is dockerd running and DOCKER_HOST set right?") from None
    name_hint: str | None = text
    try:
        parse_reference(text, default_tag=None)
    except InputError:  # an image id: name it after its first tag, if any
        name_hint = next(iter(image.tags), None)
    workdir = Path(tempfile.mkdtemp(prefix="attest-sbom-"))
    archive = workdir / "image.tar"
    try:
        say(f"saving {text} from the docker engine")
        with archive.open("wb") as handle:
            for chunk in client.api.get_image(image.id, chunk_size=RAW_CHUNK):
                handle.write(chunk)
        opened = open_docker_archive(archive, wanted, name_hint=name_hint)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    opened.cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    if opened.digest_is_image_id and opened.digest != image.id:
        # The saved config is not the image the engine named: do not put its name on it.
        opened.close()
        raise InputError(f"the docker engine saved {opened.digest} for {text!r}, whose image "
                         f"id is {image.id}", hint="the image changed while it was saved; "
                                                   "run the command again")
    for repo_digest in image.attrs.get("RepoDigests") or []:
        name, _, digest = str(repo_digest).partition("@")
        if name == opened.name and digest.startswith("sha256:"):
            opened.digest, opened.digest_is_image_id = digest, False
            break
    return opened
