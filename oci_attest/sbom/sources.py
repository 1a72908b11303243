"""Where an image comes from: a registry, a ``docker save`` tar, an OCI layout, the engine.

Every source yields the same thing, an :class:`Image`: a name and digest for
``metadata.component``, the config, and the layers in order, each openable as a forward-only
stream of the *uncompressed* tarball. Nothing is unpacked to disk:

* registry layers are downloaded, verified against their digest as they stream (the blob
  reader checks the digest at the end) and decompressed on a helper thread, so that
  decompression (which releases the GIL with ISA-L) overlaps the tar parsing;
* a ``docker save`` archive keeps its layers as plain tar members, which are read in place
  (headers only, unless a cataloger wants a file);
* ``docker-daemon:`` asks the engine for ``docker save`` and keeps that stream in a temporary
  file for the duration of the scan, because the engine writes the layers in directory order
  and names their order only in ``manifest.json`` at the very end of the stream.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import platform as host_platform
import queue
import re
import shutil
import tarfile
import tempfile
import threading
import types
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oci_attest.errors import InputError, RegistryError
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.sbom.tarscan import ByteSource, ChunkSource, FileRangeSource

if TYPE_CHECKING:  # the registry client pulls in requests; only registry sources need it
    from oci_attest.registry.client import Descriptor

_gzip_impl: types.ModuleType
try:  # ISA-L inflates about twice as fast as zlib and releases the GIL while it does
    from isal import isal_zlib as _gzip_impl
except ImportError:  # pragma: no cover - the dependency is declared; keep working without it
    _gzip_impl = zlib

Progress = Callable[[str], None]

_RAW_CHUNK = 1024 * 1024
_INFLATE_SLICE = 256 * 1024
_MAX_OUT = 4 * 1024 * 1024
_QUEUE_DEPTH = 8
_MAX_CONFIG = 8 * 1024 * 1024
GZIP, ZSTD, PLAIN = "gzip", "zstd", "plain"

_LAYOUT_SCHEMES = frozenset({"oci-layout", "oci", "oci-dir"})
_ARCHIVE_SCHEMES = frozenset({"docker-archive"})
_DAEMON_SCHEMES = frozenset({"docker-daemon", "docker"})
_REGISTRY_SCHEMES = frozenset({"registry", "docker-registry"})
_UNSUPPORTED_SCHEMES = frozenset({"dir", "file", "containers-storage", "singularity", "oci-archive",
                                  "podman", "sif"})

_ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                 "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
                 "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass
class Layer:
    """One layer: ``diff_id`` (the uncompressed digest) is what the SBOM names it by."""

    index: int
    digest: str
    diff_id: str
    media_type: str
    size: int
    opener: Callable[[], ByteSource]


def image_label(name: str, digest: str, digest_is_image_id: bool) -> str:
    return f"{name} (image ID {digest})" if digest_is_image_id else f"{name}@{digest}"


@dataclass
class Image:
    """An image ready to be walked; ``close`` removes whatever the source kept on disk."""

    name: str
    repository_url: str
    tag: str | None
    digest: str
    digest_is_image_id: bool
    platform: str
    config: dict[str, Any]
    layers: list[Layer]
    resolved_from: str | None = None
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def label(self) -> str:
        """How to name the image to a person. A local image's config ID is not a registry
        digest, so it is never written as a pullable ``name@sha256:...``."""
        return image_label(self.name, self.digest, self.digest_is_image_id)

    def close(self) -> None:
        while self.cleanups:
            self.cleanups.pop()()

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def host_platform_string() -> str:
    """``linux/<arch>`` of this machine, the platform picked from a multi-platform index."""
    machine = host_platform.machine().lower()
    arch = _ARCH_ALIASES.get(machine, machine or "amd64")
    if machine == "armv7l":
        return "linux/arm/v7"
    return f"linux/{arch}"


def open_image(spec: str, *, platform: str | None = None,
               progress: Progress | None = None) -> Image:
    """Open ``spec``: ``docker-archive:PATH``, ``oci-layout:PATH[:TAG]``,
    ``docker-daemon:REF`` or a registry reference (optionally prefixed ``registry:``)."""
    say = progress or (lambda _text: None)
    wanted = _parse_platform(platform or host_platform_string())
    kind, rest = source_kind(spec)
    if kind == "oci-layout":
        return open_oci_layout(rest, wanted)
    if kind == "docker-archive":
        return open_docker_archive(Path(rest), wanted)
    if kind == "docker-daemon":
        return open_docker_daemon(rest, wanted, say)
    return open_registry(rest, wanted, say)


def source_kind(spec: str) -> tuple[str, str]:
    """``(kind, rest)``: ``oci-layout``, ``docker-archive``, ``docker-daemon`` or ``registry``.

    The scheme names of skopeo and syft are accepted as aliases (``oci:``, ``docker:``).
    """
    scheme, sep, rest = spec.partition(":")
    if not sep or re.match(r"\d+/", rest):  # "registry:5000/app" is a host and a port
        return "registry", spec
    if scheme in _LAYOUT_SCHEMES:
        return "oci-layout", rest
    if scheme in _ARCHIVE_SCHEMES:
        return "docker-archive", rest
    if scheme in _DAEMON_SCHEMES:
        return "docker-daemon", rest
    if scheme in _REGISTRY_SCHEMES:
        return "registry", rest
    if scheme in _UNSUPPORTED_SCHEMES:
        raise InputError(
            f"image source {scheme!r} is not supported",
            hint="use a registry reference, docker-archive:PATH, oci-layout:PATH "
                 "or docker-daemon:REF")
    return "registry", spec


# ------------------------------------------------------------------------------- platform
@dataclass(frozen=True)
class _Platform:
    os: str
    architecture: str
    variant: str | None

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


def _parse_platform(text: str) -> _Platform:
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InputError(f"invalid platform {text!r}", hint="write it as OS/ARCH[/VARIANT], "
                                                            "e.g. linux/amd64 or linux/arm64")
    arch = _ARCH_ALIASES.get(parts[1], parts[1])
    return _Platform(parts[0], arch, parts[2] if len(parts) == 3 else None)


def _platform_matches(candidate: Any, wanted: _Platform) -> bool:
    if not isinstance(candidate, dict):
        return False
    if candidate.get("os") != wanted.os or candidate.get("architecture") != wanted.architecture:
        return False
    variant = candidate.get("variant")
    if wanted.variant is None:
        return True
    return bool(variant == wanted.variant
                or (variant in (None, "") and wanted.variant == "v8"))


def _select_platform(descriptors: list[Descriptor], wanted: _Platform, where: str) -> Descriptor:
    images = [d for d in descriptors if d.media_type != mt.IN_TOTO
              and (d.platform or {}).get("os") != "unknown"]
    for descriptor in images:
        if _platform_matches(descriptor.platform, wanted):
            return descriptor
    available = sorted({f"{(d.platform or {}).get('os')}/{(d.platform or {}).get('architecture')}"
                        for d in images})
    raise InputError(f"{where} has no image for platform {wanted}",
                     hint=f"pass --platform with one of: {', '.join(available) or 'none'}")


# ----------------------------------------------------------------------------- streaming
def _background(produce: Callable[[], Iterator[bytes]],
                label: str) -> tuple[Iterator[bytes], Callable[[], None]]:
    """Run ``produce`` on a helper thread; hand its chunks over through a bounded queue.

    The queue bounds memory (at most ``_QUEUE_DEPTH`` chunks ahead); an error on the helper
    thread (a broken download, a digest mismatch, corrupt compression) is raised in the reader.
    Returns the chunks and a ``close`` that stops the thread early.
    """
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()

    def run() -> None:
        try:
            for chunk in produce():
                while not stop.is_set():
                    try:
                        chunks.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            chunks.put(None)
        except BaseException as error:
            chunks.put(error)

    thread = threading.Thread(target=run, name=f"attest-{label}", daemon=True)
    thread.start()

    def consume() -> Iterator[bytes]:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close() -> None:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.05)
        thread.join()

    return consume(), close


def _threaded(produce: Callable[[], Iterator[bytes]], label: str) -> ChunkSource:
    """A layer stream produced on a helper thread (see :func:`_background`)."""
    chunks, close = _background(produce, label)
    return ChunkSource(chunks, on_close=close)


def _inflate(raw: Iterator[bytes], kind: str, what: str) -> Iterator[bytes]:
    """Decompress a layer blob; output per call is capped so a bomb cannot fill memory."""
    if kind == PLAIN:
        yield from raw
        return
    if kind == ZSTD:
        yield from _unzstd(raw, what)
        return
    decompressor = _gzip_impl.decompressobj(31)
    finished = False
    for chunk in raw:
        view = memoryview(chunk)
        for start in range(0, len(view), _INFLATE_SLICE):
            data: bytes = bytes(view[start:start + _INFLATE_SLICE])
            while data:
                if finished:
                    if not data.strip(b"\0"):
                        break  # zero padding after the last member
                    decompressor = _gzip_impl.decompressobj(31)
                    finished = False
                try:
                    out = decompressor.decompress(data, _MAX_OUT)
                except (zlib.error, OSError, ValueError) as error:
                    raise InputError(f"{what} is not valid gzip: {error}") from None
                if out:
                    yield out
                if decompressor.eof:
                    finished = True
                    data = decompressor.unused_data
                else:
                    data = decompressor.unconsumed_tail
    if not finished:
        tail = decompressor.flush()
        if tail:
            yield tail
        raise InputError(f"{what} ends in the middle of its gzip stream",
                         hint="the layer blob is truncated")


def _unzstd(raw: Iterator[bytes], what: str) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - declared dependency
        raise InputError(f"{what} is zstd-compressed and the zstandard module is missing",
                         hint="pip install zstandard") from None
    source = io.BufferedReader(_IterReader(raw), buffer_size=_RAW_CHUNK)
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    try:
        while True:
            out = reader.read(_RAW_CHUNK)
            if not out:
                return
            yield out
    except zstandard.ZstdError as error:
        raise InputError(f"{what} is not valid zstd: {error}") from None


class _IterReader(io.RawIOBase):
    """A file object over an iterator of chunks (what the zstd stream reader wants)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._buf))
        buffer[:size] = self._buf[:size]
        self._buf = self._buf[size:]
        return size


def _compression_of(media_type: str, head: bytes) -> str:
    """By magic number first (media types lie: docker-archive layers are often plain)."""
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ZSTD
    if media_type.endswith(("+zstd", ".zstd")):
        return ZSTD
    return PLAIN


def _file_chunks(path: Path, start: int, length: int, digest: str | None,
                 what: str) -> Iterator[bytes]:
    """The stored bytes of a compressed blob, checked against ``digest`` at the end (they pass
    through here anyway, so the check is nearly free)."""
    hasher = hashlib.sha256() if digest and digest.startswith("sha256:") else None
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            chunk = handle.read(min(_RAW_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            if hasher is not None:
                hasher.update(chunk)
            yield chunk
    if hasher is not None and f"sha256:{hasher.hexdigest()}" != digest:
        raise InputError(f"{what} does not match its digest", hint="the blob is damaged")


def _local_layer_opener(path: Path, start: int, length: int, media_type: str, what: str,
                        digest: str | None = None) -> Callable[[], ByteSource]:
    """Plain tar in place (free skipping) or a decompressing stream for gzip/zstd.

    A plain tar read in place is not hashed (that would mean reading every byte the scan is
    designed to skip); a compressed one is, when its digest is known.
    """

    def open_layer() -> ByteSource:
        with open(path, "rb") as handle:
            handle.seek(start)
            head = handle.read(4)
        kind = _compression_of(media_type, head)
        if kind == PLAIN:
            fd = os.open(path, os.O_RDONLY)
            source = _ClosingFileRange(fd, start, length)
            return source
        return _threaded(
            lambda: _inflate(_file_chunks(path, start, length, digest, what), kind, what), what)

    return open_layer


class _ClosingFileRange(FileRangeSource):
    def __init__(self, fd: int, start: int, length: int) -> None:
        super().__init__(fd, start, length)
        self._owned_fd = fd

    def close(self) -> None:
        if self._owned_fd >= 0:
            os.close(self._owned_fd)
            self._owned_fd = -1


def _diff_ids(config: dict[str, Any], count: int, where: str) -> list[str]:
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != count \
            or not all(isinstance(d, str) for d in diff_ids):
        raise InputError(f"{where}: the image config's rootfs.diff_ids do not match its "
                         f"{count} layers", hint="the image is malformed; rebuild or re-save it")
    return [str(d) for d in diff_ids]


def _config_platform(config: dict[str, Any]) -> str:
    os_name = str(config.get("os") or "linux")
    arch = str(config.get("architecture") or "unknown")
    variant = config.get("variant")
    return f"{os_name}/{arch}/{variant}" if variant else f"{os_name}/{arch}"


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    return value


_LAYER_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
)


def _check_image_manifest(manifest: dict[str, Any], where: str) -> None:
    config = manifest.get("config")
    config_type = config.get("mediaType") if isinstance(config, dict) else None
    if config_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        raise InputError(f"{where} is not a container image (config type {config_type!r})",
                         hint="pass the image itself, not an attestation or other artifact")


# ------------------------------------------------------------------------------ registry
def open_registry(text: str, wanted: _Platform, say: Progress) -> Image:
    from oci_attest.registry.client import RegistryClient

    ref = parse_reference(text)
    client = RegistryClient(ref.registry)
    top = client.get_manifest(ref.repository, ref.reference)
    resolved = ref.with_digest(top.digest)
    manifest = top
    if top.is_index:
        chosen = _select_platform(top.manifests(), wanted, str(resolved))
        manifest = client.get_manifest(ref.repository, chosen.digest)
        say(f"resolved {text} to {ref.name}@{top.digest}, {wanted} image {chosen.digest}")
    elif not ref.digest:
        say(f"resolved {text} to {ref.name}@{top.digest}")
    if manifest.media_type not in mt.IMAGE_MANIFEST_TYPES:
        raise InputError(f"{resolved} is a {manifest.media_type or 'manifest of unknown type'}",
                         hint="pass an image or an image index")
    body = manifest.json
    _check_image_manifest(body, str(resolved))
    config = _json_object(client.get_blob(ref.repository, manifest.config().digest,
                                          max_bytes=_MAX_CONFIG), f"config of {resolved}")
    descriptors = manifest.layers()
    diff_ids = _diff_ids(config, len(descriptors), str(resolved))
    layers = []
    for index, (descriptor, diff_id) in enumerate(zip(descriptors, diff_ids, strict=True)):
        if descriptor.media_type not in _LAYER_TYPES:
            raise InputError(f"{resolved}: layer {descriptor.digest} has media type "
                             f"{descriptor.media_type!r}, which is not a filesystem layer")
        layers.append(Layer(index, descriptor.digest, diff_id, descriptor.media_type,
                            descriptor.size, _registry_opener(ref, descriptor)))
    say(f"scanning {ref.name}@{manifest.digest} ({len(layers)} layers)")
    return Image(name=ref.name, repository_url=ref.name, tag=ref.tag, digest=manifest.digest,
                 digest_is_image_id=False, platform=_config_platform(config), config=config,
                 layers=layers, resolved_from=top.digest)


def _registry_opener(ref: ImageReference, descriptor: Descriptor) -> Callable[[], ByteSource]:
    from oci_attest.registry.client import RegistryClient

    what = f"layer {descriptor.digest}"

    def download() -> Iterator[bytes]:
        # A client per stream: sessions are not shared between threads. The blob reader
        # checks the digest when it reaches the end.
        client = RegistryClient(ref.registry)
        with client.open_blob(ref.repository, descriptor.digest) as blob:
            while chunk := blob.read(_RAW_CHUNK):
                yield chunk

    def produce() -> Iterator[bytes]:
        # Download and hashing on one thread, inflating on another, parsing on the caller's:
        # the three overlap (hashing and ISA-L release the GIL).
        raw, stop_download = _background(download, f"download-{descriptor.digest[7:19]}")
        try:
            first = next(raw, b"")
            kind = _compression_of(descriptor.media_type, first)
            yield from _inflate(itertools.chain([first], raw), kind, what)
        finally:
            stop_download()

    return lambda: _threaded(produce, descriptor.digest[7:19])


# ------------------------------------------------------------------------ docker-archive
def open_docker_archive(path: Path, wanted: _Platform | None = None,
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
        def member_bytes(name: str, limit: int = _MAX_CONFIG) -> bytes:
            member = _resolve_member(members, name)
            if member is None or member.size > limit:
                raise InputError(f"{path}: {name!r} is missing or too large",
                                 hint="pass a file written by `docker save`")
            handle = outer.extractfile(member)
            if handle is None:
                raise InputError(f"{path}: {name!r} is not a regular file")
            return handle.read()

        listing = json.loads(member_bytes("manifest.json")) if "manifest.json" in members else None
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
        config_raw = member_bytes(entry["Config"])
        config = _json_object(config_raw, f"{path}: image config")
        image_id = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        layer_names = [str(name) for name in entry["Layers"]]
        diff_ids = _diff_ids(config, len(layer_names), str(path))
        layers = []
        for index, (name, diff_id) in enumerate(zip(layer_names, diff_ids, strict=True)):
            member = _resolve_member(members, name)
            if member is None or not member.isfile():
                raise InputError(f"{path}: layer {name!r} is missing from the archive")
            layers.append(Layer(index, diff_id, diff_id, "application/vnd.oci.image.layer.v1.tar",
                                member.size, _local_layer_opener(
                                    path, member.offset_data, member.size, "", f"layer {name}")))
        digest, digest_is_id = image_id, True
        if "index.json" in members:  # docker 25+: an OCI layout inside; use the manifest digest
            found = _manifest_digest_for_config(member_bytes, image_id)
            if found:
                digest, digest_is_id = found, False
    finally:
        outer.close()
    tags = [str(t) for t in entry.get("RepoTags") or [] if isinstance(t, str)]
    ref = _name_for(name_hint or (tags[0] if tags else None), path.stem)
    return Image(name=ref.name, repository_url=ref.name, tag=ref.tag, digest=digest,
                 digest_is_image_id=digest_is_id, platform=_config_platform(config),
                 config=config, layers=layers)


def _resolve_member(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo | None:
    """Follow symbolic links inside the archive (docker dedups identical layers with them)."""
    seen = 0
    current = members.get(name.removeprefix("./"))
    while current is not None and current.issym() and seen < 8:
        target = os.path.normpath(os.path.join(os.path.dirname(current.name), current.linkname))
        current = members.get(target.removeprefix("./"))
        seen += 1
    return current


def _manifest_digest_for_config(member_bytes: Callable[[str], bytes],
                                config_digest: str) -> str | None:
    from oci_attest.registry.client import verify_digest

    try:
        index = json.loads(member_bytes("index.json"))
        for descriptor in index.get("manifests") or []:
            digest = str(descriptor.get("digest", ""))
            algorithm, _, hex_part = digest.partition(":")
            raw = member_bytes(f"blobs/{algorithm}/{hex_part}")
            verify_digest(raw, digest, "manifest in the archive")
            manifest = json.loads(raw)
            if (manifest.get("config") or {}).get("digest") == config_digest:
                return digest
    except (InputError, ValueError, AttributeError, TypeError):
        return None
    return None


def _name_for(reference: str | None, fallback: str) -> ImageReference:
    if reference:
        try:
            return parse_reference(reference, default_tag=None)
        except InputError:
            pass
    clean = re.sub(r"[^a-z0-9._-]+", "-", fallback.lower()).strip("-._") or "image"
    return ImageReference(registry="localhost", repository=clean)


# ---------------------------------------------------------------------------- oci-layout
def open_oci_layout(text: str, wanted: _Platform) -> Image:
    from oci_attest.registry.client import Descriptor, Manifest, verify_digest

    root, selector = _split_layout_spec(text)
    index_path = root / "index.json"
    if not index_path.is_file():
        raise InputError(f"{root} is not an OCI image layout (no index.json)",
                         hint="create one with `skopeo copy docker-archive:FILE oci:DIR`")

    def blob(digest: str, limit: int = _MAX_CONFIG) -> bytes:
        algorithm, _, hex_part = digest.partition(":")
        path = root / "blobs" / algorithm / hex_part
        if not re.fullmatch(r"[a-f0-9]{64}|[a-f0-9]{128}", hex_part) or not path.is_file():
            raise InputError(f"{root}: blob {digest} is missing")
        if path.stat().st_size > limit:
            raise InputError(f"{root}: blob {digest} is larger than {limit} bytes")
        data = path.read_bytes()
        try:
            verify_digest(data, digest, f"{root}: blob")
        except RegistryError as error:  # a local file: bad input, not a registry problem
            raise InputError(error.message, hint="the layout is damaged; copy it again") from None
        return data

    index = _json_object(index_path.read_bytes(), f"{index_path}")
    descriptors = [Descriptor.from_json(d) for d in index.get("manifests") or []]
    if selector and selector.startswith(("sha256:", "sha512:")):
        chosen = [d for d in descriptors if d.digest == selector]
    elif selector:
        chosen = [d for d in descriptors if _ref_name_matches(d, selector)]
    else:
        chosen = descriptors
    if not chosen:
        names = sorted({d.annotations.get("org.opencontainers.image.ref.name", "")
                        for d in descriptors} - {""})
        raise InputError(f"{root} has no image {selector!r}" if selector else f"{root} is empty",
                         hint=f"images in it: {', '.join(names) or 'none'}")
    if len(chosen) > 1:
        if all(d.platform for d in chosen):
            chosen = [_select_platform(chosen, wanted, str(root))]
        else:
            names = sorted(d.annotations.get("org.opencontainers.image.ref.name", d.digest)
                           for d in chosen)
            raise InputError(f"{root} holds several images",
                             hint=f"name one: oci-layout:{root}:TAG with TAG among "
                                  f"{', '.join(names)}")
    descriptor = chosen[0]
    manifest = Manifest(raw=blob(descriptor.digest, 4 * 1024 * 1024),
                        media_type=descriptor.media_type, digest=descriptor.digest)
    if manifest.is_index:
        descriptor = _select_platform(manifest.manifests(), wanted, str(root))
        manifest = Manifest(raw=blob(descriptor.digest, 4 * 1024 * 1024),
                            media_type=descriptor.media_type, digest=descriptor.digest)
    body = manifest.json
    _check_image_manifest(body, f"{root}@{manifest.digest}")
    config = _json_object(blob(manifest.config().digest), f"{root}: image config")
    layer_descriptors = manifest.layers()
    diff_ids = _diff_ids(config, len(layer_descriptors), str(root))
    layers = []
    for index_no, (layer, diff_id) in enumerate(zip(layer_descriptors, diff_ids, strict=True)):
        algorithm, _, hex_part = layer.digest.partition(":")
        path = root / "blobs" / algorithm / hex_part
        if not path.is_file():
            raise InputError(f"{root}: layer blob {layer.digest} is missing")
        layers.append(Layer(index_no, layer.digest, diff_id, layer.media_type, layer.size,
                            _local_layer_opener(path, 0, path.stat().st_size, layer.media_type,
                                                f"layer {layer.digest}", layer.digest)))
    ref_name = chosen[0].annotations.get("io.containerd.image.name") or \
        chosen[0].annotations.get("org.opencontainers.image.ref.name")
    ref = _name_for(ref_name if ref_name and "/" in ref_name else None, root.name)
    tag = ref.tag or (selector if selector and not selector.startswith("sha") else None) or \
        (ref_name if ref_name and "/" not in ref_name else None)
    return Image(name=ref.name, repository_url=ref.name, tag=tag, digest=manifest.digest,
                 digest_is_image_id=False, platform=_config_platform(config), config=config,
                 layers=layers)


def _split_layout_spec(text: str) -> tuple[Path, str | None]:
    if "@" in text and os.path.isdir(text.rsplit("@", 1)[0]):
        path, digest = text.rsplit("@", 1)
        return Path(path), digest
    if os.path.isdir(text) or ":" not in text:
        return Path(text), None
    path, selector = text.rsplit(":", 1)
    return Path(path), selector or None


def _ref_name_matches(descriptor: Descriptor, selector: str) -> bool:
    names = {descriptor.annotations.get("org.opencontainers.image.ref.name", ""),
             descriptor.annotations.get("io.containerd.image.name", "")}
    return any(name == selector or name.endswith(f":{selector}") for name in names if name)


# ------------------------------------------------------------------------- docker-daemon
def open_docker_daemon(text: str, wanted: _Platform, say: Progress) -> Image:
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
        raise InputError(f"cannot reach the docker engine: {error}",
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
            for chunk in client.api.get_image(image.id, chunk_size=_RAW_CHUNK):
                handle.write(chunk)
        opened = open_docker_archive(archive, wanted, name_hint=name_hint)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    opened.cleanups.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    for repo_digest in image.attrs.get("RepoDigests") or []:
        name, _, digest = str(repo_digest).partition("@")
        if name == opened.name and digest.startswith("sha256:"):
            opened.digest, opened.digest_is_image_id = digest, False
            break
    return opened
