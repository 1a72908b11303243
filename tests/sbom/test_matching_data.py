"""What vulnerability matching needs from the SBOM, checked on real images the engine builds.

Each image is made ``FROM scratch`` by the real docker engine from files this module writes
(an rpm database, an apk database, Debian's node tree, pnpm lockfiles of every version, jars
laid out the way the JDK, Debian and Spring Boot ship them), and read back through
``docker-daemon:`` like any local image. The images are tagged by content and reused.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from oci_attest.sbom import scan_image
from oci_attest.sbom.catalogers.java import pom_licenses
from oci_attest.sbom.catalogers.npm import pnpm_key
from oci_attest.sbom.model import Package, ScanResult
from tests.fixtures.sbom import SbomImage, scratch_image
from tests.sbom.test_catalogers import APK_DB, rpm_header

pytestmark = pytest.mark.usefixtures("docker_engine")


def scan(files: dict[str, bytes], links: dict[str, str] | None = None) -> ScanResult:
    return scan_image(f"docker-daemon:{scratch_image(files, links=links)}")


def only(result: ScanResult, name: str, path_part: str = "") -> Package:
    matches = [p for p in result.packages if p.name == name and path_part in p.path]
    assert len(matches) == 1, f"{name}: {[p.path for p in matches]}"
    return matches[0]


def jar(entries: dict[str, bytes | str]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# ------------------------------------------------------------------- source packages


def test_rpm_and_apk_purls_name_their_source_package(tmp_path: Path) -> None:
    db_path = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB)")
        db.execute("INSERT INTO Packages (blob) VALUES (?)", (rpm_header(
            name="openssl-libs", version="3.0.7", release="24.el9", epoch=1, arch="x86_64",
            sourcerpm="openssl-3.0.7-24.el9.src.rpm", license="Apache-2.0"),))
    rpm = scan({"etc/os-release": b'ID="rhel"\nVERSION_ID="9.2"\n',
                "var/lib/rpm/rpmdb.sqlite": db_path.read_bytes()})
    libs = only(rpm, "openssl-libs")
    assert libs.purl(rpm.distro) == (
        "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.2&epoch=1"
        "&upstream=openssl-3.0.7-24.el9.src.rpm")
    assert libs.properties["attest:rpm:sourcerpm"] == "openssl-3.0.7-24.el9.src.rpm"

    apk_db = APK_DB + "\nP:libcrypto3\nV:3.1.4-r5\nA:x86_64\nL:Apache-2.0\no:openssl\n"
    apk = scan({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.0\n",
                "lib/apk/db/installed": apk_db.encode()})
    crypto = only(apk, "libcrypto3")
    assert crypto.purl(apk.distro) == (
        "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.0&upstream=openssl")
    assert crypto.properties["attest:apk:origin"] == "openssl"
    assert "upstream=" not in only(apk, "busybox").purl(apk.distro)  # no origin recorded


# -------------------------------------------------------------------------------- npm

PNPM_V5 = """lockfileVersion: 5.4
specifiers:
  acorn: 8.7.1
packages:
  /acorn-jsx/5.3.2_acorn@8.7.1:
    resolution: {integrity: sha512-x}
  /acorn/8.7.1:
    resolution: {integrity: sha512-y}
  /@babel/core/7.22.5_supports-color@8.1.1:
    resolution: {integrity: sha512-z}
"""
PNPM_V6 = """lockfileVersion: '6.0'
packages:
  /@typescript-eslint/parser@6.2.0(eslint@8.46.0)(typescript@5.1.6):
    resolution: {integrity: sha512-a}
  /ms@2.1.3:
    resolution: {integrity: sha512-b}
"""
PNPM_V9 = """lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      react-dom: {specifier: 18.2.0, version: 18.2.0(react@18.2.0)}
packages:
  react-dom@18.2.0:
    resolution: {integrity: sha512-c}
  react@18.2.0:
    resolution: {integrity: sha512-d}
  local-thing@file:../thing:
    resolution: {directory: ../thing, type: directory}
snapshots:
  react-dom@18.2.0(react@18.2.0):
    dependencies:
      react: 18.2.0
"""


def package_json(name: str, version: str) -> bytes:
    return json.dumps({"name": name, "version": version}).encode()


def test_lockfiles_count_only_at_an_application_root_and_pnpm_keys_of_every_version() -> None:
    shipped_lock = PNPM_V5.replace("acorn-jsx/5.3.2", "should-not-appear/9.9.9")
    shrinkwrap = json.dumps({"lockfileVersion": 1, "dependencies": {
        "lodash": {"version": "4.17.21"}, "yargs": {"version": "17.7.2"}}}).encode()
    files = {
        # Debian's node packages, each shipping its own development lockfile
        "usr/share/nodejs/nanoid/package.json": package_json("nanoid", "3.3.4"),
        "usr/share/nodejs/nanoid/pnpm-lock.yaml": shipped_lock.encode(),
        "usr/share/nodejs/lodash-cli/package.json": package_json("lodash-cli", "4.17.5"),
        "usr/share/nodejs/lodash-cli/npm-shrinkwrap.json": shrinkwrap,
        "usr/lib/nodejs/undici/package-lock.json": shrinkwrap,
        "usr/lib/x86_64-linux-gnu/nodejs/bcrypt/yarn.lock":
            b'left-pad@^1.0.0:\n  version "1.3.0"\n',
        # an installed package (global npm install) that published its lockfile
        "usr/local/lib/node_modules/tool/package.json": package_json("tool", "1.0.0"),
        "usr/local/lib/node_modules/tool/pnpm-lock.yaml": shipped_lock.encode(),
        # applications whose node_modules tree is not in the image
        "srv/v5/pnpm-lock.yaml": PNPM_V5.encode(),
        "srv/v6/pnpm-lock.yaml": PNPM_V6.encode(),
        "srv/v9/pnpm-lock.yaml": PNPM_V9.encode(),
    }
    result = scan(files)
    npm = {(p.name, p.version, p.purl(None)) for p in result.packages if p.ecosystem == "npm"}
    assert npm == {
        ("nanoid", "3.3.4", "pkg:npm/nanoid@3.3.4"),
        ("lodash-cli", "4.17.5", "pkg:npm/lodash-cli@4.17.5"),
        ("tool", "1.0.0", "pkg:npm/tool@1.0.0"),
        ("acorn-jsx", "5.3.2", "pkg:npm/acorn-jsx@5.3.2"),
        ("acorn", "8.7.1", "pkg:npm/acorn@8.7.1"),
        ("@babel/core", "7.22.5", "pkg:npm/%40babel/core@7.22.5"),
        ("@typescript-eslint/parser", "6.2.0", "pkg:npm/%40typescript-eslint/parser@6.2.0"),
        ("ms", "2.1.3", "pkg:npm/ms@2.1.3"),
        ("react-dom", "18.2.0", "pkg:npm/react-dom@18.2.0"),
        ("react", "18.2.0", "pkg:npm/react@18.2.0"),
    }
    assert only(result, "acorn-jsx").path == "/srv/v5/pnpm-lock.yaml"


@pytest.mark.parametrize(("key", "expected"), [
    ("/acorn-jsx/5.3.2_acorn@8.7.1", ("acorn-jsx", "5.3.2")),
    ("/@babel/core/7.0.0_2f9dd0c6a4d3", ("@babel/core", "7.0.0")),
    ("/@types/node@20.1.0(typescript@5.0.0)", ("@types/node", "20.1.0")),
    ("/chalk@5.3.0", ("chalk", "5.3.0")),
    ("@scope/x@1.0.0(a@1.0.0)(b@2.0.0)", ("@scope/x", "1.0.0")),
    ("x@file:../y", None), ("registry.example/foo/1.0.0", None), ("@broken", None),
])
def test_pnpm_keys(key: str, expected: tuple[str, str] | None) -> None:
    assert pnpm_key(key) == expected


# ------------------------------------------------------------------------------- java

POM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>{group}</groupId><artifactId>{artifact}</artifactId><version>{version}</version>
  <licenses>
    <license><name>{license}</name><url>https://example.test/license</url></license>
  </licenses>
</project>
"""


def maven_entries(prefix: str, group: str, artifact: str, version: str,
                  license_name: str) -> dict[str, bytes | str]:
    base = f"{prefix}META-INF/maven/{group}/{artifact}/"
    return {base + "pom.properties": f"groupId={group}\nartifactId={artifact}\n"
                                     f"version={version}\n",
            base + "pom.xml": POM_XML.format(group=group, artifact=artifact, version=version,
                                             license=license_name)}


def test_java_names_spring_boot_debian_and_pom_licenses() -> None:
    guava = jar(maven_entries("", "com.google.guava", "guava", "32.1.2-jre",
                              "Apache License, Version 2.0"))
    boot = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
                                        "Main-Class: org.springframework.boot.loader.JarLauncher\n"
                                        "Implementation-Title: Demo Service\n"
                                        "Implementation-Version: 0.0.1-SNAPSHOT\n",
                **maven_entries("BOOT-INF/classes/", "com.example", "demo", "0.0.1-SNAPSHOT",
                                "MIT"),
                "BOOT-INF/lib/guava-32.1.2-jre.jar": guava})
    jrt_fs = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
                                          "Implementation-Title: Java Runtime Environment\n"
                                          "Implementation-Version: 17.0.9\n"
                                          "Implementation-Vendor: Debian\n"})
    jsr305 = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nCreated-By: 17 (Debian)\n"})
    # a nested jar that names no package: its manifest's license is not the outer jar's
    plain = jar({"META-INF/maven/org.example/plain/pom.properties":
                 "groupId=org.example\nartifactId=plain\nversion=1.0\n",
                 "lib/helper.jar": jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"
                                                               "Bundle-License: GPL-3.0\n"})})
    # laid out as Debian's libhamcrest-java, libjna-java and libcommons-io-java ship them
    hamcrest = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nBundle-SymbolicName: "
                                            "org.hamcrest\nImplementation-Title: hamcrest\n"
                                            "Implementation-Version: 2.2\n"})
    jna = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Title: com.sun.jna\n"
                                       "Implementation-Version: 5.13.0 (b0)\n"
                                       "Bundle-SymbolicName: com.sun.jna\n",
               "META-INF/LICENSE": "SPDX-License-Identifier: Apache-2.0 OR LGPL-2.1-or-later\n\n"
                                   "Java Native Access (JNA) is licensed under ...\n"})
    commons_io = jar({**maven_entries("", "commons-io", "commons-io", "2.11.0", "x"),
                      "META-INF/maven/commons-io/commons-io/pom.xml": "<project/>",
                      "META-INF/LICENSE.txt": "\n                                 Apache License\n"
                                              "                           Version 2.0, January 2004"
                                              "\n                        http://www.apache.org/li"
                                              "censes/\n\n   TERMS AND CONDITIONS FOR USE\n"})
    own_words = jar({"META-INF/maven/org.example/own/pom.properties":
                     "groupId=org.example\nartifactId=own\nversion=1.0\n",
                     "META-INF/LICENSE": "Permission is granted to use this for good only.\n"})
    result = scan({"usr/lib/jvm/java-17-openjdk-amd64/lib/jrt-fs.jar": jrt_fs,
                   "usr/share/java/jsr305-0.1~+svn49.jar": jsr305,
                   "usr/share/java/hamcrest-2.2.jar": hamcrest,
                   "usr/share/java/jna-5.13.0.jar": jna,
                   "usr/share/java/commons-io.jar": commons_io,
                   "srv/own.jar": own_words,
                   "srv/app.jar": boot, "srv/plain.jar": plain})
    maven = {p.purl(None) for p in result.packages if p.ecosystem == "maven"}
    assert maven == {"pkg:maven/jrt-fs/jrt-fs@17.0.9",
                     "pkg:maven/jsr305/jsr305@0.1~%2Bsvn49",
                     "pkg:maven/com.example/demo@0.0.1-SNAPSHOT",
                     "pkg:maven/com.google.guava/guava@32.1.2-jre",
                     "pkg:maven/org.example/plain@1.0",
                     "pkg:maven/org.hamcrest/hamcrest@2.2",
                     "pkg:maven/com.sun.jna/jna@5.13.0",
                     "pkg:maven/commons-io/commons-io@2.11.0",
                     "pkg:maven/org.example/own@1.0"}
    assert only(result, "demo").path == "/srv/app.jar"
    assert only(result, "demo").licenses == ["MIT"]
    assert only(result, "guava").licenses == ["Apache License, Version 2.0"]
    assert only(result, "plain").licenses == []
    assert only(result, "jna").licenses == ["Apache-2.0 OR LGPL-2.1-or-later"]
    assert only(result, "commons-io").licenses == ["Apache-2.0"]
    assert only(result, "own").licenses == []  # prose is not guessed at


@pytest.mark.parametrize("hostile", [
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    "<project><licenses><license><name>&b;</name></license></licenses></project>",
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<project><licenses><license><name>&x;</name></license></licenses></project>",
    "<project><licenses><license><name>unclosed",
])
def test_hostile_pom_yields_no_licenses(hostile: str) -> None:
    assert pom_licenses(hostile) == []


def test_every_debian_package_names_its_source_as_dpkg_does(sbom_image: SbomImage) -> None:
    """On the suite's real Debian image: dpkg itself, run in the image, is the ground truth."""
    listing = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "dpkg-query",
         sbom_image.local_tag, "-W", "-f", "${Package} ${Version} ${source:Package} "
         "${source:Version}\\n"], capture_output=True, text=True, check=True).stdout
    expected: dict[str, str | None] = {}
    for line in listing.splitlines():
        name, version, source, source_version = line.split()
        if (source, source_version) == (name, version):
            expected[name] = None  # no Source field: the package is its own source, as in syft
        else:
            expected[name] = source if source_version == version else \
                f"{source}@{source_version}"
    result = scan_image(f"docker-archive:{sbom_image.archive}")
    found = {p.name: p.qualifiers.get("upstream") for p in result.packages
             if p.ecosystem == "deb"}
    assert found == expected
    assert found["libssl3"] == "openssl"
    assert "upstream=glibc" in only(result, "libc6").purl(result.distro)


def test_debian_maven_repo_links_give_the_real_coordinates() -> None:
    """Debian links each jar into /usr/share/maven-repo under the coordinates it stands for."""
    asm = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nBundle-SymbolicName: "
                                       "org.objectweb.asm\nImplementation-Version: 9.4-SNAPSHOT\n"
                                       "Bundle-License: BSD-3-Clause;link=https://asm.ow2.io/\n"})
    junit = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\nImplementation-Title: JUnit\n"
                                         "Implementation-Vendor-Id: junit\n"
                                         "Implementation-Version: 4.13.2\n"})
    jsr = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n"})
    repo = "usr/share/maven-repo"
    up = "../../../../../../java/"
    links = {
        "usr/share/java/asm.jar": "asm-9.4.jar",
        f"{repo}/org/ow2/asm/asm/9.4/asm-9.4.jar": f"{up}asm.jar",  # a chain of two links
        f"{repo}/org/ow2/asm/asm/debian/asm-debian.jar": f"{up}asm.jar",
        # only an alias version: nothing certain to say
        f"{repo}/junit/junit/4.x/junit-4.x.jar": "../../../../java/junit4.jar",
        # two different claims for one jar: left as the jar names itself
        f"{repo}/com/google/code/findbugs/jsr305/0.1-SNAPSHOT/jsr305-0.1-SNAPSHOT.jar":
            "../../../../../../../java/jsr305-0.1-SNAPSHOT.jar",
        f"{repo}/org/jsr-305/jsr305/0.1-SNAPSHOT/jsr305-0.1-SNAPSHOT.jar":
            "/usr/share/java/jsr305-0.1-SNAPSHOT.jar",
    }
    result = scan({"usr/share/java/asm-9.4.jar": asm, "usr/share/java/junit4.jar": junit,
                   "usr/share/java/jsr305-0.1-SNAPSHOT.jar": jsr}, links)
    maven = {p.purl(None): p for p in result.packages if p.ecosystem == "maven"}
    assert set(maven) == {"pkg:maven/org.ow2.asm/asm@9.4", "pkg:maven/junit/JUnit@4.13.2",
                          "pkg:maven/jsr305/jsr305@0.1-SNAPSHOT"}
    asm_package = maven["pkg:maven/org.ow2.asm/asm@9.4"]
    assert asm_package.path == "/usr/share/java/asm-9.4.jar"
    assert asm_package.licenses == ["BSD-3-Clause"]
