"""``attest verify`` flags users of gh, cosign and slsa-verifier reach for: --print-statements,
--type shorthands, --source-digest, --owner, oci:// references, whole-value regexps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.fixtures.verify import CYCLONEDX, SLSA, provenance, sbom, statement

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "c0ffee" * 6 + "c0ff"  # the local stack's default GitHub sha claim


def verify(*args: str):
    return CliRunner().invoke(cli, ["verify", *args])


@pytest.fixture()
def attested(make_image, signer):
    image = make_image("flags/app")
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    image.attach(signer.sign(statement(image.digest, sbom([("libssl3", "pkg:deb/debian/l@3")]),
                                       CYCLONEDX)), CYCLONEDX)
    image.attach(signer.sign(statement(image.digest, sbom([("evil", "pkg:npm/evil@1")]),
                                       CYCLONEDX), repository="mallory/app"), CYCLONEDX)
    return image


def test_print_statements_writes_only_verified_statements_as_json_lines(attested, signer):
    result = verify(attested.tagged, *signer.flags(), "--print-statements")
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    # the provenance is attached in two layouts but printed once; mallory's SBOM not at all
    assert sorted(d["predicateType"] for d in documents) == [CYCLONEDX, SLSA]
    assert all(d["subject"][0]["digest"]["sha256"] == attested.digest.split(":")[1]
               for d in documents)
    assert "evil" not in result.stdout
    assert "result: PASS" in result.stderr


def test_type_shorthands_and_an_unknown_one(attested, signer):
    assert verify(attested.tagged, *signer.flags(), "--type", "cyclonedx").exit_code == 0
    assert verify(attested.tagged, *signer.flags(), "--type", "slsaprovenance1").exit_code == 0
    assert verify(attested.tagged, *signer.flags(), "--type", "spdx").exit_code == 1
    result = verify(attested.tagged, *signer.flags(), "--type", "cyclonedxx")
    assert result.exit_code == 2
    assert "unknown --type 'cyclonedxx'" in result.stderr and "slsaprovenance1" in result.stderr


def test_source_digest_is_checked_in_the_certificate_and_in_the_provenance(make_image,
                                                                            signer):
    image = make_image("flags/commit")
    lying = provenance()
    lying["buildDefinition"]["resolvedDependencies"][0]["digest"]["gitCommit"] = "ab" * 20
    image.attach(signer.sign(statement(image.digest, provenance())))
    assert verify(image.tagged, *signer.flags(), "--source-digest", COMMIT).exit_code == 0
    result = verify(image.tagged, *signer.flags(), "--source-digest", "de" * 20,
                    "--format", "json")
    assert result.exit_code == 1
    assert "certificate source commit is" in result.stdout

    other = make_image("flags/commit2")
    other.attach(signer.sign(statement(other.digest, lying)))
    result = verify(other.tagged, *signer.flags(), "--source-digest", COMMIT,
                    "--format", "json")
    assert result.exit_code == 1
    failed = [c for c in json.loads(result.stdout)["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["provenance.source-commit"]
    assert "ab" * 20 in failed[0]["reason"]


def test_owner_trusts_the_organisation_and_nobody_else(attested, signer):
    trust = ["--trust-config", str(signer.trust_config),
             "--certificate-oidc-issuer", signer.issuer]
    result = verify(attested.tagged, *trust, "--owner", "acme", "--require-sbom",
                    "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rejected = [a for a in report["attestations"] if not a["accepted"]]
    assert len(rejected) == 1 and "owner" in rejected[0]["rejection"]  # mallory's
    result = verify(attested.tagged, *trust, "--owner", "acme-evil")
    assert result.exit_code == 1


def test_oci_scheme_is_accepted(attested, signer):
    result = verify(f"oci://{attested.tagged}", *signer.flags())
    assert result.exit_code == 0, result.output


def test_a_prefix_regexp_fails_and_says_the_whole_value_must_match(attested, signer):
    trust = ["--trust-config", str(signer.trust_config),
             "--certificate-oidc-issuer", signer.issuer]
    prefix = "^https://github.com/acme/app/"
    result = verify(attested.tagged, *trust, "--certificate-identity-regexp", prefix,
                    "--format", "json")
    assert result.exit_code == 1
    assert "the whole value must match" in result.stdout
    assert verify(attested.tagged, *trust, "--certificate-identity-regexp",
                  prefix + ".*").exit_code == 0


def test_documented_regexp_examples_can_match():
    """Every --certificate-identity-regexp example in README and --help matches a real SAN."""
    san = "https://github.com/acme/app/.github/workflows/build.yml@refs/heads/main"
    help_text = CliRunner().invoke(cli, ["verify", "--help"]).output
    examples = re.findall(r"--certificate-identity-regexp '([^']+)'",
                          (ROOT / "README.md").read_text() + help_text)
    assert examples
    for example in examples:
        assert re.fullmatch(example, san), example


def test_policy_file_identities_take_owner_and_source_digest(attested, signer, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\nidentities:\n  - issuer: {signer.issuer}\n"
                      f"    owner: acme\n    sourceDigest: {COMMIT}\n"
                      f"trust:\n  trustConfig: {signer.trust_config}\n")
    assert verify(attested.tagged, "--policy", str(policy)).exit_code == 0
    policy.write_text(policy.read_text().replace(COMMIT, "de" * 20))
    result = verify(attested.tagged, "--policy", str(policy), "--format", "json")
    assert result.exit_code == 1 and "certificate source commit is" in result.stdout
