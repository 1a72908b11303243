"""requirePinnedRemoteInputs: a verifier can refuse builds that downloaded something whose
digest the provenance does not record (ADD <url> without --checksum, ADD <git repo> at a
branch), including downloads brought in by a base image's ONBUILD trigger."""

from __future__ import annotations

from datetime import UTC, datetime

from oci_attest.collect.builder import CiFacts
from oci_attest.collect.remote import RemoteFile
from oci_attest.collect.source import SourceFacts
from oci_attest.provenance import BuildParameters, RunFacts, build_predicate
from oci_attest.statements import SLSA_PROVENANCE_V1, Subject, make_statement
from oci_attest.verify.checks import provenance_checks
from oci_attest.verify.policy import PolicyFlags, ProvenancePolicy, combine, parse_policy
from oci_attest.verify.results import Examined
from oci_attest.verify.statements import parse_statement, read_provenance

PINNED = RemoteFile(url="https://files.example.test/a.tgz", line=3,
                    digest="sha256:" + "c" * 64)
GIT = RemoteFile(url="https://git.example.test/acme/tool", line=4, kind="git",
                 digest="gitCommit:" + "d" * 40)
UNPINNED = RemoteFile(url="http://files.example.test/b.tgz", line=1, kind="http",
                      via="ONBUILD ADD http://files.example.test/b.tgz /b (of base x:1)")


def provenance_of(remote_files):
    source = SourceFacts(repository_url="https://github.example.test/acme/app", commit="a" * 40,
                         ref="refs/heads/main", tag=None, dirty=False)
    predicate = build_predicate(
        source=source, ci=CiFacts(platform="local", builder_id="local://x"),
        params=BuildParameters(context=".", dockerfile="Dockerfile",
                               dockerfile_sha256="e" * 64, tags=["r/x:1"]),
        images=[], remote_files=remote_files,
        run=RunFacts(backend="docker-engine", backend_version={}, started=datetime.now(UTC),
                     finished=datetime.now(UTC)))
    raw = make_statement([Subject(name="r/x", digest={"sha256": "1" * 64})],
                         SLSA_PROVENANCE_V1, predicate)
    return read_provenance(parse_statement(raw))


def judge(remote_files, required=True):
    policy = ProvenancePolicy(require_pinned_remote_inputs=required, signer_consistency=False)
    results = provenance_checks(policy, provenance_of(remote_files),
                                Examined(location="test", layout="file"), datetime.now(UTC))
    return [r for r in results if r.name == "provenance.remote-inputs-pinned"]


def test_an_unpinned_download_fails_the_rule_and_is_named():
    (result,) = judge([PINNED, UNPINNED, GIT])
    assert not result.passed
    assert "http://files.example.test/b.tgz" in result.reason and "ONBUILD" in result.reason


def test_pinned_downloads_pass_and_a_git_input_is_not_a_source_claim():
    (result,) = judge([PINNED, GIT])
    assert result.passed and "(2)" in result.reason
    facts = provenance_of([PINNED, GIT])
    assert [s.repository for s in facts.sources] == ["https://github.example.test/acme/app"] * 2
    assert judge([UNPINNED], required=False) == []


def test_the_rule_is_a_policy_key_and_a_flag():
    document = {"version": 1, "identities": [{"issuer": "https://i", "subject": "s"}],
                "provenance": {"requirePinnedRemoteInputs": True}}
    policy = parse_policy(document, source="p.yaml")
    assert policy.provenance.require_pinned_remote_inputs
    assert policy.to_json()["provenance"]["requirePinnedRemoteInputs"] is True
    flags = PolicyFlags(certificate_identity="s", certificate_oidc_issuer="https://i",
                        require_pinned_remote_inputs=True)
    assert combine(None, flags).provenance.require_pinned_remote_inputs
