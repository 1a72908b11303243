"""Real SLSA v1 attestations from the public instance (and GitHub's), verified offline.

Every vector sigstore-js accepts must pass here, including the two logged as ``intoto`` 0.0.2
(npm and the SLSA generator), which sigstore-python 4.5 rejects on its own. The identity
cases fail as they must, for the reason that matters.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.prerequisites import requires
from tests.shared_vectors import shared_dir

VECTORS = shared_dir() / "conformance/real-attestations"
GITHUB = "https://token.actions.githubusercontent.com"

pytestmark = requires(VECTORS.is_dir(), f"real attestation vectors not found at {VECTORS} "
                                         "(put the shared vectors beside the clone)")

#: file, subject digest, signer SAN, issuer (from the vectors' README table)
ACCEPTED = [
    ("bcr-rules_lint-v1.3.1-tarball.sigstore.json",
     "sha256:1636f443b01c9ee310ee5834956d0dce374c3d3bf8d4cebc9f6b86f8304b4982",
     "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml@refs/tags/"
     "v7.1.0", GITHUB),
    ("bcr-rules_lint-v1.3.1-MODULE.bazel.sigstore.json",
     "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b",
     "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/"
     "v0.0.1", GITHUB),
    ("gh-reusable-workflow-attest-demo.sigstore.json",
     "sha256:49a3aa6075e0f49f82843e74b5baa614ad2a588e6675612bf108a0a008c5ac25",
     "https://github.com/github/artifact-attestations-workflows/.github/workflows/attest.yml@"
     "09b495c3f12c7881b3cc17209a327792065c1a1d", GITHUB),
    ("gh-custom-issuer-too-legit.sigstore.json",
     "sha256:afa27b44d43b02a9fea41d13cedc2e4016cfcf87c5dbf990e593669aa8ce286d",
     "https://github.com/too-legit/attest/.github/workflows/integration.yml@refs/heads/main",
     f"{GITHUB}/hammer-time"),
    ("npm-sigstore-2.1.0-provenance.sigstore.json",
     "sha512:90f223f992e4c88dd068cd2a5fc57f9d2b30798343dd6e38f29c240e04ba090ef831f84490847c4e82b"
     "9232c78e8a258463b1e55c0f7469f730265008fa6633f",
     "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml@refs/heads/main",
     GITHUB),
    ("slsa-github-generator-delegator-v2.1.0.sigstore.json",
     "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
     "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
     "delegator_generic_slsa3.yml@refs/tags/v2.1.0", GITHUB),
]
WRONG_SIGNER = "bcr-MODULE.bazel-wrong-signer.sigstore.json"
WRONG_SIGNER_SAN = ("https://github.com/loosebazooka/aa-test/.github/workflows/"
                    "malicious_attestation.yaml@refs/heads/main")
MODULE_DIGEST = "sha256:06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b"
PRIVATE = "GITHUB-PRIVATE-attest-demo-0.0.12-whl.sigstore.json"
PRIVATE_ROOT = "GITHUB-PRIVATE-trusted_root.json"
PRIVATE_DIGEST = "sha256:ae57936def59bc4c75edd3a837d89bcefc6d3a5e31d55a6fa7a71624f92c3c3b"
PRIVATE_SAN = "https://github.com/actions/attest-demo/.github/workflows/build-python.yml@refs/heads/main"


def verify(bundle: str, digest: str, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["verify", "--bundle", str(VECTORS / bundle), "--digest",
                                      digest, "--format", "json", *extra])
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code, json.loads(result.stdout)


def identity(san: str, issuer: str) -> list[str]:
    return ["--certificate-identity", san, "--certificate-oidc-issuer", issuer]


def reasons(report: dict) -> str:
    return " | ".join([c["reason"] for c in report["checks"]]
                      + [a["rejection"] or "" for a in report["attestations"]])


@pytest.mark.parametrize(("bundle", "digest", "san", "issuer"), ACCEPTED,
                         ids=[a[0] for a in ACCEPTED])
def test_real_slsa_provenance_verifies_offline(bundle, digest, san, issuer):
    code, report = verify(bundle, digest, *identity(san, issuer), "--offline")
    assert code == 0, reasons(report)
    assert report["attestations"][0]["predicateType"] == "https://slsa.dev/provenance/v1"
    assert report["attestations"][0]["signer"]["subject"] == san


def test_intoto_entries_are_accepted_where_sigstore_python_refuses():
    for bundle in ("npm-sigstore-2.1.0-provenance.sigstore.json",
                   "slsa-github-generator-delegator-v2.1.0.sigstore.json"):
        document = json.loads((VECTORS / bundle).read_text())
        kinds = {e["kindVersion"]["kind"] for e in document["verificationMaterial"]["tlogEntries"]}
        assert kinds == {"intoto"}


def test_sha512_only_subject_needs_the_sha512_digest():
    bundle, _digest, san, issuer = ACCEPTED[4]
    code, report = verify(bundle, "sha256:" + "0" * 64, *identity(san, issuer), "--offline")
    assert code == 1
    assert "not sha256:" in reasons(report)


def test_wrong_signer_fails_against_the_genuine_publisher():
    genuine = ACCEPTED[1][2]
    code, report = verify(WRONG_SIGNER, MODULE_DIGEST, *identity(genuine, GITHUB), "--offline")
    assert code == 1
    assert "loosebazooka/aa-test" in reasons(report)
    assert "not a trusted identity" in reasons(report)


def test_wrong_signer_is_genuinely_signed_but_its_provenance_lies_about_its_source():
    code, report = verify(WRONG_SIGNER, MODULE_DIGEST, *identity(WRONG_SIGNER_SAN, GITHUB),
                          "--offline", "--predicate-type", "any")
    assert code == 0, reasons(report)  # the signature is real ...
    code, report = verify(WRONG_SIGNER, MODULE_DIGEST, *identity(WRONG_SIGNER_SAN, GITHUB),
                          "--offline")
    assert code == 1  # ... but it claims aspect-build/rules_lint, signed for loosebazooka
    failed = [c for c in report["checks"] if c["enforced"] and not c["passed"]]
    assert [c["name"] for c in failed] == ["provenance.source-signer"]
    assert "aspect-build/rules_lint" in failed[0]["reason"]


def test_custom_issuer_fails_against_the_plain_github_issuer():
    bundle, digest, san, _ = ACCEPTED[3]
    code, report = verify(bundle, digest, *identity(san, GITHUB), "--offline")
    assert code == 1
    assert "hammer-time" in reasons(report)
    code, report = verify(bundle, digest, "--certificate-identity", san,
                          "--certificate-oidc-issuer-regexp",
                          r"https://token\.actions\.githubusercontent\.com(/[a-z-]+)?",
                          "--offline")
    assert code == 0, reasons(report)


def test_github_private_instance_passes_with_its_root_and_fails_with_the_public_one():
    code, report = verify(PRIVATE, PRIVATE_DIGEST, *identity(PRIVATE_SAN, GITHUB),
                          "--trusted-root", str(VECTORS / PRIVATE_ROOT), "--offline")
    assert code == 0, reasons(report)
    assert report["attestations"][0]["times"][0]["source"] == "timestamp authority"
    code, report = verify(PRIVATE, PRIVATE_DIGEST, *identity(PRIVATE_SAN, GITHUB), "--offline")
    assert code == 1
    assert "no transparency log entry" in reasons(report)


def test_public_bundles_fail_with_the_github_private_root():
    bundle, digest, san, issuer = ACCEPTED[0]
    code, report = verify(bundle, digest, *identity(san, issuer), "--trusted-root",
                          str(VECTORS / PRIVATE_ROOT))
    assert code == 1
    assert "not in the trusted root" in reasons(report)


def test_provenance_rules_on_real_provenance():
    bundle, digest, san, issuer = ACCEPTED[2]  # malancas/attest-demo via a reusable workflow
    base = [*identity(san, issuer), "--offline"]
    code, report = verify(bundle, digest, *base, "--source-repo", "malancas/attest-demo",
                          "--builder-id", "https://github.com/actions/runner/github-hosted",
                          "--source-ref", "refs/heads/main")
    assert code == 0, reasons(report)
    code, report = verify(bundle, digest, *base, "--builder-id", "https://example.com/builder")
    assert code == 1 and "is not an allowed builder" in reasons(report)
    code, report = verify(bundle, digest, *base, "--source-repo", "acme/other")
    assert code == 1 and "acme/other" in reasons(report)
    code, report = verify(bundle, digest, *base, "--signer-workflow",
                          "github/artifact-attestations-workflows/.github/workflows/attest.yml")
    assert code == 0, reasons(report)
    code, report = verify(bundle, digest, *base, "--require-clean-tree")
    assert code == 1 and "does not record whether the source tree was clean" in reasons(report)
