"""The scheduled-rescan templates run real attest commands with real options, and the CronJob
has the shape kubectl itself gives a CronJob."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner

from oci_attest.cli import cli

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "rescan"


def _attest_commands(text: str) -> list[list[str]]:
    return [shlex.split(part.strip())[1:] for part in re.findall(r"attest [^&\n]+", text)
            if not part.startswith("attest-")]


def _check(argv: list[str]) -> None:
    """Every subcommand and option the template uses is accepted by the real CLI."""
    words = [w for w in argv if not w.startswith("-")]
    command = words[:2] if words[0] in ("vulndb", "inventory") else words[:1]
    help_text = CliRunner().invoke(cli, [*command, "--help"]).output
    assert "Usage:" in help_text, (argv, help_text)
    for option in (w.split("=")[0] for w in argv if w.startswith("--")):
        assert option in help_text, (argv, option)


def test_github_workflow_is_scheduled_and_gates_on_new_findings():
    text = (TEMPLATES / "github-actions.yml").read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert triggers["schedule"][0]["cron"].count(" ") == 4
    commands = _attest_commands(text)
    assert ["rescan", "--fail-on", "high"] in commands
    for argv in commands:
        _check(argv)


def test_cronjob_matches_kubectl_shape_and_runs_rescan():
    documents = list(yaml.safe_load_all((TEMPLATES / "cronjob.yaml").read_text()))
    cronjob = next(d for d in documents if d["kind"] == "CronJob")
    reference = json.loads(subprocess.run(
        ["kubectl", "create", "cronjob", "attest-rescan", "--image=registry.example/attest",
         "--schedule=17 4 * * *", "--dry-run=client", "-o", "json"],
        check=True, capture_output=True, text=True, timeout=60).stdout)
    assert cronjob["apiVersion"] == reference["apiVersion"] == "batch/v1"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    reference_pod = reference["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert set(reference_pod) - {"resources"} <= set(pod)
    assert pod["restartPolicy"] == "Never" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ATTEST_INVENTORY"]["valueFrom"]["secretKeyRef"]["key"] == "url"
    script = " ".join(container["args"])
    assert "attest rescan --fail-on high" in script
    for argv in _attest_commands(script):
        _check(argv)
