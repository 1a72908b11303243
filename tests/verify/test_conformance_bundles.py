"""The sigstore-conformance bundle-verify vectors, through ``attest verify --bundle``.

Run the way the upstream harness runs them (see ../shared/conformance/sigstore-bundle-verify/
HARNESS.md): ``--key`` when the case has ``key.pub``, else the case's identity and issuer (or
the defaults); the case's ``trusted_root.json`` when present, else the public-good root
embedded in sigstore (offline). Every case runs twice: with the artifact file and with
``sha256:<hex>``. ``_fail`` cases must fail *for the reason their README gives*: the expected
reason of each is pinned below.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.prerequisites import requires
from tests.shared_vectors import shared_dir

VECTORS = shared_dir() / "conformance/sigstore-bundle-verify"
CASES_DIR = VECTORS / "bundle-verify"
DEFAULT_IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-"
                    "beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main")
DEFAULT_ISSUER = "https://token.actions.githubusercontent.com"

#: Why each failing case must fail (a regular expression searched in the reported reason).
#: Cases whose problem is in the verifier's own input (trusted root, key) exit 3, not 1.
EXPECTED_REASONS: dict[str, str] = {
    "bundle-empty-certificate-chain_fail": r"certificate chain is empty",
    "bundle-from-wrong-instance_fail": r"transparency log that is not in the trusted root",
    "bundle-invalid-base64-signature_fail": r"messageSignature\.signature: .*base64",
    "bundle-malformed-json_fail": r"bundle is not valid JSON",
    "bundle-negative-log-index_fail": r"negative log index \(-1\)",
    "bundle-unknown-version_fail": r"unsupported bundle version",
    "bundle-with-root-cert_fail": r"chain contains a root certificate",
    "checkpoint-bad-keyhint_fail": r"signed checkpoint is invalid: .*[Ss]ignature not found "
                                   r"for log ID",
    "checkpoint-wrong-roothash_fail": r"signed checkpoint is invalid: .*root hash",
    "dsse-invalid-sig_fail": r"DSSE envelope signature is invalid",
    "dsse-mismatch-envelope_fail": r"log entry 0 does not match the bundle: its payload hash",
    "dsse-mismatch-sig_fail": r"log entry 0 does not match the bundle: it records a different "
                              r"signature",
    "inclusion-proof-corrupted-hash_fail": r"inclusion proof is not valid for this entry",
    "incorrect-public-key_fail": r"log entry 0 does not match the bundle: it records a "
                                 r"different certificate",
    "integrated-time-in-future_fail": r"signing certificate .* was not valid at the "
                                      r"transparency log time",
    "intoto-expired-certificate_fail": r"signing certificate \(valid 2030.* was not valid at "
                                       r"the transparency log time 2023",
    "intoto-log-entry-mismatch_fail": r"log entry 0 does not match the bundle",
    "intoto-missing-inclusion-proof_fail": r"has no inclusion proof",
    "intoto-set-outside-signing-cert-validity_fail": r"was not valid at the transparency log "
                                                     r"time",
    "intoto-tsa-timestamp-outside-cert-validity_fail": r"was not valid at the timestamp "
                                                       r"authority time",
    "invalid-checkpoint-signature_fail": r"signed checkpoint is invalid: .*invalid signature",
    "invalid-ct-key_fail": r"certificate transparency: the certificate's SCT is not valid",
    "invalid-inclusion-proof_fail": r"inclusion proof is not valid for this entry",
    "managed-key-no-key_fail": r"signed with a managed key .* but no key was given",
    "managed-key-wrong-key_fail": r"key\.pub is not a usable PEM public key",
    "message-digest-mismatch_fail": r"messageDigest does not match the artifact",
    "rekor2-checkpoint-missing-log-signature_fail": r"signed checkpoint is invalid: .*at least "
                                                    r"one signature",
    "rekor2-checkpoint-missing-origin_fail": r"signed checkpoint is invalid: .*header",
    "rekor2-checkpoint-missing-root-hash_fail": r"signed checkpoint is invalid: .*header",
    "rekor2-checkpoint-missing-size_fail": r"signed checkpoint is invalid: .*header",
    "rekor2-checkpoint-no-matching-signature_fail": r"signed checkpoint is invalid: .*invalid "
                                                    r"signature",
    "rekor2-dsse-invalid-sig_fail": r"DSSE envelope signature is invalid",
    "rekor2-dsse-mismatch-envelope_fail": r"does not match the bundle: its digest is not that "
                                          r"of the DSSE envelope's PAE",
    "rekor2-dsse-mismatch-sig_fail": r"does not match the bundle: it records a different "
                                     r"signature",
    "rekor2-no-inclusion-proof_fail": r"has no inclusion proof",
    "rekor2-no-timestamp_fail": r"no verified signing time",
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": r"outside the authority's validity "
                                                             r"in the trusted root",
    "rekor2-timestamp-outside-tsa-cert-validity_fail": r"TSA certificate chain: certificate has "
                                                       r"expired",
    "rekor2-timestamp-payload-mismatch_fail": r"does not cover this bundle's signature",
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": r"from a timestamp authority that "
                                                              r"is not in the trusted root "
                                                              r"\(.*freetsa",
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": r"not issued by a timestamp "
                                                                 r"authority in the trusted "
                                                                 r"root",
    "rekor2-timestamp-with-incorrect-time_fail": r"was not valid at the timestamp authority "
                                                 r"time",
    "set-invalid-signature_fail": r"signed entry timestamp \(inclusion promise\) is invalid",
    "signature-mismatch_fail": r"signature is invalid for the artifact",
    "trust-root-tlog-missing-validity-start_fail": r"tlogs\.1\.publicKey\.validFor\.start: "
                                                   r"required field is missing",
    "wrong-hashedrekord-artifact_fail": r"does not match the bundle: it records the artifact "
                                        r"digest",
    "wrong-hashedrekord-cert-and-sig_fail": r"does not match the bundle: it records a "
                                            r"different",
    "wrong-hashedrekord-entry_fail": r"does not match the bundle: it records the artifact "
                                     r"digest",
    "wrong-material_fail": r"messageDigest does not match the artifact",
}
BAD_INPUT = {"managed-key-wrong-key_fail", "trust-root-tlog-missing-validity-start_fail"}


def _cases() -> list[str]:
    if not CASES_DIR.is_dir():
        return ["vectors-missing"]  # one test that fails (CI) or skips, not an empty set
    return sorted(p.name for p in CASES_DIR.iterdir() if p.is_dir())


pytestmark = requires(CASES_DIR.is_dir(), f"conformance vectors not found at {CASES_DIR} "
                                           "(put the shared vectors beside the clone)")


def run_case(name: str, mode: str) -> tuple[int, str]:
    case = CASES_DIR / name
    artifact = case / "artifact" if (case / "artifact").exists() else CASES_DIR / "a.txt"
    args = ["verify", "--bundle", str(case / "bundle.sigstore.json"), "--predicate-type", "any",
            "--offline", "--format", "json"]
    if (case / "key.pub").exists():
        args += ["--key", str(case / "key.pub")]
    else:
        identity = (case / "identity").read_text().strip() if (case / "identity").exists() \
            else DEFAULT_IDENTITY
        issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() \
            else DEFAULT_ISSUER
        args += ["--certificate-identity", identity, "--certificate-oidc-issuer", issuer]
    if (case / "trusted_root.json").exists():
        args += ["--trusted-root", str(case / "trusted_root.json")]
    if mode == "artifact":
        args += ["--artifact", str(artifact)]
    else:
        args += ["--digest", "sha256:" + hashlib.sha256(artifact.read_bytes()).hexdigest()]
    result = CliRunner().invoke(cli, args)
    reason = result.stderr
    if result.stdout.strip():
        report = json.loads(result.stdout)
        reason += " ".join(a["rejection"] or "" for a in report["attestations"])
    return result.exit_code, reason


@pytest.mark.parametrize("mode", ["artifact", "digest"])
@pytest.mark.parametrize("name", _cases())
def test_conformance_case(name: str, mode: str) -> None:
    code, reason = run_case(name, mode)
    if not name.endswith("_fail"):
        assert code == 0, f"{name} must verify: {reason}"
        return
    assert code == (3 if name in BAD_INPUT else 1), f"{name} exit {code}: {reason}"
    expected = EXPECTED_REASONS.get(name)
    assert expected is not None, f"new failing vector {name}: pin its expected reason here"
    assert re.search(expected, reason), f"{name} failed for another reason: {reason}"


def test_every_pinned_reason_names_an_existing_case() -> None:
    assert set(EXPECTED_REASONS) <= set(_cases())


def test_score_beats_the_reference_client() -> None:
    """The harness counts the reference client (sigstore 4.5.1) at 65/70; we get all right."""
    right = 0
    for name in _cases():
        code, _ = run_case(name, "digest")
        right += (code == 0) != name.endswith("_fail")
    assert right == len(_cases())
