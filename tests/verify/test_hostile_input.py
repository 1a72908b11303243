"""Corrupted bundles end as rejections with a reason, never as crashes (exit 70)."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import random

import pytest

from oci_attest.verify.bundles import (
    ArtifactDigest,
    EvidenceRejected,
    load_public_key,
    verify_bundle,
)
from oci_attest.verify.trust import load_trust
from tests.shared_vectors import shared_dir

CASES = shared_dir() / "conformance/sigstore-bundle-verify/bundle-verify"
SEEDS = ["happy-path-v0.1", "happy-path-v0.3", "rekor2-happy-path", "rekor2-dsse-happy-path",
         "intoto-with-custom-trust-root", "managed-key-happy-path"]


def _paths(document, prefix=()):
    yield prefix
    if isinstance(document, dict):
        for key, value in document.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from _paths(value, (*prefix, index))


def mutate(document, rng: random.Random) -> None:
    path = rng.choice(list(_paths(document))[1:])
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = parent[key]
    roll = rng.random()
    if roll < 0.2:
        del parent[key]
    elif roll < 0.4:
        parent[key] = rng.choice([None, 1, -1, "", "x", [], {}, True, "AAAA", 10**30])
    elif roll < 0.8 and isinstance(value, str):
        try:
            raw = bytearray(base64.b64decode(value, validate=True))
        except ValueError:
            parent[key] = value[::-1]
            return
        if raw:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
            parent[key] = base64.b64encode(bytes(raw)).decode()
    else:
        parent[key] = copy.deepcopy(rng.choice([value, [value, value]]))


@pytest.mark.skipif(not CASES.is_dir(), reason=f"conformance vectors not found at {CASES}")
@pytest.mark.parametrize("seed", range(4))
def test_mutated_bundles_are_rejected_not_crashed(seed):
    rng = random.Random(seed)
    artifact = ArtifactDigest.of_bytes((CASES / "a.txt").read_bytes())
    for _ in range(150):
        case = CASES / rng.choice(SEEDS)
        trust = (load_trust(trusted_root=case / "trusted_root.json")
                 if (case / "trusted_root.json").exists() else load_trust(offline=True))
        key = load_public_key((case / "key.pub").read_bytes()) \
            if (case / "key.pub").exists() else None
        document = json.loads((case / "bundle.sigstore.json").read_text())
        for _ in range(rng.randint(1, 3)):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                mutate(document, rng)
        try:
            verify_bundle(json.dumps(document).encode(), trust, key=key,
                          artifact=None if "intoto" in case.name else artifact)
        except EvidenceRejected as rejected:
            assert rejected.reason
