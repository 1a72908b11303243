"""Layer numbers agree between the text report, the JSON report and the SBOM: 0-based."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from click.testing import CliRunner

from oci_attest.cli import cli
from tests.secrets.test_scan_images import _layer

TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def test_text_and_json_name_the_same_layer(tmp_path):
    layers = [_layer({"etc/hostname": b"x\n"}), _layer({"app/.env": f"T={TOKEN}\n".encode()})]
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    archive = tmp_path / "two.tar"
    with tarfile.open(archive, "w") as tar:
        entries = {"config.json": config, "manifest.json": json.dumps(
            [{"Config": "config.json", "RepoTags": ["two:1"],
              "Layers": ["l0/layer.tar", "l1/layer.tar"]}]).encode(),
                   "l0/layer.tar": layers[0], "l1/layer.tar": layers[1]}
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    as_json = CliRunner().invoke(cli, ["scan-secrets", f"docker-archive:{archive}",
                                       "--format", "json"])
    [finding] = json.loads(as_json.stdout)["results"]
    assert finding["layer"] == 1
    as_text = CliRunner().invoke(cli, ["scan-secrets", f"docker-archive:{archive}"])
    assert as_text.exit_code == 7
    assert f"(layer {finding['layer']}, " in as_text.output
    # a saved image has no registry digest: its config ID is not written as two@sha256:
    assert "two (image ID sha256:" in as_text.output and "two@sha256:" not in as_text.output
