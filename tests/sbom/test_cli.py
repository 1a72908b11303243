"""``attest sbom`` as a user runs it: a real process, real exit codes, stdout kept clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.sbom import SbomImage
from tests.sbom.helpers import debian_base, docker_archive


def attest(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, check=False)


def test_docker_archive_to_stdout_and_file(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [debian_base()], "registry.test/app:2")
    run = attest("sbom", f"docker-archive:{archive}")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["bomFormat"] == "CycloneDX"
    # a saved image has no registry digest: its config ID is never shown as name@sha256:
    assert "registry.test/app (image ID sha256:" in run.stderr
    assert "registry.test/app@sha256:" not in run.stderr
    out = tmp_path / "out" / "sbom.spdx.json"
    run = attest("-q", "sbom", f"docker-archive:{archive}", "-o", f"spdx-json={out}")
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    assert json.loads(out.read_text())["spdxVersion"] == "SPDX-2.3"


@pytest.mark.parametrize(("args", "code", "fragment"), [
    (["sbom", "docker-archive:/nonexistent/image.tar"], 3, "bad input"),
    (["sbom", "oci-layout:/nonexistent"], 3, "not an OCI image layout"),
    (["sbom", "127.0.0.1:1/nothing/here:v1"], 5, "registry error"),
    (["sbom", "dir:/tmp"], 3, "not supported"),
    (["sbom", "x", "--platform", "weird"], 3, "invalid platform"),
])
def test_bad_input_is_one_line_with_its_exit_code(args: list[str], code: int,
                                                  fragment: str) -> None:
    run = attest(*args)
    assert run.returncode == code, run.stderr
    errors = [line for line in run.stderr.splitlines() if " error: " in line
              or line.startswith(("attest: bad input:", "attest: usage:"))]
    assert len(errors) == 1 and fragment in errors[0], run.stderr
    assert run.stderr.rstrip().splitlines()[-1] == errors[0]  # retries may be logged before
    assert "Traceback" not in run.stderr and run.stdout == ""


def test_usage_errors_exit_2() -> None:
    run = attest("sbom", "x", "--format", "xml")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr


def test_help_has_an_example() -> None:
    run = attest("sbom", "--help")
    assert run.returncode == 0
    assert "docker-archive:" in run.stdout and "Examples" in run.stdout


@pytest.mark.integration
def test_registry_archive_and_layout(sbom_image: SbomImage, tmp_path: Path) -> None:
    run = attest("sbom", sbom_image.registry_ref, "-o", f"cyclonedx-json={tmp_path / 'reg.json'}")
    assert run.returncode == 0, run.stderr
    name = sbom_image.registry_ref.rsplit(":", 1)[0]
    assert f"resolved {sbom_image.registry_ref} to {name}@sha256:" in run.stderr
    registry = json.loads((tmp_path / "reg.json").read_text())
    for spec in (f"docker-archive:{sbom_image.archive}", f"oci-layout:{sbom_image.oci_layout}"):
        run = attest("-q", "sbom", spec)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["components"] == registry["components"]
