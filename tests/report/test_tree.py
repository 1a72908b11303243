"""``attest tree``: every layout listed, verified entries with signer and time, the rest
``[unverified]`` with a reason; JSON for machines; hostile annotations cannot drive the
terminal."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry import media_types as mt
from tests.fixtures.verify import CYCLONEDX, provenance, sbom, statement

pytestmark = pytest.mark.integration


def tree(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["tree", *args])
    return result.exit_code, result.stdout


def _add_cosign_sig(image) -> None:
    client, repository = image.client, image.ref.repository
    layer = client.put_blob(repository, b'{"critical":{}}')
    config = client.put_blob(repository, b"{}")
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": config.digest,
                           "size": config.size},
                "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                            "digest": layer.digest, "size": layer.size}]}
    client.put_manifest(repository, image.digest.replace(":", "-") + ".sig",
                        json.dumps(manifest).encode(), mt.OCI_MANIFEST)


def test_tree_lists_every_layout_and_verifies_with_signers(make_index, signer):
    unsigned = statement("sha256:" + "0" * 64, sbom([("x", "pkg:npm/x@1")]), CYCLONEDX)
    image = make_index("tree/multi", buildkit_statement=unsigned)
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    image.attach(signer.sign(statement(image.digest, sbom([("a", "pkg:npm/a@1")]), CYCLONEDX),
                             repository="mallory/app"), CYCLONEDX)
    _add_cosign_sig(image)

    code, text = tree(image.tagged, "--format", "json")
    assert code == 0
    listing = json.loads(text)
    assert listing["digest"] == image.digest
    assert [p["platform"] for p in listing["platforms"]] == ["linux/amd64", "linux/arm64"]
    layouts = sorted(a["layout"] for a in listing["attestations"])
    assert layouts == ["buildkit", "cosign-att", "cosign-sig", "referrer", "referrer"]
    assert not any(a["verified"] for a in listing["attestations"])  # no signer given

    code, text = tree(image.tagged, "--format", "json", *signer.flags())
    assert code == 0
    entries = json.loads(text)["attestations"]
    verified = [a for a in entries if a["verified"]]
    assert sorted(a["layout"] for a in verified) == ["cosign-att", "referrer"]
    assert all(a["signer"].startswith(signer.identity()) and a["signedAt"] for a in verified)
    assert {a["predicateType"] for a in verified} == {"https://slsa.dev/provenance/v1"}
    mallory = next(a for a in entries if a["predicateType"] == CYCLONEDX
                   and a["layout"] == "referrer")
    assert not mallory["verified"] and "mallory/app" in mallory["reason"]

    code, text = tree(image.tagged, *signer.flags())
    assert code == 0
    assert text.startswith(f"📦 {image.ref.without_tag().pinned()}")
    assert text.count("[unverified]") == 3
    assert f"signer: {signer.identity()}" in text
    assert "platform linux/arm64" in text


def test_tree_shows_hostile_annotations_without_control_characters(make_image, signer):
    image = make_image("tree/hostile")
    image.attach(signer.sign(statement(image.digest, provenance())),
                 "https://slsa.dev/provenance/v1\x1b]0;pwned\x07\x1b[2J")
    code, text = tree(image.tagged)
    assert code == 0
    assert "\x1b" not in text and "\x07" not in text
    assert "https://slsa.dev/provenance/v1?]0;pwned??[2J" in text
