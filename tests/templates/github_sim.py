"""A small GitHub Actions runner for tests: runs a workflow's jobs on this machine.

What it does as GitHub does: jobs in `needs` order, each in a fresh checkout with
`origin` at the repository URL; `run:` steps with `bash --noprofile --norc -eo pipefail`; the
default variables (`GITHUB_*`, `RUNNER_TEMP`, `GITHUB_OUTPUT`); `${{ }}` expressions in `env:`,
`with:` and job outputs (secrets, runner.temp, steps.*.outputs, needs.*.outputs); the OIDC
token endpoint only for jobs with `id-token: write`; artifacts between jobs.

What it replaces: the marketplace actions are emulated (checkout: a git clone; setup-python:
nothing; upload/download-artifact: a directory copy) and a step named "Install attest" is
skipped: this checkout's attest is already on PATH. Everything else runs as written.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git
import yaml

_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@dataclass
class JobResult:
    name: str
    outputs: dict[str, str]
    log: list[str] = field(default_factory=list)
    failed_step: str | None = None
    returncode: int = 0


class Runner:
    def __init__(self, workflow: Path, repository: Path, base_env: Mapping[str, str],
                 work: Path, *, env_overrides: Mapping[str, str] | None = None,
                 secrets: Mapping[str, str] | None = None, origin: str,
                 after_job: Callable[[str, Path], None] | None = None) -> None:
        self.flow: dict[str, Any] = yaml.safe_load(workflow.read_text())
        self.repository = repository
        self.base_env = dict(base_env)
        self.work = work
        self.env_overrides = dict(env_overrides or {})
        self.secrets = dict(secrets or {})
        self.origin = origin
        self.artifacts = work / "artifacts"
        self.results: dict[str, JobResult] = {}
        #: Called with (job, artifacts directory) after each job: a test plays the attacker
        #: who controls what a job leaves behind.
        self.after_job = after_job

    def run(self) -> dict[str, JobResult]:
        pending = dict(self.flow["jobs"])
        while pending:
            ready = [n for n, j in pending.items()
                     if all(d in self.results for d in _needs(j))]
            assert ready, f"unsatisfiable needs: {sorted(pending)}"
            for name in ready:
                job = pending.pop(name)
                result = self._job(name, job)
                self.results[name] = result
                if self.after_job is not None:
                    self.after_job(name, self.artifacts)
                if result.failed_step:
                    return self.results
        return self.results

    def _job(self, name: str, job: dict[str, Any]) -> JobResult:
        workspace = self.work / name / "workspace"
        temp = self.work / name / "temp"
        temp.mkdir(parents=True)
        env = {k: v for k, v in self.base_env.items() if not k.startswith("ACTIONS_ID_TOKEN")}
        if (job.get("permissions") or {}).get("id-token") == "write":
            env.update({k: v for k, v in self.base_env.items()
                        if k.startswith("ACTIONS_ID_TOKEN")})
        env.update({"GITHUB_JOB": name, "RUNNER_TEMP": str(temp),
                    "GITHUB_WORKSPACE": str(workspace)})
        context = {"needs": {n: {"outputs": self.results[n].outputs} for n in _needs(job)},
                   "steps": {}, "runner": {"temp": str(temp)}}
        for key, value in (self.flow.get("env") or {}).items():
            env[key] = self._eval(str(value), context)
        env.update(self.env_overrides)
        result = JobResult(name=name, outputs={})
        for index, step in enumerate(job["steps"]):
            label = step.get("name") or step.get("uses") or f"step {index}"
            step_env = dict(env)
            for key, value in (step.get("env") or {}).items():
                step_env[key] = self._eval(str(value), context)
            if "uses" in step:
                self._action(step, workspace, context)
                result.log.append(f"{label}: emulated")
                continue
            if step.get("name") == "Install attest":
                result.log.append(f"{label}: skipped (this checkout's attest is on PATH)")
                continue
            output = temp / f"output-{index}"
            output.touch()
            step_env["GITHUB_OUTPUT"] = str(output)
            script = temp / f"step-{index}.sh"
            script.write_text(step["run"])
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=workspace, env=step_env,
                                  capture_output=True, text=True, timeout=900, check=False)
            result.log.append(f"{label}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
            if done.returncode != 0:
                result.failed_step, result.returncode = label, done.returncode
                return result
            if "id" in step:
                context["steps"][step["id"]] = {"outputs": _outputs(output)}
        for key, value in (job.get("outputs") or {}).items():
            result.outputs[key] = self._eval(str(value), context)
        return result

    def _action(self, step: dict[str, Any], workspace: Path, context: dict[str, Any]) -> None:
        action = step["uses"].split("@", 1)[0]
        inputs = {k: self._eval(str(v), context) for k, v in (step.get("with") or {}).items()}
        if action == "actions/checkout":
            repo = git.Repo.clone_from(self.repository, workspace)
            # As actions/checkout does: a tag is checked out detached at its commit, a branch
            # as a local branch at the commit the event names.
            env = {**self.base_env, **self.env_overrides}
            ref, sha = env.get("GITHUB_REF", ""), env.get("GITHUB_SHA") or "HEAD"
            if ref.startswith("refs/tags/"):
                repo.git.checkout("--detach", sha)
            elif ref.startswith("refs/heads/"):
                repo.git.checkout("-B", ref.removeprefix("refs/heads/"), sha)
            repo.remote("origin").set_url(self.origin)
            if str(inputs.get("persist-credentials", "true")).lower() != "false":
                raise AssertionError("checkout would persist the token")
        elif action == "actions/setup-python":
            pass
        elif action == "actions/upload-artifact":
            target = self.artifacts / inputs["name"]
            target.mkdir(parents=True)
            for path in glob.glob(inputs["path"]):
                shutil.copy2(path, target)
        elif action == "actions/download-artifact":
            shutil.copytree(self.artifacts / inputs["name"], inputs["path"])
        else:
            raise AssertionError(f"no emulation for {action}")

    def _eval(self, text: str, context: dict[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("secrets."):
                return self.secrets[expression.split(".", 1)[1]]
            node: Any = context
            for part in expression.split("."):
                node = node[part]
            return str(node)

        return _EXPR.sub(value, text)


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _outputs(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def local_path_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This machine's PATH and basics, plus ``extra``; nothing else of the test's environment."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "ATTEST_CACHE", "DOCKER_HOST", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **extra}
