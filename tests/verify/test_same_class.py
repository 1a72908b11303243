"""More of the same classes found next to the reported bypasses: keys given twice (policy
files, trusted roots), materials whose spelling hid them from base-image rules, and an SBOM
whose format cannot be read passing a deny rule as "nothing denied"."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.errors import InputError
from oci_attest.statements import ParsedStatement
from oci_attest.verify.checks import check_base_pinned, check_base_registries
from oci_attest.verify.policy import PolicyError, load_policy
from oci_attest.verify.results import Examined
from oci_attest.verify.statements import read_provenance
from oci_attest.verify.trust import parse_trusted_root
from tests.fixtures.verify import CYCLONEDX, provenance, statement

EXAMINED = Examined(location="p", layout="file")


def test_policy_file_with_a_section_given_twice_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nprovenance:\n  builderIds: [https://b]\n"
                    "provenance:\n  requireCleanTree: false\n")
    with pytest.raises(PolicyError, match="key 'provenance' is given twice"):
        load_policy(path)


def test_trusted_root_with_a_key_given_twice_is_refused():
    raw = b'{"mediaType": "x", "tlogs": [], "tlogs": []}'
    with pytest.raises(InputError, match="duplicate JSON key 'tlogs'"):
        parse_trusted_root(raw, source="root")


def provenance_with(uri: str, digest: dict | None = None) -> ParsedStatement:
    predicate = provenance(base_images=[{"uri": uri, "digest": digest or {},
                                         "name": "base"}])
    return ParsedStatement(type="t", subjects=(), predicate_type="https://slsa.dev/provenance/v1",
                           predicate=predicate)


@pytest.mark.parametrize("uri", [
    "pkg:Docker/evil.example/base@1",
    "pkg://docker/evil.example/base@1",
    "pkg:/docker/evil.example/base@1",
    "PKG:docker/evil.example/base@1",
    "pkg:OCI/base@1?repository_url=evil.example/base",
    "pkg:docker/evil.example/base@1?arch",  # does not parse: an image of unknown origin
])
def test_image_materials_in_any_spelling_are_checked(uri):
    facts = read_provenance(provenance_with(uri))
    assert facts.images, uri
    result = check_base_registries(["docker.io"], facts, EXAMINED)
    assert not result.passed, uri
    assert not check_base_pinned(facts, EXAMINED).passed


def test_git_source_prefix_in_capitals_is_still_a_source():
    predicate = provenance()
    predicate["buildDefinition"]["resolvedDependencies"].append(
        {"uri": "GIT+https://github.com/evil/x@refs/heads/main", "digest": {}})
    facts = read_provenance(ParsedStatement(type="t", subjects=(), predicate_type="x",
                                            predicate=predicate))
    assert "https://github.com/evil/x" in {s.repository for s in facts.sources}


@pytest.mark.integration
def test_unreadable_sbom_cannot_pass_a_deny_rule(make_image, signer):
    image = make_image()
    image.attach(signer.sign(statement(image.digest, provenance())))
    image.attach(signer.sign(statement(image.digest, {"bom": {"components": [
        {"purl": "pkg:deb/debian/openssl@3.0.11"}]}}, CYCLONEDX)), CYCLONEDX)
    result = CliRunner().invoke(cli, ["verify", image.pinned, *signer.flags(), "--format",
                                      "json", "--deny-component", "pkg:deb/debian/openssl"])
    assert result.exit_code == 1, result.output
    denied = [c for c in json.loads(result.stdout)["checks"]
              if c["name"] == "sbom.denied-components"]
    assert [c["passed"] for c in denied] == [False]
    assert "neither CycloneDX nor SPDX JSON" in denied[0]["reason"]
