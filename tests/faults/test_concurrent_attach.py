"""Concurrent writers: two real ``attest attach`` processes attaching to one digest at once.

The fallback referrers index and the cosign ``.att`` manifest are read-modify-write on a tag,
and the registry has no compare-and-swap, so two writers racing can lose one update: both read
the same list, A's write lands, B's lands later and holds only B's entry. To make the race
happen every round instead of by luck, the fault proxy in front of the real registry holds both
processes' reads of each tag until both have arrived, and slows the first write down a little
(a busy registry), so that the other writer's write lands first and is then overwritten.
Both attestations must end up in both layouts, every round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sigstore.models import ClientTrustConfig

from devstack.faultproxy import Fault
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from oci_attest.sign import sign_statements
from oci_attest.statements import Subject, make_statement
from tests.registry.test_client import push_artifact

pytestmark = pytest.mark.integration
ROUNDS = 3
WRITERS = 2
INDEX_TAG = r"^/v2/race/app/manifests/sha256-[0-9a-f]{64}$"
ATT_TAG = r"^/v2/race/app/manifests/sha256-[0-9a-f]{64}\.att$"


def test_two_attach_processes_at_once_both_land(registry_proxy, sigstore_stack,
                                                sigstore_trust_config, tmp_path):
    client = RegistryClient(registry_proxy.host)
    trust = ClientTrustConfig.from_json(sigstore_trust_config.read_text())
    env = {**os.environ, "ATTEST_RETRY_BASE_DELAY": "0.05"}
    env.pop("ATTEST_ATTACH_SETTLE", None)  # the real default settle delay
    for round_ in range(ROUNDS):
        _, digest = push_artifact(client, "race/app", f"r{round_}",
                                  payload=f"round {round_}".encode())
        ref = parse_reference(f"{registry_proxy.host}/race/app@{digest}")
        subject = Subject(name=ref.name, digest={"sha256": digest.split(":", 1)[1]})
        statements = [(f"w{w}", make_statement([subject], f"https://example.test/w{w}",
                                                {"writer": w})) for w in range(WRITERS)]
        paths = {}
        for item in sign_statements(statements, identity_token=sigstore_stack.mint_token(),
                                    trust_config=trust):
            paths[item.name] = tmp_path / f"r{round_}-{item.name}.sigstore.json"
            paths[item.name].write_bytes(item.bundle_json)
        registry_proxy.clear()
        for tag in (INDEX_TAG, ATT_TAG):
            registry_proxy.add(Fault.gather(WRITERS), tag, method="HEAD", times=WRITERS)
            registry_proxy.add(Fault.delay(0.15), tag, method="PUT", times=1)
        processes = [
            subprocess.Popen([sys.executable, "-m", "oci_attest", "attach", ref.pinned(),
                              str(paths[f"w{w}"])],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for w in range(WRITERS)]
        try:
            for process in processes:
                out, err = process.communicate(timeout=120)
                assert process.returncode == 0, err.decode()
                assert out.decode().strip() == ref.pinned()
        finally:
            registry_proxy.clear()
        found = layouts.discover(client, ref)
        expected = {f"https://example.test/{name}" for name, _ in statements}
        for layout in ("referrer", "cosign-att"):
            got = [f.predicate_type_hint for f in found if f.layout == layout]
            assert sorted(got) == sorted(expected), f"round {round_}: {layout} lost an update"
        index = client.get_manifest(ref.repository, layouts.fallback_tag(digest))
        assert len(json.loads(index.raw)["manifests"]) == WRITERS
