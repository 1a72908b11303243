"""Verification latency per image: median over N runs, warm and cold, on real local parts.

Starts a registry and the local Sigstore stack on 127.0.0.1, pushes small images, signs SLSA
provenance and a CycloneDX SBOM for each with the real ``sigstore`` client, attaches them in the
layouts ``attest build`` uses, then times ``attest verify``:

* **warm**: in one process that has verified before (trust root parsed, modules imported):
  what the admission webhook and a promotion loop see;
* **cold**: a new ``python -m oci_attest verify`` process per run (interpreter start, imports,
  trust root parse included): what one CI step sees.

Every timed run must pass; the table is printed as markdown.

    /work/venv/bin/python bench/verify_bench.py [--runs 20] [--cold-runs 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sigstore.models import ClientTrustConfig  # noqa: E402

from devstack import services  # noqa: E402
from devstack.sigstore import SigstoreStack  # noqa: E402
from oci_attest.reference import parse_reference  # noqa: E402
from oci_attest.registry import layouts  # noqa: E402
from oci_attest.registry import media_types as mt  # noqa: E402
from oci_attest.registry.client import RegistryClient  # noqa: E402
from oci_attest.sign import sign_statements  # noqa: E402
from oci_attest.statements import Subject, make_statement  # noqa: E402
from oci_attest.verify import trust as trust_module  # noqa: E402
from oci_attest.verify.image import verify_image  # noqa: E402
from oci_attest.verify.policy import PolicyFlags, combine  # noqa: E402

SLSA = "https://slsa.dev/provenance/v1"
CYCLONEDX = "https://cyclonedx.org/bom"
REPOSITORY = "acme/app"
BUILDER = "https://github.com/actions/runner/github-hosted"


def push_image(client: RegistryClient, repository: str, tag: str, size: int) -> str:
    """A minimal single-layer OCI image (a tar with one file of ``size`` bytes)."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = (tag.encode() * (size // max(len(tag), 1) + 1))[:size]
        info = tarfile.TarInfo("payload.bin")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    layer = client.put_blob(repository, buffer.getvalue())
    config = client.put_blob(repository, json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest]}}).encode())
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG, "digest": config.digest,
                           "size": config.size},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": layer.digest, "size": layer.size}]}
    digest, _ = client.put_manifest(repository, tag, json.dumps(manifest).encode(),
                                    mt.OCI_MANIFEST)
    return digest


def predicate(components: int) -> tuple[dict[str, object], dict[str, object]]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    source = f"git+https://github.com/{REPOSITORY}@refs/heads/main"
    provenance = {
        "buildDefinition": {
            "buildType": "https://github.com/attest-build/attest/blob/main/docs/buildtype.md#v1",
            "externalParameters": {"source": source},
            "internalParameters": {"git": {"dirty": False},
                                   "ci": {"runnerEnvironment": "github-hosted"}},
            "resolvedDependencies": [
                {"uri": source, "digest": {"gitCommit": "c0ffee" * 6 + "c0ff"}},
                {"uri": "pkg:docker/debian@bookworm?platform=linux%2Famd64",
                 "digest": {"sha256": "ab" * 32}, "name": "debian:bookworm"}]},
        "runDetails": {"builder": {"id": BUILDER},
                       "metadata": {"startedOn": now, "finishedOn": now}},
    }
    bom = {"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": [
        {"type": "library", "name": f"lib{i}", "purl": f"pkg:deb/debian/lib{i}@1.{i}-1"}
        for i in range(components)]}
    return provenance, bom


def prepare(stack: SigstoreStack, registry: services.Registry, name: str, *,
            components: int, layouts_used: str, size: int, tag: str = "v1") -> str:
    client = RegistryClient(registry.host)
    repository = f"bench/{name}"
    digest = push_image(client, repository, tag, size)  # the tag seeds the content
    provenance, bom = predicate(components)
    algorithm, _, hexdigest = digest.partition(":")
    subject = [Subject(name="image", digest={algorithm: hexdigest})]
    token = stack.mint_token(provider="github", claims={"repository": REPOSITORY})
    config = ClientTrustConfig.from_json(stack.trust_config_json())
    signed = list(sign_statements([
        ("provenance", make_statement(subject, SLSA, provenance)),
        ("sbom", make_statement(subject, CYCLONEDX, bom))],
        identity_token=token, trust_config=config))
    ref = parse_reference(f"{registry.host}/{repository}@{digest}")
    for item, kind in zip(signed, (SLSA, CYCLONEDX), strict=True):
        if layouts_used in ("referrers", "both"):
            layouts.attach_referrer(client, ref, item.bundle_json, kind)
        if layouts_used in ("cosign", "both"):
            layouts.attach_cosign_att(client, ref, item.bundle_json, kind)
    return f"{registry.host}/{repository}:{tag}"


def flags(stack: SigstoreStack, trust_config: Path) -> list[str]:
    return ["--trust-config", str(trust_config),
            "--certificate-identity", stack.expected_identity("github", repository=REPOSITORY),
            "--certificate-oidc-issuer", stack.issuer("github"),
            "--builder-id", BUILDER, "--source-repo", REPOSITORY, "--require-clean-tree",
            "--require-sbom", "--deny-component", "pkg:deb/debian/openssl@vers:deb/<3.0.15"]


def policy_from(arguments: list[str]):
    values = dict(zip(arguments[0::2], arguments[1::2], strict=False))
    return combine(None, PolicyFlags(
        trust_config=Path(values["--trust-config"]),
        certificate_identity=values["--certificate-identity"],
        certificate_oidc_issuer=values["--certificate-oidc-issuer"],
        builder_ids=(BUILDER,), source_repo=REPOSITORY, require_clean_tree=True,
        require_sbom=True, deny_components=("pkg:deb/debian/openssl@vers:deb/<3.0.15",)))


def time_warm(image: str, arguments: list[str], runs: int) -> list[float]:
    policy = policy_from(arguments)
    result = verify_image(image, policy)  # warm-up: imports, trust root, connections
    assert result.verdict.passed, [c.reason for c in result.verdict.failures]
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = verify_image(image, policy)
        samples.append(time.perf_counter() - start)
        assert result.verdict.passed
    return samples


def time_cold(image: str, arguments: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        trust_module.clear_cache()
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "oci_attest", "verify", image, *arguments],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"cold verification failed ({done.returncode}):\n{done.stdout}"
                             f"\n{done.stderr}")
    return samples


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.0f}"


def p90(samples: list[float]) -> str:
    ordered = sorted(samples)
    return f"{ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))] * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="warm runs per image")
    parser.add_argument("--cold-runs", type=int, default=10, help="cold runs per image")
    options = parser.parse_args()
    scenarios = [
        ("referrers", "referrers: provenance + SBOM (50 components)", 50, "referrers", 4096),
        ("both", "referrers + cosign .att: 4 attestations", 50, "both", 4096),
        ("cosign", "cosign .att only: provenance + SBOM", 50, "cosign", 4096),
        ("big-sbom", "referrers: provenance + SBOM (5,000 components)", 5000, "referrers",
         4096),
    ]
    with tempfile.TemporaryDirectory() as scratch, SigstoreStack.start() as stack, \
            services.running_registry(Path(scratch) / "registry") as registry:
        trust_config = stack.write_trust_config(Path(scratch) / "trust-config.json")
        arguments = flags(stack, trust_config)
        rows = []
        for name, label, components, layout, size in scenarios:
            image = prepare(stack, registry, name, components=components,
                            layouts_used=layout, size=size)
            warm = time_warm(image, arguments, options.runs)
            cold = time_cold(image, arguments, options.cold_runs)
            attestations = {"referrers": 2, "both": 4, "cosign": 2}[layout]
            rows.append((label, attestations, ms(warm), p90(warm), ms(cold), p90(cold)))
        environment = services.environment_summary()
    print(f"attest verify latency per image (local registry {environment.get('registry')}, "
          f"local Sigstore stack, Python {environment.get('python')}; warm n={options.runs}, "
          f"cold n={options.cold_runs})\n")
    print("| image | attestations | warm median ms | warm p90 ms | cold median ms | "
          "cold p90 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


if __name__ == "__main__":
    main()
