"""``attest promote`` end to end: a verified image moves with its evidence; a failed one stays.

The layout-sensitive promotions run against distribution 2.8 (fallback tag) and the referrers
API, and across registries from one kind to the other, both ways.
"""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from devstack.referrers import Options, ReferrersRegistry
from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.services import REGISTRY_KINDS, TEST_PAGE_SIZE, registry_of_kind
from tests.fixtures.verify import CYCLONEDX, GITHUB_HOSTED, REPOSITORY, provenance, sbom, statement

pytestmark = pytest.mark.integration


@pytest.fixture()
def registry(request):
    """The source registry: distribution unless a test asks for ``referrers-api``."""
    return registry_of_kind(request)


@pytest.fixture(scope="module")
def second_referrers_api(second_registry):
    with ReferrersRegistry(f"http://{second_registry.host}",
                           Options(page_size=TEST_PAGE_SIZE)) as api:
        yield api


def has_api(registry) -> bool:
    return isinstance(registry, ReferrersRegistry)


def fallback_tags(client: RegistryClient, repository: str) -> list[str]:
    """The ``sha256-<hex>`` referrers tags of a repository (not cosign's ``.att``)."""
    return [t for t in client.list_tags(repository)
            if t.startswith("sha256-") and not t.endswith(".att")]


def promote(src: str, dst: str, *args: str):
    return CliRunner().invoke(cli, ["promote", src, dst, *args])


@pytest.fixture()
def flags(signer):
    return [*signer.flags(), "--builder-id", GITHUB_HOSTED, "--source-repo", REPOSITORY]


def _attest(image, signer):
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    image.attach(signer.sign(statement(image.digest, sbom([("x", "pkg:generic/x@1")]),
                                       CYCLONEDX)), CYCLONEDX)


@pytest.mark.parametrize("registry", REGISTRY_KINDS, indirect=True)
def test_promote_within_one_registry(make_image, signer, flags, registry):
    image = make_image("staging/app")
    _attest(image, signer)
    destination = f"{registry.host}/prod/app-{uuid.uuid4().hex[:6]}:release"
    result = promote(image.tagged, destination, *flags, "--require-sbom")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{destination.rsplit(':', 1)[0]}@{image.digest}"
    client = RegistryClient(registry.host)
    dst = parse_reference(destination)
    src_manifest = client.get_manifest(image.ref.repository, image.digest)
    dst_manifest = client.get_manifest(dst.repository, "release")
    assert dst_manifest.raw == src_manifest.raw and dst_manifest.digest == image.digest
    found = layouts.discover(client, dst.with_digest(image.digest).without_tag())
    assert sorted(f.layout for f in found) == ["cosign-att", "referrer", "referrer"]
    assert {f.via for f in found if f.via} == \
        {"referrers API" if has_api(registry) else "fallback tag"}
    assert bool(fallback_tags(client, dst.repository)) is not has_api(registry)
    # The copy verifies on its own, with the same policy.
    check = CliRunner().invoke(cli, ["verify", destination, *flags, "--require-sbom"])
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(("registry", "destination_kind"),
                         [("distribution", "referrers-api"), ("referrers-api", "distribution")],
                         indirect=["registry"])
def test_promote_across_registries_copies_every_platform(make_index, signer, flags, request,
                                                         registry, destination_kind):
    """From a registry without the referrers API to one with it, and back: every attestation
    stays findable (through the API, or through the fallback tag promote writes)."""
    second_registry = request.getfixturevalue(
        "second_referrers_api" if destination_kind == "referrers-api" else "second_registry")
    index = make_index("staging/multi")
    _attest(index, signer)
    src_client = index.client
    children = src_client.get_manifest(index.ref.repository, index.digest).manifests()
    # Per-platform evidence travels too.
    from tests.fixtures.verify import Image

    Image(ref=index.ref.with_digest(children[0].digest), client=src_client).attach(
        signer.sign(statement(children[0].digest, provenance())))
    destination = f"{second_registry.host}/prod/multi-{uuid.uuid4().hex[:6]}"
    dst_repository = destination.split("/", 1)[1]
    result = promote(index.pinned, destination, *flags, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["promoted"] == f"{destination}@{index.digest}"
    assert report["copied"]["blobs_streamed"] >= 4 and report["copied"]["blobs_mounted"] == 0
    dst_client = RegistryClient(second_registry.host)
    assert dst_client.get_manifest(dst_repository, index.digest).raw == \
        src_client.get_manifest(index.ref.repository, index.digest).raw
    for child in children:
        assert dst_client.get_manifest(dst_repository, child.digest).digest == child.digest
    platform_ref = parse_reference(f"{destination}@{children[0].digest}")
    via = "referrers API" if has_api(second_registry) else "fallback tag"
    assert [(f.layout, f.via) for f in layouts.discover(dst_client, platform_ref)] == \
        [("referrer", via)]
    top = [f for f in layouts.discover(dst_client, parse_reference(
        f"{destination}@{index.digest}")) if f.layout != "buildkit"]
    assert sorted((f.layout, f.via) for f in top) == \
        [("cosign-att", None), ("referrer", via), ("referrer", via)]
    # With the API, promote leaves the indexing to the registry: no fallback tags.
    assert bool(fallback_tags(dst_client, dst_repository)) is not has_api(second_registry)


def test_promote_large_blob_in_chunks(make_image, signer, flags, second_registry, monkeypatch):
    """Blobs above CHUNK_BYTES cross registries as OCI chunked uploads: the PATCH requests seen
    at a proxy in front of the destination prove it, chunk by chunk."""
    import oci_attest.promote
    from devstack.faultproxy import FaultProxy

    monkeypatch.setattr(oci_attest.promote, "CHUNK_BYTES", 64)  # force the chunked upload path
    image = make_image("staging/chunky")
    _attest(image, signer)
    manifest = image.client.get_manifest(image.ref.repository, image.digest).json
    large = sorted(b["size"] for b in [manifest["config"], *manifest["layers"]] if b["size"] > 64)
    assert large, "the test image needs a blob larger than one chunk"
    with FaultProxy(f"http://{second_registry.host}", name="destination") as proxy:
        result = promote(image.pinned, f"{proxy.host}/prod/chunky", *flags)
        patches = proxy.requests("PATCH", r"^/v2/prod/chunky/blobs/uploads/")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith(image.digest)
    sessions: dict[str, list[tuple[int, int]]] = {}
    for patch in patches:
        assert patch.status == 202
        start, end = (int(n) for n in patch.headers["Content-Range"].split("-"))
        assert int(patch.headers["Content-Length"]) == end - start + 1 <= 64
        sessions.setdefault(patch.path.split("?", 1)[0], []).append((start, end))
    totals = []
    for ranges in sessions.values():  # each upload: contiguous chunks from byte 0
        assert [r[0] for r in ranges] == [0, *(r[1] + 1 for r in ranges[:-1])]
        totals.append(ranges[-1][1] + 1)
    for size in large:
        assert size in totals, f"no chunked upload of a {size}-byte blob"
        totals.remove(size)
    copied = RegistryClient(second_registry.host).get_manifest("prod/chunky", image.digest)
    assert copied.digest == image.digest


def test_promote_refuses_and_copies_nothing(make_image, signer, flags, registry):
    image = make_image("staging/unsigned")
    wrong = signer.sign(statement(image.digest, provenance(source="https://github.com/evil/x")),
                        repository="evil/x")
    image.attach(wrong)
    repository = f"prod/refused-{uuid.uuid4().hex[:6]}"
    result = promote(image.tagged, f"{registry.host}/{repository}:release", *flags)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "refusing to promote" in result.stderr and "nothing was copied" in result.stderr
    assert "not a trusted identity" in result.stderr
    client = RegistryClient(registry.host)
    assert client.list_tags(repository) == []
    assert client.head_manifest(repository, image.digest) is None


def test_promote_leaves_rejected_attestations_behind(make_image, signer, flags, registry):
    """A statement about another image, validly signed by the trusted identity and attached
    to this one, is rejected by verification: it stays behind unless asked for."""
    image = make_image("staging/mixed")
    other = make_image("staging/mixed")
    _attest(image, signer)
    image.attach(signer.sign(statement(other.digest, provenance())), layout="both")
    client = RegistryClient(registry.host)

    repository = f"prod/mixed-{uuid.uuid4().hex[:6]}"
    result = promote(image.tagged, f"{registry.host}/{repository}:release", *flags)
    assert result.exit_code == 0, result.output
    left = [line for line in result.stderr.splitlines()
            if line.startswith("attestation left behind:")]
    assert len(left) == 2 and all("made for another artifact" in line for line in left), left
    copied = [line for line in result.stderr.splitlines()
              if line.startswith("attestation copied:")]
    assert len(copied) == 3, result.stderr
    found = layouts.discover(client, parse_reference(f"{registry.host}/{repository}"
                                                     f"@{image.digest}"))
    assert sorted(f.layout for f in found) == ["cosign-att", "referrer", "referrer"]

    everything = f"prod/mixed-all-{uuid.uuid4().hex[:6]}"
    result = promote(image.tagged, f"{registry.host}/{everything}", *flags,
                     "--copy-all-attestations", "--format", "json")
    assert result.exit_code == 0, result.output
    moved = json.loads(result.stdout)["promotedAttestations"]
    assert moved["leftBehind"] == [] and len(moved["copied"]) == 5
    assert sum("made for another artifact" in c.get("rejection", "")
               for c in moved["copied"]) == 2
    found = layouts.discover(client, parse_reference(f"{registry.host}/{everything}"
                                                     f"@{image.digest}"))
    assert sorted(f.layout for f in found) == ["cosign-att", "cosign-att", "referrer",
                                                "referrer", "referrer"]
