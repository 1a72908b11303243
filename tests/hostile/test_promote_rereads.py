"""A source registry that answers the second read of an attestation listing differently.

Verification reads the cosign ``.att`` tag and the referrers fallback index once; a hostile
registry (the fault proxy in front of the real one) then serves, on every later read, the same
listings with two statements about *another* image added. Promotion must copy exactly what
verification read, so the destination holds none of the additions.
"""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from devstack.faultproxy import Fault
from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry import media_types as mt
from oci_attest.registry.client import RegistryClient
from tests.fixtures.verify import (
    CYCLONEDX,
    GITHUB_HOSTED,
    REPOSITORY,
    provenance,
    sbom,
    statement,
)

pytestmark = pytest.mark.integration
REPO = "staging/reread"


def _with_more(manifest, extra, field):
    document = json.loads(manifest.raw)
    document[field] = [*document.get(field, []), *json.loads(extra.raw)[field]]
    return json.dumps(document).encode()


def test_promote_never_copies_a_second_answer(registry_proxy, make_image, signer, registry):
    registry_proxy.clear()
    image = make_image(REPO)
    other = make_image(REPO)
    image.attach(signer.sign(statement(image.digest, provenance())), layout="both")
    other.attach(signer.sign(statement(other.digest, provenance())), layout="both")
    other.attach(signer.sign(statement(other.digest, sbom([("x", "pkg:generic/x@1")]),
                                       CYCLONEDX)), CYCLONEDX, layout="both")
    client = RegistryClient(registry.host)
    read = {name: client.get_manifest(REPO, tag(image.digest)) for name, tag in
            (("att", layouts.cosign_att_tag), ("index", layouts.fallback_tag))}
    theirs = {name: client.get_manifest(REPO, tag(other.digest)) for name, tag in
              (("att", layouts.cosign_att_tag), ("index", layouts.fallback_tag))}
    hostile_att = _with_more(read["att"], theirs["att"], "layers")
    hostile_index = _with_more(read["index"], theirs["index"], "manifests")
    hex_part = image.digest.partition(":")[2]
    # First GET of each tag: the truth. Every later one: two more statements about `other`.
    registry_proxy.add(Fault.respond(200, hostile_att, {"Content-Type": read["att"].media_type}),
                       rf"/v2/{REPO}/manifests/sha256-{hex_part}\.att$", method="GET", nth=2,
                       times=None)
    registry_proxy.add(Fault.respond(200, hostile_index, {"Content-Type": mt.OCI_INDEX}),
                       rf"/v2/{REPO}/manifests/sha256-{hex_part}$", method="GET", nth=2,
                       times=None)
    destination = f"prod/reread-{uuid.uuid4().hex[:6]}"
    try:
        result = CliRunner().invoke(cli, [
            "promote", f"{registry_proxy.host}/{REPO}:{image.ref.tag}",
            f"{registry.host}/{destination}:release", *signer.flags(),
            "--builder-id", GITHUB_HOSTED, "--source-repo", REPOSITORY])
    finally:
        registry_proxy.clear()
    assert result.exit_code == 0, result.output
    copied = client.get_manifest(destination, layouts.cosign_att_tag(image.digest))
    assert [layer.digest for layer in copied.layers()] == \
        [layer.digest for layer in read["att"].layers()]
    index = client.get_manifest(destination, layouts.fallback_tag(image.digest))
    assert {d.digest for d in index.manifests()} == {d.digest for d in read["index"].manifests()}
    found = layouts.discover(client, parse_reference(f"{registry.host}/{destination}"
                                                     f"@{image.digest}"))
    assert sorted(f.layout for f in found) == ["cosign-att", "referrer"]
    assert result.stderr.count("attestation copied:") == 2
