"""``attest promote`` end to end: a verified image moves with its evidence; a failed one stays."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import CYCLONEDX, GITHUB_HOSTED, REPOSITORY, provenance, sbom, statement

pytestmark = pytest.mark.integration


def promote(src: str, dst: str, *args: str):
    return CliRunner().invoke(cli, ["promote", src, dst, *args])


@pytest.fixture()
def flags(signer):
    return [*signer.flags(), "--builder-id", GITHUB_HOSTED, "--source-repo", REPOSITORY]


def _attest(image, signer):
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    image.attach(signer.sign(statement(image.digest, sbom([("x", "pkg:generic/x@1")]),
                                       CYCLONEDX)), CYCLONEDX)


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
    # The copy verifies on its own, with the same policy.
    check = CliRunner().invoke(cli, ["verify", destination, *flags, "--require-sbom"])
    assert check.exit_code == 0, check.output


def test_promote_across_registries_copies_every_platform(make_index, signer, flags,
                                                         second_registry):
    index = make_index("staging/multi")
    _attest(index, signer)
    src_client = index.client
    children = src_client.get_manifest(index.ref.repository, index.digest).manifests()
    # Per-platform evidence travels too.
    from tests.fixtures.verify import Image

    Image(ref=index.ref.with_digest(children[0].digest), client=src_client).attach(
        signer.sign(statement(children[0].digest, provenance())))
    destination = f"{second_registry.host}/prod/multi"
    result = promote(index.pinned, destination, *flags, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["promoted"] == f"{destination}@{index.digest}"
    assert report["copied"]["blobs_streamed"] >= 4 and report["copied"]["blobs_mounted"] == 0
    dst_client = RegistryClient(second_registry.host)
    assert dst_client.get_manifest("prod/multi", index.digest).raw == \
        src_client.get_manifest(index.ref.repository, index.digest).raw
    for child in children:
        assert dst_client.get_manifest("prod/multi", child.digest).digest == child.digest
    platform_ref = parse_reference(f"{destination}@{children[0].digest}")
    assert [f.layout for f in layouts.discover(dst_client, platform_ref)] == ["referrer"]


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
