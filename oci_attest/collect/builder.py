"""Builder facts: which CI system ran the build, which run, on what kind of runner.

Each CI system announces itself through a few documented environment variables; one small
detector per system reads only the variables it names (never the whole environment, which
holds secrets) and turns them into the facts SLSA asks for: a builder id a verifier can pin,
an invocation id that links back to the run (attempt included, so a re-run is distinguishable),
and whether the runner was hosted by the CI vendor or self-hosted.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

ATTEST_BUILDER_ID_ENV = "ATTEST_BUILDER_ID"


@dataclass(frozen=True)
class CiFacts:
    """Facts about the run. ``details`` holds non-secret, documented variables only."""

    platform: str
    builder_id: str
    invocation_id: str | None = None
    runner_environment: str = "unknown"
    repository_url: str | None = None
    ref: str | None = None
    tag: str | None = None
    commit: str | None = None
    workflow: str | None = None
    details: dict[str, str] = field(default_factory=dict)


Detector = Callable[[Mapping[str, str]], CiFacts | None]


def _github(env: Mapping[str, str]) -> CiFacts | None:
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repository = env.get("GITHUB_REPOSITORY", "")
    run_id = env.get("GITHUB_RUN_ID", "")
    attempt = env.get("GITHUB_RUN_ATTEMPT", "1")
    runner = env.get("RUNNER_ENVIRONMENT") or "unknown"
    ref = env.get("GITHUB_REF") or None
    tag = ref.removeprefix("refs/tags/") if ref and ref.startswith("refs/tags/") else None
    hosted = runner if runner in ("github-hosted", "self-hosted") else "self-hosted"
    return CiFacts(
        platform="github-actions",
        builder_id=f"https://github.com/actions/runner/{hosted}",
        invocation_id=(f"{server}/{repository}/actions/runs/{run_id}/attempts/{attempt}"
                       if repository and run_id else None),
        runner_environment=runner,
        repository_url=f"{server}/{repository}" if repository else None,
        ref=ref,
        tag=tag,
        commit=env.get("GITHUB_SHA") or None,
        workflow=env.get("GITHUB_WORKFLOW_REF") or None,
        details=_pick(env, "GITHUB_EVENT_NAME", "GITHUB_WORKFLOW_REF", "GITHUB_WORKFLOW_SHA",
                      "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_REPOSITORY_ID",
                      "GITHUB_REPOSITORY_OWNER_ID", "RUNNER_OS", "RUNNER_ARCH"),
    )


def _gitlab(env: Mapping[str, str]) -> CiFacts | None:
    if env.get("GITLAB_CI") != "true":
        return None
    server = env.get("CI_SERVER_URL", "https://gitlab.com").rstrip("/")
    project = env.get("CI_PROJECT_PATH", "")
    runner_id = env.get("CI_RUNNER_ID", "unknown")
    tag = env.get("CI_COMMIT_TAG") or None
    branch = env.get("CI_COMMIT_BRANCH") or None
    ref = f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else None)
    # GitLab.com's own runners are described as shared SaaS runners; everything else is not.
    description = env.get("CI_RUNNER_DESCRIPTION", "")
    hosted = server == "https://gitlab.com" and ("saas" in description or "shared" in description)
    return CiFacts(
        platform="gitlab-ci",
        builder_id=f"{server}/{project}/-/runners/{runner_id}",
        invocation_id=env.get("CI_JOB_URL") or None,
        runner_environment="gitlab-hosted" if hosted else "self-hosted",
        repository_url=env.get("CI_PROJECT_URL") or (f"{server}/{project}" if project else None),
        ref=ref,
        tag=tag,
        commit=env.get("CI_COMMIT_SHA") or None,
        workflow=env.get("CI_CONFIG_PATH") or None,
        details=_pick(env, "CI_PIPELINE_ID", "CI_JOB_ID", "CI_PIPELINE_SOURCE", "CI_PROJECT_ID",
                      "CI_RUNNER_ID", "CI_CONFIG_PATH"),
    )


def _buildkite(env: Mapping[str, str]) -> CiFacts | None:
    if env.get("BUILDKITE") != "true":
        return None
    org = env.get("BUILDKITE_ORGANIZATION_SLUG", "")
    pipeline = env.get("BUILDKITE_PIPELINE_SLUG", "")
    build_url = env.get("BUILDKITE_BUILD_URL")
    job = env.get("BUILDKITE_JOB_ID")
    tag = env.get("BUILDKITE_TAG") or None
    branch = env.get("BUILDKITE_BRANCH") or None
    hosted = env.get("BUILDKITE_COMPUTE_TYPE") == "hosted"
    return CiFacts(
        platform="buildkite",
        builder_id=f"https://buildkite.com/{org}/{pipeline}",
        invocation_id=f"{build_url}#{job}" if build_url and job else build_url,
        runner_environment="buildkite-hosted" if hosted else "self-hosted",
        repository_url=env.get("BUILDKITE_REPO") or None,
        ref=f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else None),
        tag=tag,
        commit=env.get("BUILDKITE_COMMIT") or None,
        details=_pick(env, "BUILDKITE_BUILD_NUMBER", "BUILDKITE_JOB_ID", "BUILDKITE_AGENT_NAME",
                      "BUILDKITE_RETRY_COUNT"),
    )


def _circleci(env: Mapping[str, str]) -> CiFacts | None:
    if env.get("CIRCLECI") != "true":
        return None
    tag = env.get("CIRCLE_TAG") or None
    branch = env.get("CIRCLE_BRANCH") or None
    project = f"{env.get('CIRCLE_PROJECT_USERNAME', '')}/{env.get('CIRCLE_PROJECT_REPONAME', '')}"
    return CiFacts(
        platform="circleci",
        builder_id=f"https://app.circleci.com/pipelines/{project.strip('/')}",
        invocation_id=env.get("CIRCLE_BUILD_URL") or None,
        runner_environment="self-hosted" if env.get("CIRCLE_RUNNER") else "circleci-hosted",
        repository_url=env.get("CIRCLE_REPOSITORY_URL") or None,
        ref=f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else None),
        tag=tag,
        commit=env.get("CIRCLE_SHA1") or None,
        details=_pick(env, "CIRCLE_BUILD_NUM", "CIRCLE_WORKFLOW_ID", "CIRCLE_JOB"),
    )


def _jenkins(env: Mapping[str, str]) -> CiFacts | None:
    if not env.get("JENKINS_URL"):
        return None
    job_url = env.get("JOB_URL") or env["JENKINS_URL"]
    branch = env.get("GIT_BRANCH") or env.get("BRANCH_NAME") or None
    if branch and branch.startswith("origin/"):
        branch = branch.removeprefix("origin/")
    tag = env.get("TAG_NAME") or None
    return CiFacts(
        platform="jenkins",
        builder_id=job_url.rstrip("/"),
        invocation_id=env.get("BUILD_URL") or None,
        runner_environment="self-hosted",
        repository_url=env.get("GIT_URL") or None,
        ref=f"refs/tags/{tag}" if tag else (f"refs/heads/{branch}" if branch else None),
        tag=tag,
        commit=env.get("GIT_COMMIT") or None,
        details=_pick(env, "BUILD_NUMBER", "JOB_NAME", "NODE_NAME"),
    )


def _tekton(env: Mapping[str, str]) -> CiFacts | None:
    """Tekton exposes nothing by default; tasks pass these through the downward API/params."""
    run = env.get("TEKTON_PIPELINE_RUN") or env.get("TEKTON_TASK_RUN")
    if not run and not os.path.isdir("/tekton/results"):
        return None
    namespace = env.get("TEKTON_NAMESPACE") or env.get("POD_NAMESPACE") or "default"
    cluster = env.get("TEKTON_CLUSTER_URL", "https://tekton.dev")
    return CiFacts(
        platform="tekton",
        builder_id=f"{cluster.rstrip('/')}/namespaces/{namespace}",
        invocation_id=f"{cluster.rstrip('/')}/namespaces/{namespace}/pipelineruns/{run}"
        if run else None,
        runner_environment="self-hosted",
        repository_url=env.get("TEKTON_GIT_URL") or None,
        ref=env.get("TEKTON_GIT_REF") or None,
        commit=env.get("TEKTON_GIT_COMMIT") or None,
        details=_pick(env, "TEKTON_PIPELINE_RUN", "TEKTON_TASK_RUN"),
    )


def _local(env: Mapping[str, str]) -> CiFacts:
    host = socket.gethostname() or "localhost"
    return CiFacts(
        platform="local",
        builder_id=f"local://{host}",
        runner_environment="local",
        details={"os": platform.system(), "arch": platform.machine()},
    )


DETECTORS: tuple[Detector, ...] = (_github, _gitlab, _buildkite, _circleci, _jenkins, _tekton)


def detect_ci(env: Mapping[str, str] | None = None) -> CiFacts:
    """The first CI system whose variables are present, else a local build.

    ``ATTEST_BUILDER_ID`` overrides the builder id for platforms with their own naming.
    """
    env = os.environ if env is None else env
    facts = next((f for f in (d(env) for d in DETECTORS) if f is not None), None) or _local(env)
    override = env.get(ATTEST_BUILDER_ID_ENV)
    if override:
        from dataclasses import replace

        facts = replace(facts, builder_id=override)
    return facts


def _pick(env: Mapping[str, str], *names: str) -> dict[str, str]:
    return {name: env[name] for name in names if env.get(name)}
