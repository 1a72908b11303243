"""Build layer tarballs, OCI layouts and docker-save archives in memory for the SBOM tests.

Layers are written with :mod:`tarfile` (what real engines write is close to its GNU/PAX output);
tests that need entries no library writes (corrupt headers, markers with link targets) patch
the bytes afterwards.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from oci_attest.sbom import scan_image
from oci_attest.sbom.model import Package, ScanResult


@dataclass
class Item:
    info: tarfile.TarInfo
    data: bytes = b""


def f(path: str, data: bytes | str = b"", mode: int = 0o644) -> Item:
    raw = data.encode() if isinstance(data, str) else data
    info = tarfile.TarInfo(path)
    info.size = len(raw)
    info.mode = mode
    info.mtime = 1_700_000_000
    return Item(info, raw)


def d(path: str) -> Item:
    info = tarfile.TarInfo(path)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return Item(info)


def sym(path: str, target: str) -> Item:
    info = tarfile.TarInfo(path)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return Item(info)


def hard(path: str, target: str) -> Item:
    info = tarfile.TarInfo(path)
    info.type = tarfile.LNKTYPE
    info.linkname = target
    return Item(info)


def wh(path: str) -> Item:
    """A whiteout deleting ``path`` (an empty ``.wh.<name>`` file beside it)."""
    parent, _, name = path.rpartition("/")
    return f(f"{parent}/.wh.{name}" if parent else f".wh.{name}")


def opq(directory: str) -> Item:
    return f(f"{directory}/.wh..wh..opq")


def layer(*items: Item, format: int = tarfile.GNU_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=format) as archive:
        for item in items:
            archive.addfile(item.info, io.BytesIO(item.data) if item.info.isfile() else None)
    return buffer.getvalue()


def status(*packages: dict[str, str]) -> str:
    """A dpkg status file from field dicts (``Status`` defaults to installed)."""
    paragraphs = []
    for fields in packages:
        fields = {"Status": "install ok installed", "Architecture": "amd64", **fields}
        paragraphs.append("\n".join(f"{k}: {v}" for k, v in fields.items()))
    return "\n\n".join(paragraphs) + "\n"


def metadata(name: str, version: str, *requires: str, license: str | None = None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if license:
        lines.append(f"License: {license}")
    lines.extend(f"Requires-Dist: {r}" for r in requires)
    return "\n".join(lines) + "\n\nA long description that is never read.\n"


def package_json(name: str, version: str, **extra: Any) -> str:
    return json.dumps({"name": name, "version": version, **extra})


DEBIAN_OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
                     'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n')


def debian_base(*extra: Item) -> bytes:
    """A minimal Debian-like first layer: os-release (via the usual symlink) and dpkg."""
    return layer(
        d("etc"), d("usr"), d("usr/lib"), f("usr/lib/os-release", DEBIAN_OS_RELEASE),
        sym("etc/os-release", "../usr/lib/os-release"), d("var"), d("var/lib"),
        d("var/lib/dpkg"),
        f("var/lib/dpkg/status", status(
            {"Package": "libc6", "Version": "2.36-9+deb12u13", "Source": "glibc",
             "Depends": "libgcc-s1"},
            {"Package": "libgcc-s1", "Version": "12.2.0-14", "Source": "gcc-12 (12.2.0-14)"},
        )),
        *extra)


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _config(layers: list[bytes], architecture: str = "amd64") -> bytes:
    return json.dumps({"architecture": architecture, "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": [_sha(x) for x in layers]},
                       "config": {}}, sort_keys=True).encode()


def oci_layout(root: Path, layers: list[bytes], *, compression: str | None = "gzip",
               tag: str | None = "test", architectures: tuple[str, ...] = ()) -> Path:
    """An OCI image layout; with ``architectures``, an index of one image per platform."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = _sha(data)
        (blobs / digest[7:]).write_bytes(data)
        return digest

    def image(architecture: str) -> dict[str, Any]:
        config = _config(layers, architecture)
        descriptors = []
        for raw in layers:
            if compression == "gzip":
                blob, media = gzip.compress(raw, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
            elif compression == "zstd":
                blob, media = zstandard.ZstdCompressor().compress(raw), \
                    "application/vnd.oci.image.layer.v1.tar+zstd"
            else:
                blob, media = raw, "application/vnd.oci.image.layer.v1.tar"
            descriptors.append({"mediaType": media, "digest": put(blob), "size": len(blob)})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": put(config), "size": len(config)},
            "layers": descriptors}).encode()
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest), "size": len(manifest),
                "platform": {"os": "linux", "architecture": architecture}}

    if architectures:
        nested = json.dumps({"schemaVersion": 2,
                             "mediaType": "application/vnd.oci.image.index.v1+json",
                             "manifests": [image(a) for a in architectures]}).encode()
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": put(nested),
               "size": len(nested)}
    else:
        top = image("amd64")
        top.pop("platform")
    if tag:
        top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return root


def docker_archive(path: Path, layers: list[bytes], repo_tag: str = "example.test/app:1") -> Path:
    """A legacy ``docker save`` tarball (plain layer tars, manifest.json at the end)."""
    config = _config(layers)
    config_name = _sha(config)[7:] + ".json"
    with tarfile.open(path, "w") as archive:
        names = []
        for number, raw in enumerate(layers):
            name = f"{number:064x}/layer.tar"
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
            names.append(name)
        info = tarfile.TarInfo(config_name)
        info.size = len(config)
        archive.addfile(info, io.BytesIO(config))
        manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag],
                                "Layers": names}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    return path


def scan_layers(tmp_path: Path, *layers: bytes, compression: str | None = None) -> ScanResult:
    """Scan layers end to end through an OCI layout (plain tars: read in place)."""
    root = oci_layout(tmp_path / f"layout-{len(list(tmp_path.iterdir()))}", list(layers),
                      compression=compression)
    return scan_image(f"oci-layout:{root}")


def names(result: ScanResult, ecosystem: str) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in result.packages if p.ecosystem == ecosystem}


def find(result: ScanResult, name: str) -> Package:
    matches = [p for p in result.packages if p.name == name]
    assert len(matches) == 1, f"{name}: {len(matches)} packages"
    return matches[0]
