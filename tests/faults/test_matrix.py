"""The fault matrix: every fault at every step of ``attest build``, transient and persistent.

Faults are injected by fault proxies in front of the real registry, the real docker engine's
pushes and the local Sigstore stack. A fault that happens once must cost a retry, not the
release; one that persists must end the run with the documented exit code (5 registry, 6
signing) and one line on stderr, and ``attest build --resume DIR`` must then finish the run
without building, pushing or signing again what was already done.

To keep the matrix fast, one transient run per fault breaks every step once, and one chain per
step breaks that step persistently with each fault in turn (a fresh run, then resumes, each
ending in the expected error) before a clean resume completes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from devstack.faultproxy import Fault
from oci_attest.cli import cli
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import RegistryClient
from tests.faults.conftest import MATRIX, make_project

pytestmark = pytest.mark.integration
IDENTITY = "release-bot@attest.test"


@dataclass(frozen=True)
class Step:
    proxy: str
    method: str
    path: str
    exit_code: int
    client: str = "attest"  # whose requests: attest's own, or the docker engine's
    after: tuple[str, ...] = ()  # state.json steps finished before this one
    headers: dict[str, str] = field(default_factory=dict)


# {repo} is filled in per test: rules only ever match that test's own repository.
STEPS = {
    "resolve base": Step("registry", "HEAD|GET", r"^/v2/fx/base/manifests/1$", 5),
    "push (engine)": Step("registry", "PUT", r"^/v2/{repo}/manifests/1$", 5, client="docker",
                          after=("collect", "build")),
    "referrer blob upload": Step("registry", "POST", r"^/v2/{repo}/blobs/uploads/$", 5,
                                 after=("collect", "build", "push", "describe", "sign")),
    "referrer manifest PUT": Step("registry", "PUT", r"^/v2/{repo}/manifests/sha256:[0-9a-f]{64}$",
                                  5, after=("collect", "build", "push", "describe", "sign")),
    "index GET": Step("registry", "GET", r"^/v2/{repo}/manifests/sha256-[0-9a-f]{64}$", 5,
                      after=("collect", "build", "push", "describe", "sign")),
    "index PUT": Step("registry", "PUT", r"^/v2/{repo}/manifests/sha256-[0-9a-f]{64}$", 5,
                      after=("collect", "build", "push", "describe", "sign")),
    ".att PUT": Step("registry", "PUT", r"^/v2/{repo}/manifests/sha256-[0-9a-f]{64}\.att$", 5,
                     after=("collect", "build", "push", "describe", "sign", "attach")),
    "Fulcio": Step("ca", "POST", r"^/api/v2/signingCert", 6,
                   after=("collect", "build", "push", "describe")),
    "Rekor": Step("rekor", "POST", r"^/api/v1/log/entries$", 6,
                  after=("collect", "build", "push", "describe")),
    "TSA": Step("tsa", "POST", r"^/api/v1/timestamp", 6,
                after=("collect", "build", "push", "describe")),
}
FAULTS = {
    "429 + Retry-After": Fault.http(429, retry_after="1"),
    "500": Fault.http(500),
    "502": Fault.http(502),
    "503": Fault.http(503),
    "reset": Fault.reset(),
    "stall past timeout": Fault.stall(1.6),
    "truncated body": Fault.truncate(8),
}
AGENTS = {"attest": r"^attest/", "docker": r"^docker/"}


def attest(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def inject(proxies, step: Step, repo: str, fault: Fault, times: int | None):
    proxy = proxies[step.proxy]
    headers = {"User-Agent": AGENTS[step.client]} if step.proxy == "registry" else None
    return proxy.add(fault, step.path.replace("{repo}", repo), method=step.method, times=times,
                     headers=headers)


def one_line_error(result, exit_code: int) -> str:
    assert result.exit_code == exit_code, result.output
    assert "Traceback" not in result.output
    last = result.stderr.strip().splitlines()[-1]
    kind = {5: "attest: registry error:", 6: "attest: signing error:"}[exit_code]
    assert last.startswith(kind) or last.startswith("attest: digest mismatch:"), last
    assert "--resume" in last
    return last


def attachments(registry_proxy, image: str) -> dict[str, int]:
    found = layouts.discover(RegistryClient(registry_proxy.host), parse_reference(image))
    return {layout: sum(1 for f in found if f.layout == layout)
            for layout in ("referrer", "cosign-att")}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_a_transient_fault_at_every_step_costs_only_retries(
        fault_name, proxies, tiny_base, proxied_trust_config, sigstore_stack, tmp_path):
    repo = f"matrix/transient-{slug(fault_name)}"
    image = f"{proxies['registry'].host}/{repo}:1"
    project = make_project(tmp_path / "p", f"{proxies['registry'].host}/{tiny_base}",
                           f"transient {fault_name}\n")
    rules = {name: inject(proxies, step, repo, FAULTS[fault_name], times=1)
             for name, step in STEPS.items()}
    result = attest("build", project, "-t", image, "--no-sbom", "--trust-config",
                    proxied_trust_config, "--identity-token", sigstore_stack.mint_token(IDENTITY),
                    "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    pinned = result.stdout.strip().splitlines()[-1]
    assert attachments(proxies["registry"], pinned) == {"referrer": 1, "cosign-att": 1}
    for name, rule in rules.items():
        assert rule.fired == 1, f"{name}: the fault never happened"
        if rule.seen >= 2:
            MATRIX[(fault_name, name, "once")] = "ok (retried)"
            continue
        # Not sent again: only right when the upstream did act (a truncated answer to a write)
        # and attest confirmed that by reading back, which the attachments above prove.
        assert FAULTS[fault_name].action == "truncate" and STEPS[name].method == "PUT", \
            f"{name}: not retried"
        MATRIX[(fault_name, name, "once")] = "ok (write landed; confirmed by reading back)"


@pytest.mark.parametrize("step_name", list(STEPS))
def test_a_persistent_fault_fails_clearly_and_resume_finishes(
        step_name, proxies, tiny_base, proxied_trust_config, sigstore_stack, tmp_path):
    step = STEPS[step_name]
    repo = f"matrix/persistent-{slug(step_name)}"
    image = f"{proxies['registry'].host}/{repo}:1"
    project = make_project(tmp_path / "p", f"{proxies['registry'].host}/{tiny_base}",
                           f"persistent {step_name}\n")
    out = tmp_path / "out"
    token = sigstore_stack.mint_token(IDENTITY)
    bundle_before = None
    for number, (fault_name, fault) in enumerate(FAULTS.items()):
        for proxy in proxies.values():
            proxy.clear()
        rule = inject(proxies, step, repo, fault, times=None)
        if number == 0:
            result = attest("build", project, "-t", image, "--no-sbom", "--trust-config",
                            proxied_trust_config, "--identity-token", token, "-o", out)
        else:
            result = attest("build", "--resume", out, "--identity-token", token)
            # Resuming never redoes a finished step, even when it fails again later.
            if "build" in step.after:
                assert "building the image" not in result.stderr
            if "push" in step.after:
                assert "pushing" not in result.stderr
        if fault.action == "truncate" and step.method == "PUT" and step.client == "attest":
            # The registry stored the write and only its answer was cut: attest must see that
            # by reading back, and succeed rather than fail the release.
            assert result.exit_code == 0, result.output
            assert rule.fired >= 1
            MATRIX[(fault_name, step_name, "persistent")] = "ok (write landed; confirmed)"
            continue
        line = one_line_error(result, step.exit_code)
        assert rule.fired >= 1
        state = json.loads((out / "state.json").read_text())
        for done in step.after:
            assert done in state["steps"], f"{done} not recorded before {step_name}"
        if "sign" in step.after:
            bundle = (out / "provenance.sigstore.json").read_bytes()
            assert bundle_before in (None, bundle), "the statement was signed again"
            bundle_before = bundle
        retried = "" if step.client == "docker" and rule.seen == 1 else \
            f", {rule.seen} attempts"
        MATRIX[(fault_name, step_name, "persistent")] = f"exit {result.exit_code}{retried}"
        assert token not in result.output
        del line
    for proxy in proxies.values():
        proxy.clear()
    resumed = attest("build", "--resume", out, "--identity-token", token)
    assert resumed.exit_code == 0, resumed.output
    if "build" in step.after:
        assert "building the image" not in resumed.stderr
    if "push" in step.after:
        assert "pushing" not in resumed.stderr
    if "sign" in step.after:
        assert "signing provenance" not in resumed.stderr
        assert (out / "provenance.sigstore.json").read_bytes() == bundle_before
    pinned = resumed.stdout.strip().splitlines()[-1]
    assert attachments(proxies["registry"], pinned) == {"referrer": 1, "cosign-att": 1}
    for fault_name in FAULTS:
        if MATRIX[(fault_name, step_name, "persistent")].startswith("exit"):
            MATRIX[(fault_name, step_name, "persistent")] += ", resume ok"
