"""Layers applied in order the way engines do: whiteouts, opaque directories, replacements.

Each test scans a real OCI layout made of crafted layers, once with plain layer tars (read in
place) and once gzip-compressed (streamed), so both reading paths see every case.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.sbom.helpers import (
    d,
    debian_base,
    f,
    find,
    hard,
    layer,
    metadata,
    names,
    opq,
    package_json,
    scan_layers,
    status,
    sym,
    wh,
)

SITE = "opt/venv/lib/python3.11/site-packages"


@pytest.fixture(params=[None, "gzip"], ids=["plain", "gzip"])
def compression(request: pytest.FixtureRequest) -> str | None:
    return request.param  # type: ignore[no-any-return]


def dist(name: str, version: str, *requires: str) -> list:
    return [d(f"{SITE}/{name}-{version}.dist-info"),
            f(f"{SITE}/{name}-{version}.dist-info/METADATA", metadata(name, version, *requires))]


def test_file_whiteout_removes_a_package(tmp_path: Path, compression: str | None) -> None:
    base = layer(*dist("alpha", "1.0"), *dist("beta", "2.0"))
    delete = layer(wh(f"{SITE}/beta-2.0.dist-info/METADATA"))
    result = scan_layers(tmp_path, base, delete, compression=compression)
    assert names(result, "python") == {("alpha", "1.0")}


def test_directory_whiteout_removes_everything_below(tmp_path: Path, compression) -> None:
    base = layer(*dist("alpha", "1.0"), *dist("beta", "2.0"))
    delete = layer(wh(f"{SITE}/beta-2.0.dist-info"))
    upper_delete = layer(wh("opt/venv"))
    assert names(scan_layers(tmp_path, base, delete, compression=compression), "python") == {
        ("alpha", "1.0")}
    assert names(scan_layers(tmp_path, base, upper_delete, compression=compression),
                 "python") == set()


def test_opaque_directory_hides_lower_layers_only(tmp_path: Path, compression) -> None:
    base = layer(*dist("old", "1.0"))
    rebuilt = layer(opq(SITE), *dist("new", "2.0"))
    rebuilt_marker_last = layer(*dist("new", "2.0"), opq(SITE))
    for top in (rebuilt, rebuilt_marker_last):
        result = scan_layers(tmp_path, base, top, compression=compression)
        assert names(result, "python") == {("new", "2.0")}


def test_whiteout_does_not_hide_its_own_layer(tmp_path: Path, compression) -> None:
    """OCI: a whiteout only applies to lower layers."""
    same = layer(*dist("alpha", "1.0"), wh(f"{SITE}/alpha-1.0.dist-info"))
    assert names(scan_layers(tmp_path, same, compression=compression), "python") == {
        ("alpha", "1.0")}


def test_replaced_file_reports_the_upper_version_and_layer(tmp_path: Path, compression) -> None:
    lower = layer(f("app/package.json", package_json("app", "1.0.0")))
    upper = layer(f("app/package.json", package_json("app", "2.0.0")))
    result = scan_layers(tmp_path, lower, upper, compression=compression)
    assert names(result, "npm") == {("app", "2.0.0")}
    assert find(result, "app").layer == 1


@pytest.mark.parametrize("replacement", ["dir", "symlink", "unwanted-file"])
def test_path_replaced_by_something_else(tmp_path: Path, compression, replacement: str) -> None:
    lower = layer(f("srv/package.json", package_json("srv", "1.0.0")))
    upper = {"dir": layer(d("srv/package.json")),
             "symlink": layer(sym("srv/package.json", "/dev/null")),
             "unwanted-file": layer(f("srv/package.json", "{not json"))}[replacement]
    assert names(scan_layers(tmp_path, lower, upper, compression=compression), "npm") == set()


def test_directory_replaced_by_a_file(tmp_path: Path, compression) -> None:
    lower = layer(*dist("alpha", "1.0"))
    upper = layer(f(f"{SITE}/alpha-1.0.dist-info", "now a file"))
    assert names(scan_layers(tmp_path, lower, upper, compression=compression), "python") == set()


def test_duplicate_path_in_one_layer_last_wins(tmp_path: Path, compression) -> None:
    same = layer(f("x/package.json", package_json("x", "1.0.0")),
                 f("x/package.json", package_json("x", "1.0.1")))
    assert names(scan_layers(tmp_path, same, compression=compression), "npm") == {("x", "1.0.1")}


def test_hard_link_to_a_cataloged_file(tmp_path: Path, compression) -> None:
    data = layer(f("a/package.json", package_json("linked", "3.0.0")),
                 hard("b/package.json", "a/package.json"))
    result = scan_layers(tmp_path, data, compression=compression)
    assert sorted(p.path for p in result.packages) == ["/a/package.json", "/b/package.json"]


def test_hard_link_to_content_not_kept_is_reported(tmp_path: Path, compression) -> None:
    data = layer(f("data.bin", package_json("hidden", "1.0.0")),
                 hard("c/package.json", "data.bin"))
    result = scan_layers(tmp_path, data, compression=compression)
    assert names(result, "npm") == set()
    assert any("hard link 'c/package.json'" in w for w in result.warnings)


def test_aufs_bookkeeping_and_link_whiteouts(tmp_path: Path, compression) -> None:
    """Markers with leftover link targets (aufs) still delete; .wh..wh.plnk content is ignored."""
    lower = layer(*dist("alpha", "1.0"), *dist("beta", "1.0"))
    upper = layer(d(".wh..wh.plnk"), f(".wh..wh.plnk/123.456", metadata("ghost", "9")),
                  hard(f"{SITE}/.wh.beta-1.0.dist-info", ".wh..wh.plnk/123.456"),
                  f(".wh..wh.aufs"))
    result = scan_layers(tmp_path, lower, upper, compression=compression)
    assert names(result, "python") == {("alpha", "1.0")}


def test_dpkg_database_replaced_and_package_layer_attribution(tmp_path: Path, compression) -> None:
    base = debian_base()
    apt = layer(f("var/lib/dpkg/status", status(
        {"Package": "libc6", "Version": "2.36-9+deb12u13", "Source": "glibc",
         "Depends": "libgcc-s1"},
        {"Package": "libgcc-s1", "Version": "12.2.0-14"},
        {"Package": "curl", "Version": "7.88.1-10", "Depends": "libc6 (>= 2.34)"})))
    removal = layer(f("var/lib/dpkg/status", status(
        {"Package": "libc6", "Version": "2.36-9+deb12u13", "Source": "glibc",
         "Depends": "libgcc-s1"},
        {"Package": "libgcc-s1", "Version": "12.2.0-14"},
        {"Package": "curl", "Version": "7.88.1-10", "Status": "deinstall ok config-files"})))
    result = scan_layers(tmp_path, base, apt, compression=compression)
    assert names(result, "deb") == {("libc6", "2.36-9+deb12u13"), ("libgcc-s1", "12.2.0-14"),
                                    ("curl", "7.88.1-10")}
    assert find(result, "libc6").layer == 0  # introduced by the base, not the apt layer
    assert find(result, "curl").layer == 1
    later = scan_layers(tmp_path, base, apt, removal, compression=compression)
    assert ("curl", "7.88.1-10") not in names(later, "deb")
    deleted = scan_layers(tmp_path, base, layer(wh("var/lib/dpkg/status")),
                          compression=compression)
    assert names(deleted, "deb") == set()


def test_os_release_symlink_resolution_and_whiteout(tmp_path: Path, compression) -> None:
    result = scan_layers(tmp_path, debian_base(), compression=compression)
    assert result.distro is not None and result.distro.qualifier == "debian-12"
    assert find(result, "libc6").purl(result.distro) == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u13?arch=amd64&distro=debian-12&upstream=glibc")
    gone = scan_layers(tmp_path, debian_base(), layer(wh("usr/lib/os-release")),
                       compression=compression)
    assert gone.distro is None


def test_corrupt_entry_mid_layer_keeps_later_packages(tmp_path: Path, compression) -> None:
    """The rest of a layer after a damaged header is still cataloged, and the damage reported."""
    items = [*dist("alpha", "1.0"), f("junk.bin", b"x" * 700), *dist("omega", "2.0")]
    data = bytearray(layer(*items))
    at = data.find(b"junk.bin")
    assert at > 0 and at % 512 == 0
    data[at + 148:at + 156] = b"7777777\0"  # checksum of junk.bin's header no longer matches
    result = scan_layers(tmp_path, bytes(data), compression=compression)
    assert names(result, "python") == {("alpha", "1.0"), ("omega", "2.0")}
    assert len(result.warnings) == 1 and "unreadable bytes" in result.warnings[0]


def test_multi_member_gzip_with_zero_padding(tmp_path: Path) -> None:
    import gzip

    from tests.sbom.helpers import oci_layout

    raw = layer(*dist("alpha", "1.0"), *dist("beta", "1.0"))
    split = 2048
    blob = gzip.compress(raw[:split]) + gzip.compress(raw[split:]) + bytes(1024)
    root = oci_layout(tmp_path / "oci", [raw], compression="gzip")
    manifest_digest = json.loads((root / "index.json").read_text())["manifests"][0]["digest"]
    blobs = root / "blobs" / "sha256"
    manifest = json.loads((blobs / manifest_digest[7:]).read_text())
    (blobs / manifest["layers"][0]["digest"][7:]).unlink()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    (blobs / digest[7:]).write_bytes(blob)
    manifest["layers"][0].update(digest=digest, size=len(blob))
    raw_manifest = json.dumps(manifest).encode()
    new_digest = "sha256:" + hashlib.sha256(raw_manifest).hexdigest()
    (blobs / new_digest[7:]).write_bytes(raw_manifest)
    index = json.loads((root / "index.json").read_text())
    index["manifests"][0].update(digest=new_digest, size=len(raw_manifest))
    (root / "index.json").write_text(json.dumps(index))
    from oci_attest.sbom import scan_image

    result = scan_image(f"oci-layout:{root}")
    assert names(result, "python") == {("alpha", "1.0"), ("beta", "1.0")}


def test_whiteouts_written_as_files_with_leftover_link_targets(tmp_path: Path,
                                                                compression) -> None:
    """docker 20.10 writes every whiteout after the first as a regular-file entry whose link
    target still names the first deleted path; each is a whiteout all the same."""
    lower = layer(*dist("alpha", "1.0"), *dist("beta", "1.0"), *dist("gamma", "1.0"))
    first = wh(f"{SITE}/beta-1.0.dist-info")
    second = wh(f"{SITE}/gamma-1.0.dist-info")
    second.info.linkname = f"{SITE}/beta-1.0.dist-info"
    result = scan_layers(tmp_path, lower, layer(first, second), compression=compression)
    assert names(result, "python") == {("alpha", "1.0")}
    assert result.warnings == []
