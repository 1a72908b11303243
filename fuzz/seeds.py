"""Seed inputs per target, so the fuzzer starts from real shapes instead of from nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

_STATEMENT = {"_type": "https://in-toto.io/Statement/v1", "predicateType": "https://slsa.dev/p",
              "subject": [{"name": "x", "digest": {"sha256": "a" * 64}}], "predicate": {"a": 1}}
_DESCRIPTOR = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
               "digest": "sha256:" + "a" * 64, "size": 10, "annotations": {"k": "v"},
               "artifactType": "application/x", "platform": {"os": "linux"}}


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("etc/os-release", b"ID=debian\n"), ("a/" + "b" * 120, b"long")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("l")
        link.type = tarfile.SYMTYPE
        link.linkname = "../x"
        tar.addfile(link)
    return buffer.getvalue()


SEEDS: dict[str, list[bytes]] = {
    "reference": [b"alpine", b"127.0.0.1:5000/a/b:1@sha256:" + b"a" * 64, b"[::1]:5/x",
                  b"docker.io/library/debian:12"],
    "statement": [json.dumps(_STATEMENT).encode(), b"{}", b"[]"],
    "manifest": [json.dumps({"schemaVersion": 2, "config": _DESCRIPTOR, "layers": [_DESCRIPTOR],
                             "manifests": [_DESCRIPTOR]}).encode()],
    "bundle": [json.dumps({"dsseEnvelope": {"payload": base64.b64encode(b"{}").decode(),
                                            "payloadType": "t", "signatures": [{"sig": "AA=="}]},
                           "verificationMaterial": {"certificate": {"rawBytes": "AAAA"},
                                                    "tlogEntries": [{
                                                        "integratedTime": "1700000000",
                                                        "logIndex": "1",
                                                        "logId": {"keyId": "AA=="},
                                                        "inclusionPromise": {
                                                            "signedEntryTimestamp": "AA=="},
                                                        "canonicalizedBody": "AA=="}]}}).encode()],
    "dockerfile": [b"ARG B=alpine\nFROM ${B}:3 AS build\nCOPY --from=busybox /a /b\n"
                   b"RUN --mount=type=bind,from=x:1,target=/m true\nADD https://e.x/f /f\n"
                   b"FROM build\nRUN <<EOF\necho\nEOF\n"],
    "secrets": [b"root/.npmrc\0//r/:_authToken=abc\n", b"x\0-----BEGIN PRIVATE KEY-----\nAA\n",
                b"root/.kube/config\0apiVersion: v1\nkind: Config\n  token: abc\n",
                b"root/.docker/config.json\0{\"auths\":{\"r\":{\"auth\":\"eA==\"}}}"],
    "layer-tar": [_tar()],
}


def write_seeds(name: str, corpus: Path) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS.get(name, []):
        path = corpus / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}"
        if not path.exists():
            path.write_bytes(seed)
