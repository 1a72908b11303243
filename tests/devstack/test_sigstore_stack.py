"""The local Sigstore stack against the real ``sigstore`` client, ``id`` and sigstore-js.

Nothing here is mocked: the client signs over HTTP against the stack's CA, Rekor and TSA, and
the client's own verifier (and, where npm works, sigstore-js) decides whether the result holds.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import id as ambient
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from sigstore import dsse
from sigstore._internal.fulcio.client import FulcioClientError
from sigstore._internal.rekor.client import RekorClient
from sigstore.errors import VerificationError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier
from sigstore.verify.policy import (
    AllOf,
    GitHubWorkflowRef,
    GitHubWorkflowRepository,
    GitHubWorkflowSHA,
    GitHubWorkflowTrigger,
    Identity,
    OIDCBuildConfigURI,
    OIDCBuildSignerURI,
    OIDCBuildTrigger,
    OIDCIssuerV2,
    OIDCRunInvocationURI,
    OIDCRunnerEnvironment,
    OIDCSourceRepositoryDigest,
    OIDCSourceRepositoryOwnerURI,
    OIDCSourceRepositoryRef,
    OIDCSourceRepositoryURI,
    OIDCSourceRepositoryVisibility,
)

from devstack.sigstore import SigstoreStack
from tests.prerequisites import missing

SHA = "c0ffee" * 6 + "c0ff"
GITHUB_IDENTITY = "https://github.com/attest-dev/demo/.github/workflows/build.yml@refs/heads/main"
GITLAB_IDENTITY = "https://gitlab.com/attest-dev/demo//.gitlab-ci.yml@refs/heads/main"


def statement(name: str = "app") -> dsse.Statement:
    return dsse.Statement(json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"buildDefinition": {"buildType": "https://attest.test/t"}}}).encode())


def trust(stack: SigstoreStack, **options: object) -> ClientTrustConfig:
    return ClientTrustConfig.from_json(stack.trust_config_json(**options))


def sign(stack: SigstoreStack, token: str, **options: object) -> Bundle:
    context = SigningContext.from_trust_config(trust(stack, **options))
    with context.signer(IdentityToken(token)) as signer:
        return signer.sign_dsse(statement())


def verify(stack: SigstoreStack, bundle: Bundle, policy: object) -> tuple[str, bytes]:
    verifier = Verifier(trusted_root=trust(stack).trusted_root)
    return verifier.verify_dsse(Bundle.from_json(bundle.to_json()), policy)  # type: ignore[arg-type]


def csr_body(key: ec.EllipticCurvePrivateKey | None = None) -> dict[str, str]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256())
    return {"certificateSigningRequest": base64.b64encode(
        csr.public_bytes(serialization.Encoding.PEM)).decode()}


def post_csr(stack: SigstoreStack, token: str, body: dict[str, str] | None = None
             ) -> requests.Response:
    return requests.post(f"{stack.urls['ca']}/api/v2/signingCert", json=body or csr_body(),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


# -- signing and verifying ------------------------------------------------------------------

@pytest.mark.parametrize(("rekor_version", "tsa"), [(1, True), (1, False), (2, True)])
def test_dsse_round_trip(sigstore_stack: SigstoreStack, rekor_version: int, tsa: bool) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token(), rekor_version=rekor_version,
                  tsa=tsa)
    entry = json.loads(bundle.to_json())["verificationMaterial"]
    assert entry["tlogEntries"][0]["kindVersion"]["kind"] == (
        "dsse" if rekor_version == 1 else "hashedrekord")
    assert bool(entry.get("timestampVerificationData", {}).get("rfc3161Timestamps")) is tsa
    policy = Identity(identity="developer@attest.test", issuer=sigstore_stack.issuer("email"))
    payload_type, payload = verify(sigstore_stack, bundle, policy)
    assert payload_type == "application/vnd.in-toto+json"
    assert json.loads(payload)["subject"][0]["name"] == "app"


@pytest.mark.parametrize("rekor_version", [1, 2])
def test_sign_artifact_hashedrekord(sigstore_stack: SigstoreStack, rekor_version: int) -> None:
    context = SigningContext.from_trust_config(trust(sigstore_stack,
                                                     rekor_version=rekor_version))
    with context.signer(IdentityToken(sigstore_stack.mint_token(alg="ES256"))) as signer:
        bundle = signer.sign_artifact(b"an artifact")
    verifier = Verifier(trusted_root=trust(sigstore_stack).trusted_root)
    policy = Identity(identity="developer@attest.test", issuer=sigstore_stack.issuer())
    verifier.verify_artifact(b"an artifact", bundle, policy)
    with pytest.raises(VerificationError):
        verifier.verify_artifact(b"another artifact", bundle, policy)


def test_github_actions_certificate_extensions(sigstore_stack: SigstoreStack) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token(provider="github"))
    issuer = sigstore_stack.issuer("github")
    assert sigstore_stack.expected_identity("github") == GITHUB_IDENTITY
    run = "https://github.com/attest-dev/demo/actions/runs/4200000001/attempts/1"
    verify(sigstore_stack, bundle, AllOf([
        Identity(identity=GITHUB_IDENTITY, issuer=issuer), OIDCIssuerV2(issuer),
        OIDCSourceRepositoryURI("https://github.com/attest-dev/demo"),
        OIDCSourceRepositoryRef("refs/heads/main"), OIDCSourceRepositoryDigest(SHA),
        OIDCSourceRepositoryOwnerURI("https://github.com/attest-dev"),
        OIDCSourceRepositoryVisibility("public"), OIDCBuildSignerURI(GITHUB_IDENTITY),
        OIDCBuildConfigURI(GITHUB_IDENTITY), OIDCBuildTrigger("push"),
        OIDCRunnerEnvironment("github-hosted"), OIDCRunInvocationURI(run),
        GitHubWorkflowRepository("attest-dev/demo"), GitHubWorkflowRef("refs/heads/main"),
        GitHubWorkflowSHA(SHA), GitHubWorkflowTrigger("push")]))
    with pytest.raises(VerificationError):
        verify(sigstore_stack, bundle, OIDCRunnerEnvironment("self-hosted"))


def test_reusable_workflow_identity_is_the_job_workflow(sigstore_stack: SigstoreStack) -> None:
    builder = "attest-dev/builders/.github/workflows/attest.yml@refs/tags/v1"
    token = sigstore_stack.mint_token(provider="github", claims={
        "repository": "acme/widget", "job_workflow_ref": builder})
    bundle = sign(sigstore_stack, token)
    verify(sigstore_stack, bundle, AllOf([
        Identity(identity=f"https://github.com/{builder}",
                 issuer=sigstore_stack.issuer("github")),
        OIDCSourceRepositoryURI("https://github.com/acme/widget")]))


def test_gitlab_certificate_extensions(sigstore_stack: SigstoreStack) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token(provider="gitlab"))
    assert sigstore_stack.expected_identity("gitlab") == GITLAB_IDENTITY
    verify(sigstore_stack, bundle, AllOf([
        Identity(identity=GITLAB_IDENTITY, issuer=sigstore_stack.issuer("gitlab")),
        OIDCSourceRepositoryURI("https://gitlab.com/attest-dev/demo"),
        OIDCSourceRepositoryRef("refs/heads/main"), OIDCRunnerEnvironment("gitlab-hosted"),
        OIDCRunInvocationURI("https://gitlab.com/attest-dev/demo/-/jobs/800000004")]))


def test_uri_identity_from_sub(sigstore_stack: SigstoreStack) -> None:
    identity = "https://ci.attest.test/pipelines/9"
    bundle = sign(sigstore_stack, sigstore_stack.mint_token(identity, provider="uri"))
    verify(sigstore_stack, bundle, Identity(identity=identity,
                                            issuer=sigstore_stack.issuer("uri")))


@pytest.mark.parametrize(("identity", "provider"), [
    ("someone-else@attest.test", "email"),          # right issuer, wrong SAN
    ("developer@attest.test", "github"),            # right SAN, wrong issuer
])
def test_wrong_identity_fails(sigstore_stack: SigstoreStack, identity: str,
                              provider: str) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token())
    with pytest.raises(VerificationError):
        verify(sigstore_stack, bundle, Identity(identity=identity,
                                                issuer=sigstore_stack.issuer(provider)))


def test_bundle_from_another_trust_root_fails(sigstore_stack: SigstoreStack) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token())
    with SigstoreStack.start() as other:
        verifier = Verifier(trusted_root=trust(other).trusted_root)
        with pytest.raises(VerificationError):
            verifier.verify_dsse(bundle, Identity(identity="developer@attest.test",
                                                  issuer=sigstore_stack.issuer()))


def test_one_signer_one_certificate_for_two_statements(sigstore_stack: SigstoreStack) -> None:
    context = SigningContext.from_trust_config(trust(sigstore_stack))
    with context.signer(IdentityToken(sigstore_stack.mint_token())) as signer:
        first = signer.sign_dsse(statement("provenance"))
        second = signer.sign_dsse(statement("sbom"))
    assert first.signing_certificate == second.signing_certificate
    assert first.log_entry._inner.log_index != second.log_entry._inner.log_index
    policy = Identity(identity="developer@attest.test", issuer=sigstore_stack.issuer())
    for bundle in (first, second):
        verify(sigstore_stack, bundle, policy)


# -- the CA refuses what Fulcio refuses -------------------------------------------------------

def test_ca_rejects_expired_token(sigstore_stack: SigstoreStack) -> None:
    response = post_csr(sigstore_stack, sigstore_stack.mint_token(lifetime=-30))
    assert response.status_code == 400
    assert response.json()["message"] == "There was an error processing the identity token"


def test_ca_rejects_forged_token(sigstore_stack: SigstoreStack) -> None:
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = sigstore_stack.oidc.mint("email", sigstore_stack.claims(), signing_key=forger)
    assert post_csr(sigstore_stack, forged).status_code == 400
    with pytest.raises(FulcioClientError):
        sign(sigstore_stack, forged)


def _unusable_token(stack: SigstoreStack, problem: str) -> str:
    if problem == "audience":
        return stack.oidc.mint("email", stack.claims(), audience="other")
    if problem == "issuer":  # signed with a key the stack trusts, but claims another issuer
        now = int(time.time())
        return jwt.encode({**stack.claims(), "iss": "http://127.0.0.1:9/elsewhere",
                           "aud": "sigstore", "iat": now, "exp": now + 60},
                          stack.oidc._rsa, algorithm="RS256")
    if problem == "unverified-email":
        return stack.mint_token(claims={"email_verified": False})
    return ""


@pytest.mark.parametrize("problem", ["audience", "issuer", "unverified-email", "no-token"])
def test_ca_rejects_unusable_tokens(sigstore_stack: SigstoreStack, problem: str) -> None:
    assert post_csr(sigstore_stack, _unusable_token(sigstore_stack, problem)).status_code == 400


def test_ca_checks_proof_of_possession(sigstore_stack: SigstoreStack) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256())
    tampered = bytearray(csr.public_bytes(serialization.Encoding.DER))
    tampered[-1] ^= 0x01  # the last byte of the ECDSA signature's s value
    pem = x509.load_der_x509_csr(bytes(tampered)).public_bytes(serialization.Encoding.PEM)
    response = post_csr(sigstore_stack, sigstore_stack.mint_token(),
                        {"certificateSigningRequest": base64.b64encode(pem).decode()})
    assert response.status_code == 400
    assert "signature" in response.json()["message"]


def test_leaf_certificate_profile(sigstore_stack: SigstoreStack) -> None:
    response = post_csr(sigstore_stack, sigstore_stack.mint_token(provider="github"))
    assert response.status_code == 201
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    leaf, intermediate, root = (x509.load_pem_x509_certificate(p.encode()) for p in pems)
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds() == 600
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert ExtendedKeyUsageOID.CODE_SIGNING in leaf.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    scts = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps).value
    assert len(scts) == 1
    assert leaf.extensions[-1].oid == ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS
    for ca in (intermediate, root):
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).critical
    assert "NOT FOR PRODUCTION" in root.subject.rfc4514_string()


# -- the transparency log -------------------------------------------------------------------

def test_rekor_rejects_invalid_entries(sigstore_stack: SigstoreStack) -> None:
    url = f"{sigstore_stack.urls['rekor']}/api/v1/log/entries"
    garbage = requests.post(url, json={"kind": "rekord", "apiVersion": "0.0.1", "spec": {}},
                            timeout=10)
    assert garbage.status_code == 400
    assert set(garbage.json()) == {"code", "message"}
    bundle = sign(sigstore_stack, sigstore_stack.mint_token())
    cert = base64.b64encode(bundle.signing_certificate.public_bytes(
        serialization.Encoding.PEM)).decode()
    bad_signature = {"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {
        "signature": {"content": base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode(),
                      "publicKey": {"content": cert}},
        "data": {"hash": {"algorithm": "sha256", "value": "00" * 32}}}}
    response = requests.post(url, json=bad_signature, timeout=10)
    assert response.status_code == 400
    assert "signature" in response.json()["message"]


def test_rekor_duplicate_entry_conflicts(sigstore_stack: SigstoreStack) -> None:
    context = SigningContext.from_trust_config(trust(sigstore_stack))
    with context.signer(IdentityToken(sigstore_stack.mint_token())) as signer:
        bundle = signer.sign_artifact(b"twice")
    proposed = json.loads(bundle.log_entry._inner.canonicalized_body)  # already canonical
    response = requests.post(f"{sigstore_stack.urls['rekor']}/api/v1/log/entries",
                             json=proposed, timeout=10)
    assert response.status_code == 409


def test_rekor_lookups(sigstore_stack: SigstoreStack) -> None:
    sign(sigstore_stack, sigstore_stack.mint_token())
    bundle = sign(sigstore_stack, sigstore_stack.mint_token())
    index = bundle.log_entry._inner.log_index
    client = RekorClient(sigstore_stack.urls["rekor"])
    by_index = client.log.entries.get(log_index=index)
    assert by_index._inner.canonicalized_body == bundle.log_entry._inner.canonicalized_body
    uuid = requests.get(f"{sigstore_stack.urls['rekor']}/api/v1/log/entries",
                        params={"logIndex": index}, timeout=10).json().popitem()[0]
    assert client.log.entries.get(uuid=uuid)._inner.log_index == index
    info = client.log.get()
    assert info.tree_size > index
    assert requests.get(f"{sigstore_stack.urls['rekor']}/api/v1/log/entries/{'0' * 64}",
                        timeout=10).status_code == 404


# -- trust config and ambient credentials ---------------------------------------------------

def test_trust_config_is_labelled_and_v2_requires_tsa(sigstore_stack: SigstoreStack,
                                                     sigstore_trust_config: Path) -> None:
    document = json.loads(sigstore_trust_config.read_text())
    assert "NOT FOR PRODUCTION" in document["signingConfig"]["caUrls"][0]["operator"]
    assert "NOT FOR PRODUCTION" in json.dumps(document["trustedRoot"]["certificateAuthorities"])
    assert all(u["url"].startswith("http://127.0.0.1:")
               for key in ("caUrls", "rekorTlogUrls", "tsaUrls", "oidcUrls")
               for u in document["signingConfig"][key])
    ClientTrustConfig.from_json(sigstore_trust_config.read_text()).signing_config.get_tlogs()
    with pytest.raises(ValueError, match="TSA"):
        sigstore_stack.trust_config(rekor_version=2, tsa=False)


@pytest.fixture()
def clean_ci_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL", "GITLAB_CI",
                 "SIGSTORE_ID_TOKEN", "BUILDKITE", "CIRCLECI", "GOOGLE_SERVICE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_id_detects_github_actions_token(sigstore_stack: SigstoreStack,
                                         clean_ci_env: pytest.MonkeyPatch) -> None:
    env = sigstore_stack.github_actions_env(repository="acme/widget", sha="1" * 40)
    for name, value in env.items():
        clean_ci_env.setenv(name, value)
    token = ambient.detect_credential("sigstore")
    assert token is not None
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == sigstore_stack.issuer("github")
    assert claims["aud"] == "sigstore"
    assert claims["sha"] == env["GITHUB_SHA"] == "1" * 40
    bundle = sign(sigstore_stack, token)
    verify(sigstore_stack, bundle, AllOf([
        Identity(identity=sigstore_stack.expected_identity("github", repository="acme/widget"),
                 issuer=sigstore_stack.issuer("github")),
        OIDCSourceRepositoryURI("https://github.com/acme/widget")]))


def test_github_token_endpoint_needs_the_request_token(sigstore_stack: SigstoreStack) -> None:
    url = sigstore_stack.github_actions_env()["ACTIONS_ID_TOKEN_REQUEST_URL"]
    response = requests.get(f"{url}&audience=sigstore",
                            headers={"Authorization": "bearer nope"}, timeout=10)
    assert response.status_code == 401


def test_id_detects_gitlab_token(sigstore_stack: SigstoreStack,
                                 clean_ci_env: pytest.MonkeyPatch) -> None:
    for name, value in sigstore_stack.gitlab_env().items():
        clean_ci_env.setenv(name, value)
    token = ambient.detect_credential("sigstore")
    assert token is not None
    bundle = sign(sigstore_stack, token)
    verify(sigstore_stack, bundle, Identity(identity=GITLAB_IDENTITY,
                                            issuer=sigstore_stack.issuer("gitlab")))


# -- the CLI and an independent verifier ----------------------------------------------------

def test_cli_serve(tmp_path: Path) -> None:
    trust_config, token_file = tmp_path / "tc.json", tmp_path / "token.txt"
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.sigstore", "serve", "--trust-config-out",
         str(trust_config), "--token-out", str(token_file), "--identity", "demo@attest.test"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(7)]
        assert lines[-1].startswith("serving")
        assert "identity demo@attest.test" in "".join(lines)
        config = ClientTrustConfig.from_json(trust_config.read_text())
        context = SigningContext.from_trust_config(config)
        with context.signer(IdentityToken(token_file.read_text().strip())) as signer:
            bundle = signer.sign_dsse(statement())
        issuer = next(line.split()[1] for line in lines if line.startswith("issuer"))
        Verifier(trusted_root=config.trusted_root).verify_dsse(
            bundle, Identity(identity="demo@attest.test", issuer=issuer))
    finally:
        process.terminate()
        assert process.wait(10) == 0


#: pinned sigstore-js (package.json + package-lock.json), installed there by scripts/setup
INTEROP = Path(__file__).parents[1] / "interop"


@pytest.fixture(scope="session")
def sigstore_js() -> Path:
    if shutil.which("node") is None:
        missing("node is not installed (apt-get install nodejs npm; scripts/setup does)")
    if not (INTEROP / "node_modules" / "@sigstore" / "verify").is_dir():
        missing(f"sigstore-js is not installed in {INTEROP} (scripts/setup runs npm ci there)")
    return INTEROP / "verify.js"


@pytest.mark.slow
@pytest.mark.parametrize(("provider", "rekor_version"), [("email", 1), ("github", 2)])
def test_sigstore_js_accepts_the_bundles(sigstore_stack: SigstoreStack, sigstore_js: Path,
                                         provider: str, rekor_version: int,
                                         tmp_path: Path) -> None:
    bundle = sign(sigstore_stack, sigstore_stack.mint_token(provider=provider),
                  rekor_version=rekor_version)
    (tmp_path / "root.json").write_text(json.dumps(sigstore_stack.trusted_root()))
    (tmp_path / "bundle.json").write_text(bundle.to_json())
    result = subprocess.run(
        ["node", str(sigstore_js), "root.json", "bundle.json",
         sigstore_stack.expected_identity(provider), sigstore_stack.issuer(provider)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "verified", result.stderr
