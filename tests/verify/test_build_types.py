"""Provenance for builds done elsewhere says so, and a verifier can insist on attest's own.

``attest provenance --buildx-metadata`` writes the ``artifact-v1`` buildType with every
material recorded as a claim of the builder that made it (buildx's own recorded provenance when
its metadata file carries one); ``attest verify IMAGE`` accepts only attest's image build type
unless the policy lists others.
"""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from oci_attest import buildtypes, provenance
from oci_attest.cli import cli
from oci_attest.verify.policy import PolicyError, parse_policy
from tests.fixtures.verify import provenance as attest_provenance
from tests.fixtures.verify import statement

BUILDX_MATERIAL = {"uri": "pkg:docker/debian@bookworm?platform=linux%2Famd64",
                   "digest": {"sha256": "cd" * 32}}


def attest(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_verifier_and_the_producer_agree_on_the_build_types():
    assert buildtypes.IMAGE == provenance.BUILD_TYPE
    assert buildtypes.ARTIFACT == provenance.ARTIFACT_BUILD_TYPE


def test_empty_build_types_are_refused():
    with pytest.raises(PolicyError, match=r"provenance\.buildTypes: is an empty list"):
        parse_policy({"version": 1, "provenance": {"buildTypes": []}}, source="p.yaml")


def artifact_provenance() -> dict:
    predicate = attest_provenance()
    predicate["buildDefinition"]["buildType"] = buildtypes.ARTIFACT
    return predicate


@pytest.mark.integration
def test_image_provenance_of_another_build_type_fails_by_default(make_image, signer):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, artifact_provenance())))
    result = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags(), "--format",
                                      "json"])
    assert result.exit_code == 1, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"] if c["enforced"]}
    assert checks["provenance.build-type"]["passed"] is False
    assert "by default an image's provenance must come from attest's own build" in \
        checks["provenance.build-type"]["reason"]
    allowed = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags(),
                                       "--build-type", buildtypes.ARTIFACT])
    assert allowed.exit_code == 0, allowed.output
    assert "PASS provenance.build-type" in allowed.stdout


@pytest.mark.integration
def test_attest_build_type_passes_by_default_and_a_listed_one_is_enforced(make_image, signer,
                                                                          tmp_path):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, attest_provenance())))
    result = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags()])
    assert result.exit_code == 0, result.output
    assert "the default for images: attest's own build" in result.stdout
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nprovenance:\n  buildTypes: [{buildtypes.ARTIFACT}]\n")
    narrowed = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags(), "--policy",
                                        str(policy)])
    assert narrowed.exit_code == 1
    assert "FAIL provenance.build-type" in narrowed.stdout


@pytest.mark.integration
def test_bundle_files_have_no_build_type_default(signer, tmp_path):
    digest = "sha256:" + "ab" * 32
    bundle = tmp_path / "b.sigstore.json"
    bundle.write_bytes(signer.sign(statement(digest, artifact_provenance())))
    result = CliRunner().invoke(cli, ["verify", "--bundle", str(bundle), "--digest", digest,
                                      *signer.flags()])
    assert result.exit_code == 0, result.output
    assert "provenance.build-type" not in result.stdout


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("c")
    repo.create_remote("origin", "https://github.example.test/acme/app")
    return root


def metadata_file(tmp_path: Path, image, provenance_document: object | None) -> Path:
    document = {"containerimage.digest": image.digest, "image.name": image.tagged}
    if provenance_document is not None:
        document["buildx.build.provenance"] = provenance_document
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(document))
    return path


def statement_of(tmp_path: Path, image, meta: Path, *extra: object) -> dict:
    out = tmp_path / "out"
    result = attest("provenance", "--buildx-metadata", meta, "-C", checkout(tmp_path),
                    "--no-sign", "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return json.loads((out / "provenance.intoto.json").read_text())


@pytest.mark.integration
@pytest.mark.parametrize("shape", ["v0.2", "v1"])
def test_buildx_materials_are_recorded_as_buildx_claims(make_image, tmp_path, shape):
    image = make_image()
    recorded = ({"builder": {"id": "https://example.test/buildkit"},
                 "buildType": "https://mobyproject.org/buildkit@v1",
                 "materials": [BUILDX_MATERIAL]} if shape == "v0.2" else
                {"buildDefinition": {"buildType": "https://mobyproject.org/buildkit@v1",
                                     "resolvedDependencies": [BUILDX_MATERIAL]},
                 "runDetails": {"builder": {"id": "https://example.test/buildkit"}}})
    document = statement_of(tmp_path, image, metadata_file(tmp_path, image, recorded))
    definition = document["predicate"]["buildDefinition"]
    assert definition["buildType"] == buildtypes.ARTIFACT
    claims = [d for d in definition["resolvedDependencies"] if d.get("name") != "source"
              and not d["uri"].startswith("git+")]
    assert claims == [{**BUILDX_MATERIAL, "annotations": {"claimedBy": "buildx"}}]
    assert definition["internalParameters"]["otherBuilder"] == {
        "tool": "buildx", "builderId": "https://example.test/buildkit",
        "buildType": "https://mobyproject.org/buildkit@v1",
        "recordedIn": "buildx.build.provenance"}
    assert document["subject"][0]["digest"] == {"sha256": image.digest.split(":", 1)[1]}


@pytest.mark.integration
def test_materials_resolved_when_signing_are_marked_as_such(make_image, tmp_path):
    image = make_image()
    document = statement_of(tmp_path, image, metadata_file(tmp_path, image, None),
                            "-f", tmp_path / "src" / "Dockerfile")
    deps = document["predicate"]["buildDefinition"]["resolvedDependencies"]
    dockerfile = next(d for d in deps if d.get("name") == "Dockerfile")
    assert dockerfile["annotations"]["claimedBy"] == provenance.CLAIMED_AT_SIGNING


@pytest.mark.integration
@pytest.mark.parametrize("bad", [
    '{"containerimage.digest": "sha256:x", "image.name": "r/x:1"}',
    '{"containerimage.digest": "sha256:' + "a" * 64 + '", "containerimage.digest": "sha256:'
    + "b" * 64 + '", "image.name": "r/x:1"}',
    '{"containerimage.digest": "sha256:' + "a" * 64 + '", "image.name": "r/x:1", '
    '"buildx.build.provenance": {"materials": [{"uri": 1}]}}',
])
def test_malformed_buildx_metadata_is_an_input_error(tmp_path, bad):
    meta = tmp_path / "meta.json"
    meta.write_text(bad)
    result = attest("provenance", "--buildx-metadata", meta, "-C", checkout(tmp_path),
                    "--no-sign")
    assert result.exit_code == 3, result.output
    assert "is not a usable buildx metadata file" in result.stderr
