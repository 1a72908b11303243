"""``attest build --backend buildah`` end to end: a BuildKit-style Dockerfile (cache, secret and
``from=`` bind mounts of a stage and of an external image) built by real buildah, pushed to the
test registry, signed with the local Sigstore stack, and verified with ``attest verify``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import GITHUB_HOSTED

pytestmark = pytest.mark.integration

REPO = "acme/mounts"
SECRET = "tok_buildah_S3cretThatMustNeverLeak_0123456789"
DOCKERFILE = """\
ARG BASE
FROM ${BASE} AS tools
RUN echo tool-from-stage > /tool.txt
FROM ${BASE}
ARG RUN_ID
RUN --mount=type=cache,target=/cache sh -c 'cat /cache/runs > /previous-runs 2>/dev/null; echo "$RUN_ID" >> /cache/runs'
RUN --mount=type=secret,id=token sh -c 'sha256sum /run/secrets/token | cut -c1-64 > /token.sha256'
RUN --mount=type=bind,from=tools,source=/tool.txt,target=/mnt/tool.txt cp /mnt/tool.txt /from-stage
RUN --mount=type=bind,from=${BASE},source=/etc/debian_version,target=/mnt/v cp /mnt/v /from-image
COPY msg.txt /msg.txt
"""


def attest(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def image_files(client: RegistryClient, pinned: str, wanted: set[str]) -> dict[str, bytes]:
    """Files from the pushed image's layers (last layer wins), read from the registry."""
    ref = parse_reference(pinned)
    manifest = client.get_manifest(ref.repository, ref.digest)
    found: dict[str, bytes] = {}
    for layer in manifest.layers():
        blob = client.get_blob(ref.repository, layer.digest)
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as archive:
            for member in archive:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    found[name] = archive.extractfile(member).read()
    return found


def all_blobs(client: RegistryClient, pinned: str) -> list[bytes]:
    ref = parse_reference(pinned)
    manifest = client.get_manifest(ref.repository, ref.digest)
    blobs = [client.get_blob(ref.repository, manifest.config().digest)]
    for layer in manifest.layers():
        raw = client.get_blob(ref.repository, layer.digest)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as archive:
            blobs += [archive.extractfile(m).read() for m in archive if m.isfile()]
    return blobs


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("buildah-project") / "mounts"
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "msg.txt").write_text("hello from buildah\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("mounts")
    repo.create_remote("origin", f"https://github.com/{REPO}.git")
    secret = tmp_path_factory.mktemp("secret") / "token"
    secret.write_text(SECRET)
    return root, secret


@pytest.fixture(scope="module")
def builds(project, buildah_root, registry, debian_base, signer, tmp_path_factory):
    """Two builds of the same project; the second without the layer cache, so its cache
    mount shows what the first left there."""
    root, secret = project
    session = uuid.uuid4().hex  # the cache mount outlives test sessions: mark this one's runs
    env = signer.stack.github_actions_env(repository=REPO, ref="refs/heads/main")
    runs = []
    for number, extra in ((1, []), (2, ["--no-cache"])):
        out = tmp_path_factory.mktemp("buildah-out") / "out"
        result = attest("build", root, "--backend", "buildah", "-t",
                        f"{registry.host}/mounts/app:{number}", "--build-arg",
                        f"BASE={debian_base}", "--build-arg", f"RUN_ID={session}-{number}",
                        "--secret", f"id=token,src={secret}",
                        "--scan-secrets", "--trust-config", signer.trust_config,
                        "-o", out, *extra, env=env)
        assert result.exit_code == 0, result.output
        runs.append({"pushed": result.stdout.strip().splitlines()[-1], "out": out,
                     "stderr": result.stderr, "run_id": f"{session}-{number}"})
    return runs


def test_pushed_digest_is_the_registrys(builds, registry):
    client = RegistryClient(registry.host)
    for number, run in enumerate(builds, start=1):
        ref = parse_reference(run["pushed"])
        tagged = client.resolve(parse_reference(f"{registry.host}/mounts/app:{number}"))
        assert ref.digest == tagged.digest
        summary = json.loads((run["out"] / "summary.json").read_text())
        assert summary["image"] == run["pushed"]


def test_mounts_worked(builds, registry, debian_base):
    client = RegistryClient(registry.host)
    wanted = {"previous-runs", "token.sha256", "from-stage", "from-image", "msg.txt"}
    first = image_files(client, builds[0]["pushed"], wanted)
    second = image_files(client, builds[1]["pushed"], wanted)
    # secret: mounted (its hash was computed inside the build) ...
    assert first["token.sha256"].decode().strip() == hashlib.sha256(SECRET.encode()).hexdigest()
    # bind from a stage and from an external image (pinned like FROM)
    assert first["from-stage"] == b"tool-from-stage\n"
    assert first["from-image"].decode().startswith("12.")
    # cache: the second (uncached) build found what the first left in the cache mount
    # (the cache outlives one session: only this session's markers are asserted)
    assert builds[0]["run_id"].encode() not in first["previous-runs"]
    assert builds[0]["run_id"].encode() in second["previous-runs"].splitlines()


def test_secret_value_is_nowhere(builds, registry):
    client = RegistryClient(registry.host)
    for run in builds:
        haystack = all_blobs(client, run["pushed"])
        haystack += [p.read_bytes() for p in run["out"].iterdir() if p.is_file()]
        for item in layouts.discover(client, parse_reference(run["pushed"])):
            haystack.append(item.bundle or item.envelope or b"")
        haystack.append(run["stderr"].encode())
        assert haystack
        for blob in haystack:
            assert SECRET.encode() not in blob


def test_provenance_records_backend_secret_id_and_pinned_images(builds, debian_base, registry):
    provenance = json.loads((builds[0]["out"] / "provenance.intoto.json").read_text())
    definition = provenance["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["secrets"] == [
        {"id": "token", "mountedBy": ["RUN --mount=type=secret (line 7)"]}]
    assert definition["internalParameters"]["backend"] == "buildah"
    assert definition["internalParameters"]["secretScan"]["clean"] is True
    assert provenance["predicate"]["runDetails"]["builder"]["version"]["buildah"].startswith("1.")
    base = RegistryClient(registry.host).resolve(parse_reference(debian_base))
    images = [d for d in definition["resolvedDependencies"] if d["uri"].startswith("pkg:docker/")]
    assert [d["annotations"]["pinned"] for d in images] == [base.pinned()]
    assert sorted(images[0]["annotations"]["uses"]) == ["FROM (line 2)", "FROM (line 4)",
                                                        "RUN --mount from (line 9)"]


def test_signed_evidence_verifies_against_a_policy(builds, registry, signer, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"""
version: 1
trust:
  trustConfig: {signer.trust_config}
identities:
  - issuer: {signer.issuer}
    signerWorkflow: {REPO}/.github/workflows/build.yml
    sourceRepository: {REPO}
provenance:
  builderIds: [{GITHUB_HOSTED}]
  sourceRepositories: [github.com/{REPO}]
  requireCleanTree: true
  requireSecretScan: true
  baseImages:
    requireDigest: true
sbom:
  required: true
""")
    result = attest("verify", builds[1]["pushed"], "--policy", policy, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["digest"] == builds[1]["pushed"].split("@", 1)[1]
