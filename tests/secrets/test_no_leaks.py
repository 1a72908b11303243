"""A secret given to ``attest build`` in any way appears in no output and no file of the run.

Each run is a real ``python -m oci_attest`` process (so logging is configured exactly as for a
user, not captured by pytest) against the real engine and registry. A made-up secret is planted
in every input a build takes: build args (by secret name, by ``--redact``, by credential shape,
from the environment), labels (by secret name and by ``--redact``), the environment, the git
remote URL, an ``ADD`` URL (user info and a token query parameter), the docker config's
registry credentials and the identity token. Then stdout,
stderr and every file of the output directory are searched for each value, on every way a
build can fail and on a successful signed run, with and without ``--debug``.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import git
import pytest

from tests.secrets.planted import ALNUM, rand

pytestmark = pytest.mark.integration


@dataclass
class Planted:
    values: dict[str, str]
    args: list[str]
    env: dict[str, str]


def _plant(tmp_path: Path, registry_host: str) -> Planted:
    values = {
        "build-arg by name": rand(ALNUM, 30),
        "build-arg by --redact": rand(ALNUM, 30),
        "build-arg by shape": "gh" + "p_" + rand(ALNUM, 36),
        "build-arg from env": rand(ALNUM, 30),
        "label by name": rand(ALNUM, 30),
        "label by --redact": rand(ALNUM, 30),
        "env": rand(ALNUM, 30),
        "remote URL": rand(ALNUM, 30),
        "docker config password": rand(ALNUM, 30),
    }
    auth = base64.b64encode(f"robot:{values['docker config password']}".encode()).decode()
    values["docker config auth"] = auth
    docker_config = tmp_path / "docker-config"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(json.dumps(
        {"auths": {registry_host: {"auth": auth}}}))
    args = ["--build-arg", f"NPM_TOKEN={values['build-arg by name']}",
            "--build-arg", f"INTERNAL_THING={values['build-arg by --redact']}",
            "--build-arg", f"HARMLESS={values['build-arg by shape']}",
            "--build-arg", "FROM_ENV_PASSWORD",
            "--label", f"com.example.api-token={values['label by name']}",
            "--label", f"internal.label={values['label by --redact']}",
            "--label", "visible=plain-label",
            "--redact", "INTERNAL_THING", "--redact", "internal.label"]
    env = {"FROM_ENV_PASSWORD": values["build-arg from env"],
           "GITHUB_TOKEN": values["env"], "DOCKER_CONFIG": str(docker_config)}
    return Planted(values, args, env)


def _project(root: Path, dockerfile: str, remote_secret: str) -> Path:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(dockerfile)
    (root / "msg.txt").write_text("hello\n")
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("leak test")
    repo.create_remote("origin", f"https://x-access-token:{remote_secret}@git.example.test/a/b")
    return root


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], cwd=cwd,
                          env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=600, check=False)


#: Secrets written literally into the user's own Dockerfile: its copy in the state directory
#: (the file the build runs from) holds them as the user's repository does; nothing else may.
IN_DOCKERFILE = ("ADD URL password", "ADD URL query token")


def _assert_nowhere(planted: Planted, result: subprocess.CompletedProcess[str],
                    *directories: Path) -> None:
    for what, value in planted.values.items():
        assert value not in result.stdout, f"{what} on stdout"
        assert value not in result.stderr, f"{what} on stderr:\n{result.stderr}"
        for directory in directories:
            for path in directory.rglob("*"):
                if path.name == "Dockerfile.pinned" and what in IN_DOCKERFILE:
                    continue
                if path.is_file():
                    assert value.encode() not in path.read_bytes(), f"{what} in {path}"


#: name -> (Dockerfile, extra arguments, extra environment, text the error must show).
FAILURES = {
    "unknown instruction": ("FROM scratch\nARG NPM_TOKEN\nFOOBAR x\n", [], {},
                            "unknown instruction: FOOBAR"),
    "failing RUN echoing the secret": (
        "FROM {base}\nARG NPM_TOKEN\nARG HARMLESS\nARG FROM_ENV_PASSWORD\n"
        "RUN echo \"t=$NPM_TOKEN h=$HARMLESS e=$FROM_ENV_PASSWORD\" && exit 3\n", [], {},
        "returned a non-zero code: 3"),
    "missing COPY source": ("FROM scratch\nARG NPM_TOKEN\nCOPY nope.txt /\n", [], {},
                            "nope.txt"),
    "unknown target": ("FROM scratch AS one\nCOPY msg.txt /\n", ["--target", "nosuch"], {},
                       "nosuch"),
    "unknown network": ("FROM {base}\nARG NPM_TOKEN\nRUN true\n", ["--network", "nosuch-net"],
                        {}, "nosuch-net"),
    # Chosen explicitly: with no engine, the default backend would be buildah.
    "engine unreachable": ("FROM scratch\nCOPY msg.txt /\n", ["--backend", "docker"],
                           {"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
                           "the docker engine does not answer"),
    "push refused": ("FROM scratch\nARG NPM_TOKEN\nCOPY msg.txt /\n", ["--tag-override"], {},
                     "push of"),
    "missing base image": ("FROM {registry}/leaks/missing:1\nCOPY msg.txt /\n", [], {},
                           "missing:1"),
}


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_no_failing_build_path_shows_a_secret(failure, debug, docker_engine, registry,
                                              debian_base, tmp_path):
    dockerfile, extra, extra_env, expected = FAILURES[failure]
    planted = _plant(tmp_path, registry.host)
    root = _project(tmp_path / "p", dockerfile.format(base=debian_base, registry=registry.host),
                    planted.values["remote URL"])
    tag = f"{registry.host}/leaks/fail:1"
    if "--tag-override" in extra:
        extra, tag = [], "127.0.0.1:9/leaks/fail:1"  # nothing listens on port 9
    out = tmp_path / "out"
    result = _run([*(["--debug"] if debug else []), "build", str(root), "-t", tag, "--no-sign",
                   "--no-sbom", "-o", str(out), *planted.args, *extra],
                  {**planted.env, "ATTEST_RETRY_ATTEMPTS": "2", **extra_env}, tmp_path)
    assert result.returncode in (2, 3, 4, 5, 8), result.stderr
    assert "Traceback" not in result.stderr or debug
    last = [line for line in result.stderr.splitlines() if line.startswith("attest: ")][-1]
    assert expected in last, result.stderr
    assert "http+docker" not in result.stderr and "buildargs" not in result.stderr
    _assert_nowhere(planted, result, out)


@pytest.fixture()
def file_server(tmp_path):
    """A plain HTTP server on 127.0.0.1 (the engine fetches ``ADD <url>`` itself)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "tool.txt").write_text("downloaded\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_signed_debug_run_shows_no_secret(docker_engine, registry, sigstore_stack,
                                            sigstore_trust_config, file_server, tmp_path):
    planted = _plant(tmp_path, registry.host)
    token = sigstore_stack.mint_token("leaks@attest.test")
    planted.values["identity token"] = token
    planted.values["ADD URL password"] = rand(ALNUM, 30)
    planted.values["ADD URL query token"] = rand(ALNUM, 30)
    add = (f"http://robot:{planted.values['ADD URL password']}@{file_server}/tool.txt"
           f"?access_token={planted.values['ADD URL query token']}")
    root = _project(tmp_path / "p", "FROM scratch\nARG NPM_TOKEN\nARG INTERNAL_THING\n"
                    "ARG HARMLESS\nARG FROM_ENV_PASSWORD\nCOPY msg.txt /msg.txt\n"
                    f"ADD {add} /tool.txt\n", planted.values["remote URL"])
    out = tmp_path / "out"
    result = _run(["--debug", "build", str(root), "-t", f"{registry.host}/leaks/ok:1",
                   "--trust-config", str(sigstore_trust_config), "--scan-secrets",
                   "-o", str(out), *planted.args],
                  {**planted.env, "ATTEST_IDENTITY_TOKEN": token}, tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_nowhere(planted, result, out)
    # Redacted, not dropped: the names and the harmless values are still on record.
    state = json.loads((out / "state.json").read_text())["options"]
    assert state["labels"] == {"com.example.api-token": "[REDACTED]",
                               "internal.label": "[REDACTED]", "visible": "plain-label"}
    statement = json.loads((out / "provenance.intoto.json").read_text())
    labels = statement["predicate"]["buildDefinition"]["externalParameters"]["labels"]
    assert labels == state["labels"]
    [remote] = json.loads((out / "facts.json").read_text())["remoteFiles"]
    assert remote["url"] == f"http://{file_server}/tool.txt?access_token=[REDACTED]"
    # --debug is attest's own debug output: the docker SDK, urllib3 and GitPython stay quiet.
    for chatter in ('"POST /v1', "Setting build args", "Looking for auth", "Popen(["):
        assert chatter not in result.stderr
