"""``attest sbom -o`` follows syft: ``-o FORMAT[=FILE]``, repeatable, one read of the image."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from oci_attest.cli import cli
from tests.sbom.helpers import debian_base, docker_archive


def sbom(*args: str):
    return CliRunner().invoke(cli, ["sbom", *args])


def test_two_formats_to_files_and_one_to_stdout(tmp_path: Path) -> None:
    archive = docker_archive(tmp_path / "a.tar", [debian_base()], "registry.test/app:2")
    cdx, spdx = tmp_path / "out" / "app.cdx.json", tmp_path / "app.spdx.json"
    result = sbom(f"docker-archive:{archive}", "-o", f"cyclonedx-json={cdx}",
                  "-o", f"spdx-json={spdx}")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(cdx.read_text())["bomFormat"] == "CycloneDX"
    assert json.loads(spdx.read_text())["spdxVersion"] == "SPDX-2.3"
    result = sbom(f"docker-archive:{archive}", "-o", "spdx-json", "-o", f"cyclonedx-json={cdx}")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["spdxVersion"] == "SPDX-2.3"


def test_a_file_name_or_a_bare_json_is_refused_not_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for value, hint in (("json", "FORMAT one of cyclonedx-json, spdx-json"),
                        ("app.spdx.json", "write -o spdx-json=app.spdx.json"),
                        ("cyclonedx-json=", "-o cyclonedx-json=FILE")):
        result = sbom("docker-archive:/nonexistent.tar", "-o", value)
        assert result.exit_code == 2, (value, result.output)
        assert hint in result.stderr, (value, result.stderr)
    assert list(tmp_path.iterdir()) == []  # no file named "json"
    result = sbom("docker-archive:/nonexistent.tar", "-o", "spdx-json", "-o", "cyclonedx-json")
    assert result.exit_code == 2 and "more than one -o FORMAT goes to stdout" in result.stderr


def test_progress_numbers_layers_as_the_sbom_does(tmp_path: Path) -> None:
    from tests.sbom.helpers import f, layer, package_json

    archive = docker_archive(tmp_path / "b.tar", [
        debian_base(), layer(f("app/node_modules/left-pad/package.json",
                               package_json("left-pad", "1.3.0")))], "registry.test/app:3")
    result = sbom(f"docker-archive:{archive}")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    layers = {p["value"]: p["name"].rsplit(":", 1)[1]
              for p in document["metadata"]["properties"]
              if p["name"].startswith("attest:image:layer:")}
    pad = next(c for c in document["components"] if c["name"] == "left-pad")
    digest = next(p["value"] for p in pad["properties"] if p["name"] == "attest:layer-digest")
    assert layers[digest] == "1"
    assert f"layer 1 ({digest[:19]})" in result.stderr
    assert "layer 2" not in result.stderr
