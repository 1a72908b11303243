""""Clean" means clean: what the scan used to skip, on real images built by the real engine.

Each case plants one secret where the old scanner never looked (a binary file, the end of a
large file, the image config: ``Env``, ``Cmd``, ``Entrypoint``, labels, a ``RUN`` line in the
history, a build argument recorded in the history) or a lone AWS access key id. ``attest build
--scan-secrets`` must stop before pushing, name the place, and never show the value. A scan
that could not read something must never be signed as clean.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.registry.client import RegistryClient
from tests.secrets.planted import ALNUM, UPPER, rand, rsa_pem

pytestmark = pytest.mark.integration


def attest(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def project(root: Path, dockerfile: str, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    for name, data in files.items():
        (root / name).write_bytes(data)
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("scan")
    return root


def _gh() -> str:
    return "gh" + "p_" + rand(ALNUM, 36)


def _cases() -> dict[str, tuple[str, dict[str, bytes], list[str], str, str, str]]:
    """name -> (Dockerfile, files, build args, secret, rule, where it must be reported)."""
    key = rsa_pem()
    body = key.splitlines()[1]
    aws_id = "AK" + "IA" + rand(UPPER, 16)
    tokens = {name: _gh() for name in ("env", "label", "label name", "cmd", "entrypoint", "run")}
    npm = rand(ALNUM, 32)
    filler = b"".join(b"log line %07d: nothing to see here\n" % i for i in range(34_000))
    assert len(filler) > 1_150_000
    return {
        "key after a NUL byte": ("FROM scratch\nCOPY blob.bin /app/blob.bin\n",
                                 {"blob.bin": b"\0" + key.encode()}, [], body, "private-key",
                                 "/app/blob.bin"),
        "key at the end of a large file": ("FROM scratch\nCOPY big.log /var/log/big.log\n",
                                           {"big.log": filler + key.encode()}, [], body,
                                           "private-key", "/var/log/big.log"),
        "lone AWS access key id": ("FROM scratch\nCOPY ids.txt /app/ids.txt\n",
                                   {"ids.txt": f"key_id: {aws_id}\n".encode()}, [], aws_id,
                                   "aws-access-key", "/app/ids.txt"),
        "ENV": (f"FROM scratch\nENV GH_TOKEN={tokens['env']}\nCOPY Dockerfile /\n", {}, [],
                tokens["env"], "github-token", "config.Env[1]"),  # Env[0] is PATH
        "LABEL": (f"FROM scratch\nLABEL deploy.token={tokens['label']}\nCOPY Dockerfile /\n",
                  {}, [], tokens["label"], "github-token", "config.Labels.deploy.token"),
        "LABEL named by a token": (f"FROM scratch\nLABEL {tokens['label name']}=1\n"
                                   "COPY Dockerfile /\n", {}, [], tokens["label name"],
                                   "github-token", "config.Labels.[REDACTED]"),
        "CMD": (f'FROM scratch\nCOPY Dockerfile /\nCMD ["/app", "--token", "{tokens["cmd"]}"]\n',
                {}, [], tokens["cmd"], "github-token", "config.Cmd[2]"),
        "ENTRYPOINT": (f'FROM scratch\nCOPY Dockerfile /\nENTRYPOINT ["/app", '
                       f'"{tokens["entrypoint"]}"]\n', {}, [], tokens["entrypoint"],
                       "github-token", "config.Entrypoint[1]"),
        "RUN line": (f"FROM {{base}}\nRUN true {tokens['run']}\n", {}, [], tokens["run"],
                     "github-token", "history[1].created_by"),
        "build arg in the history": ("FROM {base}\nARG NPM_TOKEN\nRUN true\n", {},
                                     ["--build-arg", f"NPM_TOKEN={npm}"], npm,
                                     "build-arg-in-history", "history[2].created_by"),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_the_scan_finds_what_it_used_to_skip(case, docker_engine, registry, debian_base,
                                             tmp_path):
    dockerfile, files, args, secret, rule, where = CASES[case]
    root = project(tmp_path / "p", dockerfile.format(base=debian_base), files)
    out = tmp_path / "out"
    image = f"{registry.host}/scan/complete:1"
    result = attest("build", root, "-t", image, "--scan-secrets", "--no-sign", "--no-sbom",
                    "-o", out, *args)
    assert result.exit_code == 7, result.output
    assert RegistryClient(registry.host).head_manifest("scan/complete", "1") is None
    report = json.loads((out / "secret-scan.json").read_text())
    places = {(r["rule"], r.get("field") or r.get("path")) for r in report["results"]}
    assert (rule, where) in places, places
    assert report["clean"] is False
    # The standalone command agrees, from the engine's copy of the built image.
    image_id = json.loads((out / "state.json").read_text())["steps"]["build"]["imageId"]
    scanned = attest("scan-secrets", f"docker-daemon:{image_id}", "--format", "json")
    assert scanned.exit_code == 7
    assert (rule, where) in {(r["rule"], r.get("field") or r.get("path"))
                             for r in json.loads(scanned.stdout)["results"]}
    for text in (result.output, scanned.output, *(p.read_text(errors="replace")
                                                  for p in out.glob("*.json"))):
        assert secret not in text


def test_a_scan_that_skipped_something_is_never_signed_clean(docker_engine, registry,
                                                            sigstore_stack,
                                                            sigstore_trust_config, tmp_path):
    # A credentials file too large to parse: its content rules ran, its own rule could not.
    npmrc = b"registry=https://npm.example/\n" + b"# padding\n" * 110_000
    root = project(tmp_path / "p", "FROM scratch\nCOPY npmrc /root/.npmrc\n", {"npmrc": npmrc})
    out = tmp_path / "out"
    result = attest("build", root, "-t", f"{registry.host}/scan/skipped:1", "--scan-secrets",
                    "--no-sbom", "--trust-config", sigstore_trust_config, "--identity-token",
                    sigstore_stack.mint_token("scan@attest.test"), "-o", out)
    assert result.exit_code == 0, result.output
    assert "skipped 1 item" in result.stderr
    statement = json.loads((out / "provenance.intoto.json").read_text())
    scan = statement["predicate"]["buildDefinition"]["internalParameters"]["secretScan"]
    assert scan["clean"] is False and scan["complete"] is False and scan["findings"] == 0
    assert scan["skipped"]["count"] == 1
    assert scan["skipped"]["items"][0]["path"] == "/root/.npmrc"
    assert scan["scanned"]["config"] is True and scan["scanned"]["largeFilesStreamed"] == 1
    # ... and a policy that requires a clean scan refuses it.
    verdict = attest("verify", statement["subject"][0]["name"] + "@sha256:"
                     + statement["subject"][0]["digest"]["sha256"], "--trust-config",
                     sigstore_trust_config, "--certificate-identity", "scan@attest.test",
                     "--certificate-oidc-issuer", sigstore_stack.issuer(),
                     "--require-secret-scan")
    assert verdict.exit_code == 1, verdict.output


def test_a_debian_image_is_scanned_whole_and_clean(docker_engine, debian_base):
    started = time.perf_counter()
    result = attest("scan-secrets", debian_base, "--format", "json")
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["clean"] is True and report["complete"] is True
    assert report["scanned"]["binaryFiles"] > 100 and report["scanned"]["config"] is True
    assert report["scanned"]["bytes"] > 50_000_000
    print(f"debian base: {report['scanned']['bytes']} bytes, "
          f"{report['filesScanned']} files in {elapsed:.1f}s")
