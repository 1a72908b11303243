"""Each cataloger against crafted metadata, through a real layer scan."""

from __future__ import annotations

import json
import sqlite3
import struct
import zipfile
import zlib
from io import BytesIO
from pathlib import Path

from oci_attest.sbom.cyclonedx import license_choices
from oci_attest.sbom.licenses import normalize, split_debian
from tests.sbom.helpers import (
    d,
    debian_base,
    f,
    find,
    layer,
    metadata,
    names,
    package_json,
    scan_layers,
    status,
    sym,
)

# ---------------------------------------------------------------------------------- dpkg


def test_dpkg_copyright_licenses_doc_links_and_dependencies(tmp_path: Path) -> None:
    machine_readable = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
                        "Files: *\nCopyright: someone\nLicense: GPL-2+ or Artistic\n\n"
                        "Files: lib/*\nLicense: Expat\n\nLicense: GPL-2+\n text\n")
    free_form = "This package is under the GNU GPL, see /usr/share/common-licenses/GPL-3.\n"
    base = debian_base(
        f("usr/share/doc/libc6/copyright", machine_readable),
        f("usr/share/doc/gcc-12-base/copyright", free_form),
        sym("usr/share/doc/libgcc-s1", "gcc-12-base"),
    )
    result = scan_layers(tmp_path, base)
    libc = find(result, "libc6")
    assert libc.licenses == ["GPL-2.0-or-later", "Artistic-1.0-Perl", "MIT"]
    assert find(result, "libgcc-s1").licenses == ["GPL-3.0-only"]
    assert libc.properties["attest:deb:source"] == "glibc"
    assert find(result, "libgcc-s1").properties["attest:deb:source-version"] == "12.2.0-14"
    assert libc.depends_on == [find(result, "libgcc-s1").key]
    assert libc.publisher is None


def test_dpkg_alternatives_provides_and_multiarch(tmp_path: Path) -> None:
    db = status(
        {"Package": "app", "Version": "1", "Depends": "missing | mawk, awk-alt, libz1:any"},
        {"Package": "mawk", "Version": "1.3", "Provides": "awk-alt"},
        {"Package": "libz1", "Version": "1.2", "Multi-Arch": "same"},
        {"Package": "libz1", "Version": "1.2", "Architecture": "i386", "Multi-Arch": "same"},
        {"Package": "gone", "Version": "0.1", "Status": "purge ok not-installed"},
        {"Package": "noversion"},
    )
    result = scan_layers(tmp_path, layer(f("var/lib/dpkg/status", db)))
    assert names(result, "deb") == {("app", "1"), ("mawk", "1.3"), ("libz1", "1.2")}
    assert len([p for p in result.packages if p.name == "libz1"]) == 2  # one per architecture
    app = find(result, "app")
    targets = {key.split("\0")[1] + ":" + key.split("\0")[3] for key in app.depends_on}
    assert targets == {"mawk:arch=amd64", "libz1:arch=amd64"}
    assert any("'noversion' has no version" in w for w in result.warnings)


def test_dpkg_distroless_status_d(tmp_path: Path) -> None:
    files = layer(
        f("var/lib/dpkg/status.d/base-files", status({"Package": "base-files",
                                                      "Version": "12.4"}).replace(
            "Status: install ok installed\n", "")),
        f("var/lib/dpkg/status.d/base-files.md5sums", "abc  etc/issue\n"),
        f("var/lib/dpkg/status.d/libssl3", status({"Package": "libssl3", "Version": "3.0.11"})),
    )
    result = scan_layers(tmp_path, files)
    assert names(result, "deb") == {("base-files", "12.4"), ("libssl3", "3.0.11")}


def test_debian_license_names() -> None:
    assert normalize("GPL-2+") == "GPL-2.0-or-later"
    assert normalize("LGPL-2.1") == "LGPL-2.1-only"
    assert normalize("BSD-3-clause") == "BSD-3-Clause"
    assert normalize("Expat") == "MIT"
    assert normalize("public-domain") == "public-domain"
    assert split_debian("GPL-2+ or Artistic, and BSD-3-clause-GENERIC") == [
        "GPL-2.0-or-later", "Artistic-1.0-Perl", "BSD-3-clause-GENERIC"]
    assert license_choices(["MIT", "Foo License"]) == [{"license": {"id": "MIT"}},
                                                        {"license": {"name": "Foo License"}}]
    assert license_choices(["MIT OR Apache-2.0"]) == [{"expression": "MIT OR Apache-2.0"}]


# ----------------------------------------------------------------------------------- apk

APK_DB = """C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
p:so:libc.musl-x86_64.so.1=1
F:lib

P:busybox
V:1.36.1-r5
A:x86_64
L:GPL-2.0-only
D:so:libc.musl-x86_64.so.1 !busybox-extras
"""


def test_apk_installed_database(tmp_path: Path) -> None:
    os_release = 'ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME="Alpine Linux v3.18"\n'
    result = scan_layers(tmp_path, layer(f("etc/os-release", os_release),
                                         f("lib/apk/db/installed", APK_DB)))
    assert names(result, "apk") == {("musl", "1.2.4-r2"), ("busybox", "1.36.1-r5")}
    busybox = find(result, "busybox")
    assert busybox.purl(result.distro) == (
        "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.18.4")
    assert busybox.depends_on == [find(result, "musl").key]
    assert find(result, "musl").licenses == ["MIT"]


# ----------------------------------------------------------------------------------- rpm


def rpm_header(**tags: object) -> bytes:
    """Encode an RPM header blob the way rpmdb.sqlite stores it (no magic)."""
    numbers = {"name": (1000, 6), "version": (1001, 6), "release": (1002, 6),
               "epoch": (1003, 4), "license": (1014, 6), "arch": (1022, 6),
               "requirename": (1049, 8), "providename": (1047, 8), "vendor": (1011, 6),
               "sourcerpm": (1044, 6)}
    index, store = [], b""
    for key, value in tags.items():
        tag, kind = numbers[key]
        offset = len(store)
        if kind == 4:
            while len(store) % 4:
                store += b"\0"
            offset = len(store)
            store += struct.pack(">i", int(value))  # type: ignore[call-overload]
            count = 1
        elif kind == 8:
            items = list(value)  # type: ignore[call-overload]
            store += b"".join(s.encode() + b"\0" for s in items)
            count = len(items)
        else:
            store += str(value).encode() + b"\0"
            count = 1
        index.append(struct.pack(">iiii", tag, kind, offset, count))
    return struct.pack(">ii", len(index), len(store)) + b"".join(index) + store


def test_rpm_sqlite_database(tmp_path: Path) -> None:
    db_path = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        blobs = [
            rpm_header(name="bash", version="5.1.8", release="6.el9", arch="x86_64",
                       license="GPLv3+", requirename=["libc.so.6()(64bit)", "rpmlib(X)"],
                       vendor="Red Hat, Inc."),
            rpm_header(name="glibc", version="2.34", release="60.el9", epoch=1, arch="x86_64",
                       license="LGPL-2.1-or-later", providename=["libc.so.6()(64bit)"]),
            rpm_header(name="gpg-pubkey", version="fd431d51", release="4ae0493b"),
            b"\x00\x00\x00\x05garbage",
        ]
        db.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    os_release = 'ID="rhel"\nVERSION_ID="9.2"\n'
    result = scan_layers(tmp_path, layer(
        f("etc/os-release", os_release),
        f("var/lib/rpm/rpmdb.sqlite", db_path.read_bytes()),
        f("var/lib/rpm/Packages", b"\0" * 4096)))
    assert names(result, "rpm") == {("bash", "5.1.8-6.el9"), ("glibc", "2.34-60.el9")}
    glibc = find(result, "glibc")
    assert glibc.purl(result.distro) == (
        "pkg:rpm/redhat/glibc@2.34-60.el9?arch=x86_64&distro=rhel-9.2&epoch=1")
    assert glibc.display_version == "1:2.34-60.el9"
    assert find(result, "bash").depends_on == [glibc.key]
    assert any("record 3 is malformed" in w for w in result.warnings)
    assert any("Berkeley DB" in w for w in result.warnings)


# -------------------------------------------------------------------------------- python


def test_python_metadata_egg_info_and_requirements(tmp_path: Path) -> None:
    site = "usr/lib/python3/dist-packages"
    venv = "opt/venv/lib/python3.11/site-packages"
    files = layer(
        f(f"{venv}/app-1.0.dist-info/METADATA", metadata(
            "App", "1.0", "Requests_Lib>=2", "tomli; python_version < '3.11'",
            "pytest; extra == 'test'", "colorama; sys_platform == 'win32'", "idna")),
        f(f"{venv}/requests_lib-2.1.dist-info/METADATA", metadata("requests-lib", "2.1")),
        f(f"{venv}/tomli-2.0.dist-info/METADATA", metadata("tomli", "2.0")),
        f(f"{venv}/idna-3.4.dist-info/METADATA",
          "Metadata-Version: 2.4\nName: idna\nVersion: 3.4\nLicense-Expression: BSD-3-Clause\n"),
        f(f"{venv}/pytest-8.0.dist-info/METADATA", metadata("pytest", "8.0")),
        f(f"{venv}/colorama-0.4.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: colorama\nVersion: 0.4\n"
          "Classifier: License :: OSI Approved :: BSD License\n"),
        f(f"{site}/six-1.16.0.egg-info", "Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\n"
                                         "License: MIT\n"),
        f(f"{site}/chardet-5.1.0.egg-info/PKG-INFO", metadata("chardet", "5.1.0")),
        f(f"{site}/chardet-5.1.0.egg-info/requires.txt", "six\n\n[cli]\nclick\n"),
        f(f"{venv}/broken-0.dist-info/METADATA", "garbage without fields"),
    )
    result = scan_layers(tmp_path, files)
    assert names(result, "python") == {
        ("App", "1.0"), ("requests-lib", "2.1"), ("tomli", "2.0"), ("idna", "3.4"),
        ("pytest", "8.0"), ("colorama", "0.4"), ("six", "1.16.0"), ("chardet", "5.1.0")}
    app = find(result, "App")
    assert sorted(k.split("\0")[1] for k in app.depends_on) == ["idna", "requests-lib"]
    assert find(result, "chardet").depends_on == [find(result, "six").key]
    assert find(result, "idna").licenses == ["BSD-3-Clause"]
    assert find(result, "six").licenses == ["MIT"]
    assert find(result, "colorama").licenses == ["BSD License"]
    assert app.purl(None) == "pkg:pypi/app@1.0"
    assert any("broken-0.dist-info/METADATA has no name" in w for w in result.warnings)


# ----------------------------------------------------------------------------------- npm


def test_npm_package_json_scopes_and_node_resolution(tmp_path: Path) -> None:
    files = layer(
        f("app/package.json", package_json("my-app", "1.0.0", dependencies={"a": "^1"},
                                           private=True)),
        f("app/node_modules/a/package.json", package_json(
            "a", "1.2.0", dependencies={"b": "*", "@scope/c": "*"},
            license={"type": "MIT"}, author={"name": "Ann"})),
        f("app/node_modules/a/node_modules/b/package.json", package_json("b", "2.0.0")),
        f("app/node_modules/b/package.json", package_json("b", "1.0.0")),
        f("app/node_modules/@scope/c/package.json", package_json(
            "@scope/c", "0.1.0", licenses=[{"type": "ISC"}, {"type": "MIT"}])),
        f("app/node_modules/noversion/package.json", json.dumps({"name": "noversion"})),
        f("app/node_modules/broken/package.json", "{"),
    )
    result = scan_layers(tmp_path, files)
    assert names(result, "npm") == {("my-app", "1.0.0"), ("a", "1.2.0"), ("b", "2.0.0"),
                                    ("b", "1.0.0"), ("@scope/c", "0.1.0")}
    a = find(result, "a")
    nested_b = next(p for p in result.packages if p.name == "b" and p.version == "2.0.0")
    scoped = find(result, "@scope/c")
    assert sorted(a.depends_on) == sorted([nested_b.key, scoped.key])
    assert find(result, "my-app").depends_on == [a.key]
    assert scoped.purl(None) == "pkg:npm/%40scope/c@0.1.0"
    assert scoped.licenses == ["ISC", "MIT"]
    assert a.licenses == ["MIT"] and a.author == "Ann"


def test_npm_lockfiles_add_what_is_not_installed(tmp_path: Path) -> None:
    lock_v3 = json.dumps({"lockfileVersion": 3, "packages": {
        "": {"name": "svc", "version": "1.0.0"},
        "node_modules/left-pad": {"version": "1.3.0"},
        "node_modules/linked": {"link": True, "resolved": "../x"}}})
    lock_v1 = json.dumps({"lockfileVersion": 1, "dependencies": {
        "old": {"version": "0.1.0", "dependencies": {"inner": {"version": "0.2.0"}}}}})
    yarn_v1 = ('# yarn lockfile v1\n\n"@babel/core@^7.0.0", "@babel/core@^7.1.0":\n'
               '  version "7.22.5"\n  resolved "x"\n\nlodash@^4.17.0:\n  version "4.17.21"\n')
    berry = ('__metadata:\n  version: 6\n\n"react@npm:^18.0.0":\n  version: 18.2.0\n\n'
             '"svc@workspace:.":\n  version: 0.0.0-use.local\n')
    pnpm = ("lockfileVersion: '6.0'\npackages:\n  /chalk@5.3.0:\n    resolution: {}\n"
            "  /@types/node@20.1.0(typescript@5.0.0):\n    resolution: {}\n")
    full_lock = json.dumps({"lockfileVersion": 3, "packages": {
        "node_modules/installed": {"version": "1.0.0"},
        "node_modules/@esbuild/darwin-arm64": {"version": "0.19.0", "optional": True}}})
    files = layer(
        f("srv/package-lock.json", lock_v3),
        f("full/package-lock.json", full_lock),
        f("full/node_modules/.package-lock.json", full_lock),
        f("full/node_modules/installed/package.json", package_json("installed", "1.0.0")),
        f("old/package-lock.json", lock_v1), f("y1/yarn.lock", yarn_v1),
        f("y2/yarn.lock", berry), f("p/pnpm-lock.yaml", pnpm),
        f("bad/yarn.lock", "__metadata:\n  - [unclosed"))
    result = scan_layers(tmp_path, files)
    assert names(result, "npm") == {
        ("installed", "1.0.0"), ("svc", "1.0.0"), ("left-pad", "1.3.0"), ("old", "0.1.0"),
        ("inner", "0.2.0"), ("@babel/core", "7.22.5"), ("lodash", "4.17.21"),
        ("react", "18.2.0"), ("chalk", "5.3.0"), ("@types/node", "20.1.0")}
    assert find(result, "left-pad").properties["attest:npm:declared-only"] == "true"
    assert "attest:npm:declared-only" not in find(result, "installed").properties
    assert any("bad/yarn.lock is not a readable lockfile" in w for w in result.warnings)


# ---------------------------------------------------------------------------------- java


def jar(entries: dict[str, bytes | str]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_java_archives_pom_manifest_and_nested(tmp_path: Path) -> None:
    inner = jar({"META-INF/maven/org.slf4j/slf4j-api/pom.properties":
                 "groupId=org.slf4j\nartifactId=slf4j-api\nversion=2.0.9\n"})
    manifest_only = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
                                                 "Implementation-Version: 3.12.0\n"
                                                 "Bundle-License: Apache-2.0\n"})
    outer = jar({
        "META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Title: app\n",
        "META-INF/maven/com.example/app/pom.properties":
            "#Generated\ngroupId=com.example\nartifactId=app\nversion=1.4.2\n",
        "BOOT-INF/lib/slf4j-api-2.0.9.jar": inner,
        "BOOT-INF/lib/commons-lang3-3.12.0.jar": manifest_only,
    })
    result = scan_layers(tmp_path, layer(f("srv/app.jar", outer), f("srv/broken.war", b"PK\3\4no"),
                                         f("srv/lib/commons-lang3-3.12.0.jar", manifest_only)),
                         compression="gzip")
    assert names(result, "maven") == {("app", "1.4.2"), ("slf4j-api", "2.0.9"),
                                      ("commons-lang3", "3.12.0")}
    slf4j = find(result, "slf4j-api")
    assert slf4j.path == "/srv/app.jar:BOOT-INF/lib/slf4j-api-2.0.9.jar"
    assert slf4j.purl(None) == "pkg:maven/org.slf4j/slf4j-api@2.0.9"
    lang = [p for p in result.packages if p.name == "commons-lang3"]
    assert len(lang) == 2 and all(p.licenses == ["Apache-2.0"] for p in lang)
    assert any("broken.war is not a readable archive" in w for w in result.warnings)


# ---------------------------------------------------------------------------- go, rust


def test_go_binary_built_here(tmp_path: Path, go_binary: Path) -> None:
    result = scan_layers(tmp_path, layer(f("usr/local/bin/hello", go_binary.read_bytes(),
                                           mode=0o755)), compression="gzip")
    found = names(result, "golang")
    assert ("example.test/greet", "v1.2.3") in found
    assert ("example.test/hello", "(devel)") in found
    stdlib = find(result, "stdlib")
    assert stdlib.display_version is not None and stdlib.display_version.startswith("go1.")
    assert stdlib.purl(None) == f"pkg:golang/stdlib@{stdlib.display_version[2:]}"
    main = find(result, "example.test/hello")
    assert find(result, "example.test/greet").key in main.depends_on


def _elf_with_old_go_buildinfo(version: bytes, modinfo: bytes) -> bytes:
    """A minimal ELF64 file with a pre-1.18 (pointer) build info section and a PT_LOAD."""
    vaddr_base, data_at = 0x400000, 0x1000
    strings_at = data_at + 0x100
    version_string = data_at + 0x40  # Go string headers (pointer, length)
    modinfo_string = data_at + 0x50
    data = bytearray(0x400)
    header = b"\xff Go buildinf:" + bytes([8, 0])
    header += struct.pack("<QQ", vaddr_base + version_string, vaddr_base + modinfo_string)
    data[0:len(header)] = header
    data[0x40:0x50] = struct.pack("<QQ", vaddr_base + strings_at, len(version))
    data[0x50:0x60] = struct.pack("<QQ", vaddr_base + strings_at + 0x40, len(modinfo))
    data[0x100:0x100 + len(version)] = version
    data[0x140:0x140 + len(modinfo)] = modinfo
    names_table = b"\0.go.buildinfo\0.shstrtab\0"
    names_at = data_at + len(data)
    shoff = names_at + len(names_table)
    shoff += -shoff % 8
    elf = bytearray(shoff + 3 * 64)
    elf[0:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    elf[16:64] = struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, vaddr_base, 64, shoff, 0, 64, 56, 1,
                             64, 3, 2)
    elf[64:120] = struct.pack("<IIQQQQQQ", 1, 6, 0, vaddr_base, vaddr_base,
                              data_at + len(data), data_at + len(data), 0x1000)
    elf[data_at:data_at + len(data)] = data
    elf[names_at:names_at + len(names_table)] = names_table
    sections = [bytes(64),
                struct.pack("<IIQQQQIIQQ", 1, 1, 3, vaddr_base + data_at, data_at, len(data),
                            0, 0, 16, 0),
                struct.pack("<IIQQQQIIQQ", 15, 3, 0, 0, names_at, len(names_table), 0, 0, 1, 0)]
    elf[shoff:shoff + 192] = b"".join(sections)
    return bytes(elf)


def test_go_pre_118_pointer_build_info(tmp_path: Path) -> None:
    sentinel = b"0" * 16
    modinfo = sentinel + (b"path\texample.test/old\nmod\texample.test/old\tv0.9.0\th1:x\n"
                          b"dep\tgithub.com/pkg/errors\tv0.9.1\th1:y\n") + sentinel
    assert modinfo[-17:-16] == b"\n"
    binary = _elf_with_old_go_buildinfo(b"go1.16.15", modinfo)
    result = scan_layers(tmp_path, layer(f("bin/old", binary, mode=0o755)))
    assert names(result, "golang") == {("example.test/old", "v0.9.0"),
                                       ("github.com/pkg/errors", "v0.9.1"),
                                       ("stdlib", "1.16.15")}


def test_rust_cargo_auditable_section(tmp_path: Path, rust_binary: Path) -> None:
    result = scan_layers(tmp_path, layer(f("usr/bin/tool", rust_binary.read_bytes(), mode=0o755),
                                         f("usr/bin/plain", b"\x7fELF" + bytes(600), mode=0o755)))
    assert names(result, "cargo") == {("tool", "0.1.0"), ("serde", "1.0.190"),
                                      ("itoa", "1.0.9")}
    tool = find(result, "tool")
    assert tool.properties["attest:cargo:root"] == "true"
    assert sorted(tool.depends_on) == sorted([find(result, "serde").key, find(result, "itoa").key])
    assert find(result, "serde").purl(None) == "pkg:cargo/serde@1.0.190"


def test_rust_bad_section_is_reported(tmp_path: Path, rust_binary_factory) -> None:
    binary = rust_binary_factory(b"not zlib at all")
    result = scan_layers(tmp_path, layer(f("usr/bin/bad", binary.read_bytes(), mode=0o755)))
    assert names(result, "cargo") == set()
    assert any("unreadable .dep-v0" in w for w in result.warnings)


def test_dep_v0_payload_shape() -> None:
    from oci_attest.sbom.catalogers.rust import decode_dep_v0

    payload = zlib.compress(json.dumps({"packages": [{"name": "x", "version": "1"}]}).encode())
    assert decode_dep_v0(payload) == [{"name": "x", "version": "1"}]


def test_unrelated_executables_are_not_reported(tmp_path: Path) -> None:
    result = scan_layers(tmp_path, layer(f("bin/sh", b"#!/bin/sh\necho hi\n" * 100, mode=0o755),
                                         d("bin/dir")))
    assert result.packages == []
