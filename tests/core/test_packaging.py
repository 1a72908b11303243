"""The distribution: reference documents reachable from the installed package, metadata a
user can trust, and a hash-pinned requirements file for CI installs."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("topic,doc", [("policy", "docs/policy.md"),
                                       ("buildtype", "docs/buildtype.md")])
def test_help_topic_prints_the_document(topic, doc):
    result = subprocess.run([sys.executable, "-m", "oci_attest", "help", topic],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / doc).read_text(encoding="utf-8")


def test_help_lists_topics_and_refuses_an_unknown_one():
    listing = CliRunner().invoke(cli, ["help"])
    assert listing.exit_code == 0
    assert [line.split()[0] for line in listing.output.splitlines()] == ["buildtype", "policy"]
    bad = CliRunner().invoke(cli, ["help", "nope"])
    assert bad.exit_code == 2
    assert "no help topic 'nope'" in bad.stderr and "policy" in bad.stderr
    assert "Traceback" not in bad.output


def test_root_help_names_the_policy_topic():
    assert "attest help policy" in CliRunner().invoke(cli, ["--help"]).output


def test_project_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "oci-attest"
    assert project["license"] == "Apache-2.0"
    assert {"Homepage", "Source", "Issues", "Security"} <= set(project["urls"])
    assert any(c.startswith("Topic :: Security") for c in project["classifiers"])
    assert set(project["scripts"]) == {"attest", "oci-attest"}
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert "Reporting a vulnerability" in (ROOT / "SECURITY.md").read_text()


def test_requirements_file_pins_every_runtime_dependency_with_hashes():
    text = (ROOT / "requirements-ci.txt").read_text()
    header = [line for line in text.splitlines()[:8] if line.startswith("#")]
    assert any("scripts/lock" in line and "--generate-hashes" in line for line in header)
    entries = [line for line in text.splitlines() if line and line[0].isalpha()]
    assert entries, "no requirement lines"
    blocks = text.split("\n")
    for i, line in enumerate(blocks):
        if line and line[0].isalpha():
            assert "==" in line, f"not pinned: {line}"
            assert blocks[i + 1].strip().startswith("--hash=sha256:"), f"no hash: {line}"
    def canonical(name: str) -> str:  # PEP 503: what pip-compile writes
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {canonical(line.split("==")[0].strip()) for line in entries}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        name = dep.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower()
        assert canonical(name) in pinned, f"{name} is not in requirements-ci.txt"
    # no index, mirror or host names leak into the file
    assert "://" not in text and "--index-url" not in text and "--find-links" not in text


@pytest.mark.slow
def test_built_wheel_carries_the_documents_and_license(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next(tmp_path.glob("oci_attest-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("oci_attest/docs/policy.md") == (ROOT / "docs/policy.md").read_bytes()
        assert "oci_attest/docs/buildtype.md" in names
        assert any(n.endswith("licenses/LICENSE") for n in names)
        metadata = archive.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Name: oci-attest" in metadata and "Project-URL: Source" in metadata
