"""`attest inventory add --policy`: the components recorded are the ones of the image's
verified SBOM attestation (signed with the local Sigstore stack), and an image whose evidence
does not verify is not recorded at all."""

from __future__ import annotations

import json

import pytest

from oci_attest.inventory import open_inventory
from tests.fixtures.verify import CYCLONEDX, GITHUB_HOSTED, provenance, sbom, statement
from tests.inventory.conftest import attest

pytestmark = pytest.mark.integration

#: Only in the signed SBOM: the image's layers hold a text file, so these can only come from
#: the attestation.
SIGNED = [("jinja2", "pkg:pypi/jinja2@2.11.2"), ("markupsafe", "pkg:pypi/markupsafe@2.1.5")]


def _policy(tmp_path, signer):
    path = tmp_path / "policy.yaml"
    path.write_text(f"""
version: 1
trust:
  trustConfig: {signer.trust_config}
identities:
  - name: app release workflow
    issuer: {signer.issuer}
    subject: {signer.identity()}
provenance:
  builderIds: [{GITHUB_HOSTED}]
  sourceRepositories: ["github.com/acme/*"]
sbom:
  required: true
""")
    return path


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_add_with_policy_records_the_signed_components(make_image, signer, tmp_path, backend,
                                                       new_location):
    image = make_image("inventory/attested")
    image.attach(signer.sign(statement(image.digest, provenance())))
    image.attach(signer.sign(statement(image.digest, sbom(SIGNED), CYCLONEDX)), CYCLONEDX)
    location = new_location(backend)
    done = attest("inventory", "add", image.tagged, "--policy", str(_policy(tmp_path, signer)),
                  "--inventory", location)
    assert done.returncode == 0, done.stderr
    assert "verified attestation" in done.stdout
    found = json.loads(attest("inventory", "query", "--purl", "pkg:pypi/jinja2", "--inventory",
                              location, "--format", "json").stdout)["images"]
    assert [(i["reference"], i["tags"], [c["purl"] for c in i["components"]]) for i in found] \
        == [(image.pinned, [image.ref.tag], ["pkg:pypi/jinja2@2.11.2"])]


def test_add_with_policy_refuses_evidence_from_another_identity(make_image, signer, tmp_path,
                                                                new_location):
    image = make_image("inventory/forged")
    image.attach(signer.sign(statement(image.digest, provenance(
        source="https://github.com/acme/other")), repository="acme/other"))
    image.attach(signer.sign(statement(image.digest, sbom(SIGNED), CYCLONEDX),
                             repository="acme/other"), CYCLONEDX)
    location = new_location("sqlite")
    done = attest("inventory", "add", image.tagged, "--policy", str(_policy(tmp_path, signer)),
                  "--inventory", location)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    store = open_inventory(location)
    assert store.image_count() == 0
    store.close()
