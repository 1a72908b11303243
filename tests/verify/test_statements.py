"""Reading statements, provenance facts and SBOM components (untrusted input, type-checked)."""

from __future__ import annotations

import json

import pytest

from oci_attest.verify.bundles import ArtifactDigest
from oci_attest.verify.statements import (
    StatementError,
    parse_statement,
    read_provenance,
    registry_matches,
    sbom_components,
)
from tests.fixtures.verify import provenance, sbom, statement

DIGEST = "sha256:" + "12" * 32


def test_subjects_match_by_digest_and_algorithm():
    parsed = parse_statement(statement(DIGEST, provenance()))
    assert parsed.has_subject(ArtifactDigest.parse(DIGEST))
    assert not parsed.has_subject(ArtifactDigest.parse("sha256:" + "34" * 32))
    assert not parsed.has_subject(ArtifactDigest.parse("sha512:" + "12" * 64))


@pytest.mark.parametrize(("payload", "message"), [
    (b"not json", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (json.dumps({"_type": "https://example/x"}).encode(), "unknown statement type"),
    (json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": []}).encode(),
     "no subject"),
    (json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                 "subject": [{"name": "x"}]}).encode(), "without a digest"),
])
def test_malformed_statements(payload, message):
    with pytest.raises(StatementError, match=message):
        parse_statement(payload)


def test_payload_type_must_be_in_toto():
    with pytest.raises(StatementError, match="payload type"):
        parse_statement(statement(DIGEST, provenance()), "text/plain")


def test_attest_provenance_facts():
    facts = read_provenance(parse_statement(statement(DIGEST, provenance(
        dirty=True, base_images=[
            {"uri": "pkg:docker/debian@bookworm?platform=linux%2Famd64",
             "digest": {"sha256": "ef" * 32}, "name": "debian:bookworm"},
            {"uri": "pkg:docker/127.0.0.1%3A5000/base/debian@bookworm",
             "digest": {"sha256": "ef" * 32}, "name": "127.0.0.1:5000/base/debian:bookworm"},
            {"uri": "pkg:docker/ghcr.io/acme/tool@1?repository_url=ghcr.io", "name": "t"}]))))
    assert facts.builder_id == "https://github.com/actions/runner/github-hosted"
    assert facts.dirty is True
    assert {(s.repository, s.ref) for s in facts.sources} == {
        ("https://github.com/acme/app", "refs/heads/main")}
    registries = [(i.registry, i.digest is not None) for i in facts.images]
    assert registries == [("docker.io", True), ("127.0.0.1:5000", True), ("ghcr.io", False)]
    assert facts.runner_environment == "github-hosted"
    assert facts.finished is not None


def test_github_workflow_provenance_and_slsa_v02():
    github = {"buildDefinition": {"externalParameters": {"workflow": {
        "repository": "https://github.com/acme/app", "ref": "refs/tags/v1", "path": "x.yml"}}},
        "runDetails": {"builder": {"id": "b"}}}
    facts = read_provenance(parse_statement(statement(DIGEST, github)))
    assert [(s.repository, s.ref) for s in facts.sources] == [
        ("https://github.com/acme/app", "refs/tags/v1")]
    assert facts.dirty is None
    v02 = {"builder": {"id": "https://builder"}, "invocation": {"configSource": {
        "uri": "git+https://github.com/acme/app@refs/heads/main", "digest": {"sha1": "ab"}}},
        "materials": [{"uri": "pkg:docker/alpine@3.19", "digest": {"sha256": "cd" * 32}}],
        "metadata": {"buildFinishedOn": "2024-01-01T00:00:00Z"}}
    facts = read_provenance(parse_statement(statement(
        DIGEST, v02, "https://slsa.dev/provenance/v0.2")))
    assert facts.builder_id == "https://builder"
    assert facts.sources[0].ref == "refs/heads/main"
    assert facts.images[0].registry == "docker.io"


def test_registry_aliases():
    assert registry_matches("docker.io", "index.docker.io")
    assert registry_matches("registry-1.docker.io", "docker.io")
    assert not registry_matches("ghcr.io", "docker.io")


def test_sbom_components_cyclonedx_nested_and_spdx():
    document = sbom([("a", "pkg:npm/a@1")])
    document["components"][0]["components"] = [{"name": "b", "purl": "pkg:npm/b@2"}]
    cyclonedx = parse_statement(statement(DIGEST, document, "https://cyclonedx.org/bom"))
    assert [c.text for c in sbom_components(cyclonedx)] == ["pkg:npm/a@1", "pkg:npm/b@2"]
    spdx = {"spdxVersion": "SPDX-2.3", "packages": [{"name": "c", "externalRefs": [
        {"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
         "referenceLocator": "pkg:pypi/c@3"}]}]}
    parsed = parse_statement(statement(DIGEST, spdx, "https://spdx.dev/Document"))
    assert [c.text for c in sbom_components(parsed)] == ["pkg:pypi/c@3"]
