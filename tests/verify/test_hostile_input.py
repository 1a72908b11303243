"""Corrupted bundles end as rejections with a reason, never as crashes (exit 70), and a
tampered bundle is never accepted unless the change touched only what nothing relies on."""

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
from tests.prerequisites import requires
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


def _changed(before, after, prefix=()):
    """Paths where ``after`` differs from ``before`` (a key added or removed counts)."""
    if type(before) is not type(after):
        return [prefix]
    if isinstance(before, dict):
        return [p for key in before.keys() | after.keys()
                for p in ([(*prefix, key)] if key not in before or key not in after
                          else _changed(before[key], after[key], (*prefix, key)))]
    if isinstance(before, list):
        if len(before) != len(after):
            return [prefix]
        return [p for i, (b, a) in enumerate(zip(before, after, strict=True))
                for p in _changed(b, a, (*prefix, i))]
    return [] if before == after else [prefix]


def _get(document, path):
    for key in path:
        try:
            document = document[key]
        except (KeyError, IndexError, TypeError):
            return None
    return document


def _gone(document, path) -> bool:
    return _get(document, path) in (None, "", [], {})


def harmless(original, mutated, path) -> bool:
    """A change a verifier may accept: material that nothing signed and nothing relied on.

    Each case is listed with why; anything else that is accepted is a verifier bug.
    """
    vm = ("verificationMaterial",)
    if path == (*vm, "publicKey", "hint"):
        return True  # only a hint: the key is the one the caller gives
    if path[:2] == ("messageSignature", "messageDigest"):
        # removed: the digest is recomputed from the artifact itself (a wrong one is refused)
        return _gone(mutated, path[:2])
    if path[:2] == (*vm, "timestampVerificationData"):
        # timestamps removed: the signing time then comes from the log entry (integrated time)
        return (_gone(mutated, path[:2])
                or _gone(mutated, (*vm, "timestampVerificationData", "rfc3161Timestamps")))
    if path[:2] == ("dsseEnvelope", "signatures") and path[3:] == ("keyid",):
        return True  # DSSE keyid is an unauthenticated hint (DSSE spec)
    if path[:2] == (*vm, "tlogEntries") and path[3:] == ("inclusionPromise",):
        # promise removed: the inclusion proof and its signed checkpoint still anchor the entry
        return (_gone(mutated, path)
                and not _gone(mutated, (*path[:3], "inclusionProof", "checkpoint")))
    if path[:2] == (*vm, "tlogEntries") and path[3:5] in (("inclusionProof",),
                                                         ("inclusionProof", "checkpoint")):
        # proof or checkpoint removed while the signed inclusion promise stays: what a v0.1
        # bundle may do (from v0.2 on a missing proof is refused)
        return _gone(mutated, path) and not _gone(mutated, (*path[:3], "inclusionPromise"))
    if path[:2] == (*vm, "tlogEntries") and path[3:] == ("integratedTime",):
        # removed: the entry then vouches for no time, and the TSA's timestamps still do
        return _gone(mutated, path) and not _gone(
            mutated, (*vm, "timestampVerificationData", "rfc3161Timestamps"))
    return False


@requires(CASES.is_dir(), f"conformance vectors not found at {CASES}")
@pytest.mark.parametrize("seed", range(4))
def test_mutated_bundles_are_rejected_not_crashed(seed):
    rng = random.Random(seed)
    artifact = ArtifactDigest.of_bytes((CASES / "a.txt").read_bytes())
    accepted = 0
    for _ in range(150):
        case = CASES / rng.choice(SEEDS)
        trust = (load_trust(trusted_root=case / "trusted_root.json")
                 if (case / "trusted_root.json").exists() else load_trust(offline=True))
        key = load_public_key((case / "key.pub").read_bytes()) \
            if (case / "key.pub").exists() else None
        original = json.loads((case / "bundle.sigstore.json").read_text())
        document = copy.deepcopy(original)
        for _ in range(rng.randint(1, 3)):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                mutate(document, rng)
        try:
            verify_bundle(json.dumps(document).encode(), trust, key=key,
                          artifact=None if "intoto" in case.name else artifact)
        except EvidenceRejected as rejected:
            assert rejected.reason
            continue
        tampered = [p for p in _changed(original, document) if not harmless(original, document, p)]
        assert not tampered, f"{case.name}: accepted with {tampered} changed"
        accepted += 1
    assert accepted < 150  # most tampering is refused (the rest touched nothing relied on)
