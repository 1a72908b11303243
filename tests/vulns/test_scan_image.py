"""`attest scan` on a real image: pip-installed vulnerable packages, a Go binary, Debian
packages, matched against the real OSV exports in ../shared (PyPI, Go) and Debian records
written here. The expected findings are computed from the records by an independent oracle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from packaging.version import InvalidVersion, Version

from tests.fixtures.sbom import _run, reference_image, sbom_cache
from tests.shared_vectors import shared_dir

pytestmark = pytest.mark.integration

#: Old, pure-Python releases with published advisories (wheels from the package index).
OLD_WHEELS = ("django==3.2", "urllib3==1.26.4", "jinja2==2.11.2", "pyjwt==1.7.1")
#: Debian records modelled on DSA-5514-1 (glibc, "Looney Tunables"): one affecting the image's
#: glibc, one fixed before it, one for another release.
DEBIAN_RECORDS = [
    {"id": "DSA-9999-1", "modified": "2024-01-01T00:00:00Z", "aliases": ["CVE-2099-0001"],
     "summary": "glibc: buffer overflow (test record)",
     "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"}],
     "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "2.36-9+deb12u99"}]}]}]},
    {"id": "DSA-9998-1", "modified": "2024-01-01T00:00:00Z",
     "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "2.36-9+deb12u1"}]}]}]},
    {"id": "DSA-9997-1", "modified": "2024-01-01T00:00:00Z",
     "affected": [{"package": {"ecosystem": "Debian:11", "name": "glibc"},
                   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                               {"fixed": "2.99-1"}]}]}]},
]


def attest(*args: str, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.fixture(scope="session")
def osv_exports() -> dict[str, Path]:
    root = shared_dir() / "vulndb" / "osv"
    exports = {name: root / name / "all.zip" for name in ("PyPI", "Go")}
    missing = [str(p) for p in exports.values() if not p.exists()]
    if missing:
        pytest.fail(f"the OSV exports are missing: {missing} (../shared/vulndb)")
    return exports


@pytest.fixture(scope="session")
def vulndb(osv_exports, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("vulndb")
    debian = directory.parent / "debian-records.json"
    debian.write_text(json.dumps(DEBIAN_RECORDS))
    done = attest("vulndb", "import", str(osv_exports["PyPI"]), str(osv_exports["Go"]),
                  str(debian), "--vulndb", str(directory))
    assert done.returncode == 0, done.stderr
    assert "6955 new" in done.stdout.replace("read 6955 records: ", "")
    return directory


@pytest.fixture(scope="session")
def vulnerable_image(docker_engine, registry) -> str:
    base = reference_image("test", progress=lambda _text: None)
    wheels = sbom_cache() / "old-wheels"
    if not wheels.exists():
        partial = Path(tempfile.mkdtemp(dir=sbom_cache(), prefix="old-wheels-"))
        _run([sys.executable, "-m", "pip", "download", "--isolated", "--quiet", "--no-deps",
              "--only-binary=:all:", "-d", str(partial), *OLD_WHEELS])
        partial.rename(wheels)
    with tempfile.TemporaryDirectory() as work:
        context = Path(work)
        shutil.copytree(wheels, context / "wheels")
        (context / "Dockerfile").write_text(
            f"FROM {base}\nCOPY wheels /tmp/wheels\n"
            "RUN /opt/venv/bin/pip install --prefix /opt/old --no-index --no-deps "
            f"--no-cache-dir --find-links /tmp/wheels {' '.join(OLD_WHEELS)} "
            "&& rm -rf /tmp/wheels\n")
        tag = f"{registry.host}/vulns/app:old"
        _run(["docker", "build", "--network", "host", "-q", "-t", tag, str(context)])
        _run(["docker", "push", "-q", tag])
    return tag


def _oracle(vulndb_exports: dict[str, Path], installed: dict[tuple[str, str], str]) -> set[str]:
    """Every PyPI record whose explicit ``versions`` list holds the installed version, and every
    Go record whose SEMVER events include it (ordered by ``packaging``), withdrawn excluded."""
    import zipfile

    expected: set[str] = set()
    for ecosystem, path in vulndb_exports.items():
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                record = json.loads(archive.read(name))
                if record.get("withdrawn"):
                    continue
                for affected in record.get("affected", []):
                    package = affected["package"]
                    key = (package["ecosystem"], package["name"].lower().replace("_", "-"))
                    version = installed.get(key)
                    if version is None:
                        continue
                    if ecosystem == "PyPI" and version in affected.get("versions", []):
                        expected.add(record["id"])
                    if ecosystem == "Go" and _go_affected(affected, version):
                        expected.add(record["id"])
    return expected


def _go_affected(affected: dict, version: str) -> bool:
    target = Version(version)
    for item in affected.get("ranges", []):
        if item["type"] != "SEMVER":
            continue
        state = False
        events = sorted(item["events"], key=lambda e: Version(next(iter(e.values())))
                        if next(iter(e.values())) != "0" else Version("0"))
        for event in events:
            (kind, value), = event.items()
            try:
                bound = Version(value)
            except InvalidVersion:
                return False
            if kind == "introduced" and target >= bound:
                state = True
            elif (kind == "fixed" and target >= bound) or (kind == "last_affected" and target > bound):
                state = False
        if state:
            return True
    return False


def test_scan_finds_what_the_records_say(vulnerable_image, vulndb, osv_exports):
    done = attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    findings = report["findings"]
    go_version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True,
                                check=True).stdout.strip().removeprefix("go")
    installed = {("PyPI", w.split("==")[0]): w.split("==")[1] for w in OLD_WHEELS}
    installed[("Go", "stdlib")] = go_version
    expected = _oracle(osv_exports, installed)
    assert expected, "the oracle found nothing: the test would prove nothing"
    covered = {name for f in findings for name in (f["id"], *f["aliases"])}
    assert expected <= covered  # nothing the records say is missed
    ours = {f["id"] for f in findings if f["purl"].startswith(("pkg:pypi/", "pkg:golang/stdlib"))
            and any(f["purl"].startswith(f"pkg:pypi/{p.split('==')[0]}@")
                    for p in OLD_WHEELS) | f["purl"].startswith("pkg:golang/stdlib")}
    assert ours <= expected  # and nothing they do not say
    glibc = [f for f in findings if f["purl"].startswith("pkg:deb/debian/libc6@")]
    assert [f["id"] for f in glibc] == ["DSA-9999-1"]
    assert glibc[0]["fixed"] == ["2.36-9+deb12u99"] and glibc[0]["severity"] == "high"
    assert all(set(f) >= {"id", "aliases", "purl", "version", "fixed", "severity"}
               for f in findings)


def test_fail_on_vex_ignore_and_sarif(vulnerable_image, vulndb, tmp_path):
    failing = attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--fail-on", "high")
    assert failing.returncode == 1, failing.stderr
    assert "DSA-9999-1" in failing.stdout
    vex = tmp_path / "glibc.openvex.json"
    vex.write_text(json.dumps({
        "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.test/vex/1",
        "author": "security@example.test", "timestamp": "2024-01-01T00:00:00Z", "version": 1,
        "statements": [{"vulnerability": {"name": "CVE-2099-0001"},
                        "products": [{"@id": "pkg:deb/debian/libc6"}],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path"}]}))
    waived = attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--format", "json",
                    "--vex", str(vex))
    glibc = [f for f in json.loads(waived.stdout)["findings"] if f["id"] == "DSA-9999-1"]
    by_package = {f["purl"].split("@", 1)[0]: f["status"] for f in glibc}
    assert by_package["pkg:deb/debian/libc6"] == "not_affected"
    assert by_package["pkg:deb/debian/libc-bin"] == "affected"  # the VEX names libc6 only
    glibc = next(f for f in glibc if f["purl"].startswith("pkg:deb/debian/libc6@"))
    assert glibc["justification"] == "vulnerable_code_not_in_execute_path"
    high = [f for f in json.loads(waived.stdout)["findings"]
            if f["status"] == "affected" and f["severity"] in ("high", "critical")]
    gate = attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--fail-on", "high",
                  "--vex", str(vex), *[a for f in high for a in ("--ignore", f"{f['id']}=test")])
    assert gate.returncode == 0, gate.stdout
    assert attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--ignore",
                  "DSA-9999-1").returncode == 2  # a waiver needs its reason
    sarif = json.loads(attest("scan", vulnerable_image, "--vulndb", str(vulndb), "--format",
                              "sarif").stdout)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert "DSA-9999-1" in rule_ids and all(r["ruleId"] in rule_ids for r in run["results"])


def test_an_sbom_file_gives_the_same_findings(vulnerable_image, vulndb, tmp_path):
    from_image = json.loads(attest("scan", vulnerable_image, "--vulndb", str(vulndb),
                                   "--format", "json").stdout)["findings"]
    for sbom_format in ("cyclonedx-json", "spdx-json"):
        sbom = tmp_path / f"sbom.{sbom_format}"
        made = attest("sbom", vulnerable_image, "-o", f"{sbom_format}={sbom}")
        assert made.returncode == 0, made.stderr
        from_file = json.loads(attest("scan", f"sbom:{sbom}", "--vulndb", str(vulndb),
                                      "--format", "json").stdout)["findings"]
        assert sorted((f["id"], f["purl"]) for f in from_file) == sorted(
            (f["id"], f["purl"]) for f in from_image), sbom_format


def test_no_database_is_a_clear_error(tmp_path):
    done = attest("scan", "sbom:/nonexistent.json", "--vulndb", str(tmp_path / "none"))
    assert done.returncode == 3
    assert "no advisory database" in done.stderr and "attest vulndb import" in done.stderr
