"""A registry (or a proxy in front of it) whose HEAD answer names another image than the tag's.

The attack: ``app:release`` points at an unsigned image, and HEAD says its digest is that of a
different, properly signed one. A tool that trusts HEAD judges (and promotes, and scans) the
signed image while the tag a deployment pulls by GET is the unsigned one. attest resolves tags
by GET and hashes the body, so the lie is never consulted.
"""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from devstack.faultproxy import Fault
from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import GITHUB_HOSTED, REPOSITORY, provenance, statement

pytestmark = pytest.mark.integration


@pytest.fixture()
def lying_head(registry_proxy, make_image, signer):
    """``(proxy, signed, unsigned, tag)``: HEAD of the tag names ``signed``; GET serves
    ``unsigned`` (the tag's real target in the registry)."""
    registry_proxy.clear()
    signed = make_image("hostile/head")
    signed.attach(signer.sign(statement(signed.digest, provenance())), layout="both")
    unsigned = make_image("hostile/head")
    tag = unsigned.ref.tag
    assert tag is not None
    registry_proxy.add(Fault.respond(200, b"", {"Docker-Content-Digest": signed.digest,
                                                "Content-Type": mt.DOCKER_MANIFEST}),
                       rf"/v2/hostile/head/manifests/{tag}$", method="HEAD", times=None)
    yield registry_proxy, signed, unsigned, tag
    registry_proxy.clear()


def _flags(signer):
    return [*signer.flags(), "--builder-id", GITHUB_HOSTED, "--source-repo", REPOSITORY]


def test_resolve_hashes_the_body_not_the_head_answer(lying_head):
    proxy, signed, unsigned, tag = lying_head
    client = RegistryClient(proxy.host)
    assert client.head_manifest("hostile/head", tag).digest == signed.digest  # the lie
    resolved = client.resolve(parse_reference(f"{proxy.host}/hostile/head:{tag}"))
    assert resolved.digest == unsigned.digest


def test_verify_judges_the_image_the_tag_really_names(lying_head, signer):
    proxy, signed, unsigned, tag = lying_head
    result = CliRunner().invoke(cli, ["verify", f"{proxy.host}/hostile/head:{tag}",
                                      *_flags(signer)])
    assert result.exit_code == 1, result.output
    assert unsigned.digest in result.output and signed.digest not in result.output


def test_promote_copies_the_image_the_tag_really_names(lying_head, signer):
    proxy, _signed, _unsigned, tag = lying_head
    repository = f"prod/head-{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(cli, ["promote", f"{proxy.host}/hostile/head:{tag}",
                                      f"{proxy.host}/{repository}:release", *_flags(signer)])
    assert result.exit_code == 1, result.output  # the real target is unsigned: refused
    assert RegistryClient(proxy.host).list_tags(repository) == []


@pytest.mark.parametrize("command", ["sbom", "scan-secrets"])
def test_sbom_and_secret_scan_read_the_image_the_tag_really_names(lying_head, command):
    proxy, signed, unsigned, tag = lying_head
    result = CliRunner().invoke(cli, [command, f"{proxy.host}/hostile/head:{tag}"])
    assert result.exit_code == 0, result.output
    assert unsigned.digest in result.output and signed.digest not in result.output
