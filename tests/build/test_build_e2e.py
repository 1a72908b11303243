"""attest build end to end on real parts, read back as another tool would.

Both backends (the docker engine's classic builder and buildah) build examples/hello (its Dockerfile names its base by tag), a real
registry receives the image and both attestations in both layouts, the real sigstore client
signs against the local stack, and the checks below read everything back from the registry and
verify it with sigstore's own Verifier.
"""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy

from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.build.conftest import git_project

pytestmark = pytest.mark.integration

SECRET = "npm_s3cr3tValueThatMustNotLeak0000000000"
IDENTITY = "release-bot@attest.test"


def run_attest(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def verify_bundle(trust_config, bundle_json: bytes, issuer: str):
    trust = ClientTrustConfig.from_json(trust_config.read_text())
    verifier = Verifier(trusted_root=trust.trusted_root)
    bundle = Bundle.from_json(bundle_json)
    payload_type, payload = verifier.verify_dsse(
        bundle, policy.Identity(identity=IDENTITY, issuer=issuer))
    assert payload_type == "application/vnd.in-toto+json"
    return json.loads(payload)


@pytest.fixture(scope="module", params=["docker", "buildah"])
def built(request, registry, debian_base, sigstore_stack, sigstore_trust_config,
          tmp_path_factory):
    backend = request.param
    if backend == "buildah":
        request.getfixturevalue("buildah_root")
    root, commit = git_project("hello", tmp_path_factory.mktemp("e2e"))
    out = tmp_path_factory.mktemp("e2e-out") / "out"
    token = sigstore_stack.mint_token(IDENTITY)
    tag = f"{registry.host}/apps/hello-{backend}:1"
    result = run_attest(
        "build", str(root), "-t", tag, "--network", "host", "--backend", backend,
        "--build-arg", f"BASE={debian_base}", "--build-arg", f"NPM_TOKEN={SECRET}",
        "--trust-config", str(sigstore_trust_config), "--identity-token", token,
        "--output", str(out))
    assert result.exit_code == 0, result.output
    pushed = result.stdout.strip().splitlines()[-1]
    return {"pushed": pushed, "out": out, "commit": commit, "tag": tag, "stderr": result.stderr,
            "issuer": sigstore_stack.issuer(), "backend": backend}


def test_last_line_is_the_pushed_digest(built, registry):
    ref = parse_reference(built["pushed"])
    assert ref.digest and ref.name == f"{registry.host}/apps/hello-{built['backend']}"
    assert RegistryClient(registry.host).resolve(parse_reference(built["tag"])).digest == ref.digest


def test_both_layouts_hold_both_attestations_that_verify(built, registry, sigstore_trust_config):
    ref = parse_reference(built["pushed"])
    client = RegistryClient(registry.host)
    found = layouts.discover(client, ref)
    referrers = [f for f in found if f.layout == "referrer"]
    atts = [f for f in found if f.layout == "cosign-att"]
    assert {f.predicate_type_hint for f in referrers} == {"https://slsa.dev/provenance/v1",
                                                          "https://cyclonedx.org/bom"}
    assert {f.predicate_type_hint for f in atts} == {"https://slsa.dev/provenance/v1",
                                                     "https://cyclonedx.org/bom"}
    statements = {}
    for item in referrers:
        statement = verify_bundle(sigstore_trust_config, item.bundle, built["issuer"])
        assert [s["digest"]["sha256"] for s in statement["subject"]] == [ref.digest.split(":")[1]]
        statements[statement["predicateType"]] = statement
    # The .att envelopes carry exactly the payloads the referrer bundles signed.
    for item in atts:
        payload = base64.b64decode(json.loads(item.envelope)["payload"])
        assert json.loads(payload)["predicateType"] == item.predicate_type_hint
    # One signing certificate for the whole build.
    certs = {json.loads(f.bundle)["verificationMaterial"]["certificate"]["rawBytes"]
             for f in referrers}
    assert len(certs) == 1
    built["statements"] = statements


def test_provenance_describes_the_build_truthfully(built, debian_base, registry):
    client = RegistryClient(registry.host)
    base = client.resolve(parse_reference(debian_base))
    provenance = json.loads((built["out"] / "provenance.intoto.json").read_text())
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    definition = provenance["predicate"]["buildDefinition"]
    deps = definition["resolvedDependencies"]
    source = next(d for d in deps if d.get("name") == "source")
    assert source["digest"] == {"gitCommit": built["commit"]}
    assert source["uri"] == "git+https://github.example.test/acme/hello@refs/heads/main"
    images = [d for d in deps if d["uri"].startswith("pkg:docker/")]
    assert [d["digest"]["sha256"] for d in images] == [base.digest.split(":")[1]]
    assert images[0]["uri"].startswith(f"pkg:docker/{registry.host}/base/debian@bookworm")
    assert definition["externalParameters"]["buildArgs"]["NPM_TOKEN"] == "[REDACTED]"
    assert definition["internalParameters"]["git"]["dirty"] is False
    run = provenance["predicate"]["runDetails"]
    assert run["builder"]["id"].startswith("local://")
    expected = {"docker": ("docker-engine", "docker"), "buildah": ("buildah", "buildah")}
    backend, version_key = expected[built["backend"]]
    assert definition["internalParameters"]["backend"] == backend
    assert version_key in run["builder"]["version"]
    assert run["metadata"]["startedOn"] <= run["metadata"]["finishedOn"]


def test_sbom_lists_the_base_images_debian_packages_and_python(built):
    sbom = json.loads((built["out"] / "sbom.cdx.json").read_text())
    purls = [c.get("purl", "") for c in sbom["components"]]
    assert any(p.startswith("pkg:deb/debian/libc6@") for p in purls)
    assert any(p.startswith("pkg:deb/debian/python3-six@") for p in purls)
    assert any(p.startswith("pkg:pypi/six@") for p in purls)
    statement = json.loads((built["out"] / "sbom.intoto.json").read_text())
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    assert statement["predicate"]["specVersion"] == "1.6"


def test_no_secret_anywhere(built, registry):
    haystack = [p.read_bytes() for p in built["out"].iterdir() if p.is_file()]
    ref = parse_reference(built["pushed"])
    client = RegistryClient(registry.host)
    for item in layouts.discover(client, ref):
        haystack.append(item.bundle or item.envelope or b"")
        payload = json.loads(item.bundle or item.envelope)
        envelope = payload.get("dsseEnvelope", payload)
        haystack.append(base64.b64decode(envelope["payload"]))
    haystack.append(built["stderr"].encode())
    for blob in haystack:
        assert SECRET.encode() not in blob
        assert b"ghs_repotoken123" not in blob
