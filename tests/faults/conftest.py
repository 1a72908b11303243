"""Fault-injection fixtures: fault proxies in front of the real registry and Sigstore stack.

Every request attest makes in these tests goes through a :class:`FaultProxy`: image references
name ``127.0.0.1:<proxy port>`` as their registry (the engine's pushes and pulls too), and the
trust config points Fulcio, Rekor and the TSA at proxies. Rules are cleared around each test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from devstack.faultproxy import FaultProxy

#: Short, so that persistent faults fail fast; "stall" faults stall longer than these.
FAST_ENV = {
    "ATTEST_HTTP_TIMEOUT": "1",
    "ATTEST_SIGNING_TIMEOUT": "1",
    "ATTEST_RETRY_ATTEMPTS": "3",
    "ATTEST_RETRY_BASE_DELAY": "0.01",
    "ATTEST_ATTACH_SETTLE": "0.05",
}


@pytest.fixture(scope="session")
def registry_proxy(registry) -> Iterator[FaultProxy]:
    with FaultProxy(f"http://{registry.host}", name="registry") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def signing_proxies(sigstore_stack) -> Iterator[dict[str, FaultProxy]]:
    started = {name: FaultProxy(sigstore_stack.urls[name], name=name).start()
               for name in ("ca", "rekor", "tsa")}
    try:
        yield started
    finally:
        for proxy in started.values():
            proxy.stop()


@pytest.fixture(scope="session")
def proxied_trust_config(sigstore_stack, signing_proxies, tmp_path_factory) -> Path:
    """Trust config (Rekor v1 + TSA) whose CA, log and TSA URLs go through the proxies."""
    return sigstore_stack.write_trust_config(
        tmp_path_factory.mktemp("faults") / "trust-config.json",
        urls={name: proxy.url for name, proxy in signing_proxies.items()})


@pytest.fixture()
def proxies(registry_proxy, signing_proxies, monkeypatch) -> Iterator[dict[str, FaultProxy]]:
    """All proxies, with no rules and an empty log, and the short timeouts in the environment."""
    everything = {"registry": registry_proxy, **signing_proxies}
    for name, value in FAST_ENV.items():
        monkeypatch.setenv(name, value)
    for proxy in everything.values():
        proxy.clear()
        proxy.reset_log()
    yield everything
    for proxy in everything.values():
        proxy.clear()


@pytest.fixture(scope="session")
def tiny_base(docker_engine, registry, tmp_path_factory) -> str:
    """``fx/base:1``, a one-file FROM-scratch image in the registry (repository path only)."""
    context = tmp_path_factory.mktemp("tiny-base")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY base.txt /base.txt\n")
    (context / "base.txt").write_text("tiny base\n")
    image = f"{registry.host}/fx/base:1"
    subprocess.run(["docker", "build", "-q", "-t", image, str(context)], check=True,
                   capture_output=True)
    subprocess.run(["docker", "push", image], check=True, capture_output=True)
    return "fx/base:1"


def make_project(root: Path, base: str, content: str) -> Path:
    """A git project building ``FROM base`` plus one file of ``content``."""
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(f"FROM {base}\nCOPY msg.txt /msg.txt\n")
    (root / "msg.txt").write_text(content)
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as config:
        config.set_value("user", "name", "t")
        config.set_value("user", "email", "t@example.test")
    repo.git.add(A=True)
    repo.index.commit("fault project")
    repo.create_remote("origin", "https://git.example.test/acme/faults")
    return root


#: (fault, step, "once"|"persistent") -> outcome, filled by the matrix tests and printed at the
#: end of the session (and written to $ATTEST_FAULT_MATRIX if set) for the closing note.
MATRIX: dict[tuple[str, str, str], str] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    if not MATRIX:
        return
    faults = list(dict.fromkeys(k[0] for k in MATRIX))
    steps = list(dict.fromkeys(k[1] for k in MATRIX))
    lines = ["| fault | " + " | ".join(steps) + " |",
             "| --- |" + " --- |" * len(steps)]
    for fault in faults:
        cells = []
        for step in steps:
            once = MATRIX.get((fault, step, "once"), "-")
            persistent = MATRIX.get((fault, step, "persistent"), "-")
            cells.append(f"once: {once}; persistent: {persistent}")
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    terminalreporter.write_sep("-", "fault matrix (fault x step)")
    terminalreporter.write_line(text)
    import os

    target = os.environ.get("ATTEST_FAULT_MATRIX")
    if target:
        Path(target).write_text(text + "\n")
