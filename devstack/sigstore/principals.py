"""How a verified token becomes a certificate identity, following Fulcio's issuer types.

The CI mappings mirror Fulcio's ``ci-issuer-metadata`` templates for GitHub Actions and GitLab,
so verification policies written against public-good certificates (``OIDCSourceRepositoryURI``,
``OIDCBuildSignerURI``, ...) behave the same against this stack. The claim builders produce
internally consistent CI claims, so tests vary one field and the derived ones follow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from devstack.sigstore import der

SIGSTORE_OID = "1.3.6.1.4.1.57264.1"
ISSUER_V1 = ObjectIdentifier(f"{SIGSTORE_OID}.1")
ISSUER_V2 = ObjectIdentifier(f"{SIGSTORE_OID}.8")

Template = str | Callable[[Mapping[str, Any]], str]

# Extensions 1.2-1.6 are the deprecated GitHub ones: raw bytes, not DER. 1.9+ are UTF8Strings.
LEGACY = {"event_name": 2, "sha": 3, "workflow": 4, "repository": 5, "ref": 6}
V2_OIDS = {"build-signer-uri": 9, "build-signer-digest": 10, "runner-environment": 11,
           "source-repository-uri": 12, "source-repository-digest": 13,
           "source-repository-ref": 14, "source-repository-identifier": 15,
           "source-repository-owner-uri": 16, "source-repository-owner-identifier": 17,
           "build-config-uri": 18, "build-config-digest": 19, "build-trigger": 20,
           "run-invocation-uri": 21, "source-repository-visibility-at-signing": 22,
           "deployment-environment": 23}

GITHUB: dict[str, Template] = {
    "build-signer-uri": "{url}/{job_workflow_ref}", "build-signer-digest": "job_workflow_sha",
    "runner-environment": "runner_environment", "source-repository-uri": "{url}/{repository}",
    "source-repository-digest": "sha", "source-repository-ref": "ref",
    "source-repository-identifier": "repository_id",
    "source-repository-owner-uri": "{url}/{repository_owner}",
    "source-repository-owner-identifier": "repository_owner_id",
    "build-config-uri": "{url}/{workflow_ref}", "build-config-digest": "workflow_sha",
    "build-trigger": "event_name",
    "run-invocation-uri": "{url}/{repository}/actions/runs/{run_id}/attempts/{run_attempt}",
    "source-repository-visibility-at-signing": "repository_visibility",
    "deployment-environment": "environment",
}
GITLAB: dict[str, Template] = {
    "build-signer-uri": "https://{ci_config_ref_uri}", "build-signer-digest": "ci_config_sha",
    "runner-environment": "runner_environment", "source-repository-uri": "{url}/{project_path}",
    "source-repository-digest": "sha",
    "source-repository-ref": lambda c: ("refs/heads/" if c["ref_type"] == "branch"
                                        else "refs/tags/") + str(c["ref"]),
    "source-repository-identifier": "project_id",
    "source-repository-owner-uri": "{url}/{namespace_path}",
    "source-repository-owner-identifier": "namespace_id",
    "build-config-uri": "https://{ci_config_ref_uri}", "build-config-digest": "ci_config_sha",
    "build-trigger": "pipeline_source",
    "run-invocation-uri": "{url}/{project_path}/-/jobs/{job_id}",
    "source-repository-visibility-at-signing": "project_visibility",
    "deployment-environment": "environment",
}
CI_DEFAULTS = {"github": {"url": "https://github.com", "environment": ""},
               "gitlab": {"url": "https://gitlab.com", "environment": ""}}
SAN_TEMPLATES: dict[str, Template] = {"github": "{url}/{job_workflow_ref}",
                                      "gitlab": "https://{ci_config_ref_uri}"}


class PrincipalError(ValueError):
    """The token is authentic but cannot become a certificate (Fulcio answers 400)."""


@dataclass(frozen=True)
class Principal:
    san: x509.GeneralName
    extensions: list[tuple[ObjectIdentifier, bytes]]  # (oid, extnValue contents)

    @property
    def identity(self) -> str:
        return str(self.san.value)


def _render(template: Template, values: Mapping[str, Any]) -> str:
    try:
        if callable(template):
            return template(values)
        if "{" in template:
            return template.format_map(values)
        return str(values[template])
    except KeyError as exc:
        raise PrincipalError(f"claim {exc} is required by this issuer") from exc


def principal_for(provider: str, issuer: str, claims: Mapping[str, Any]) -> Principal:
    """Fulcio's certificate identity for a verified token from ``issuer`` of kind ``provider``."""
    extensions = [(ISSUER_V1, issuer.encode()), (ISSUER_V2, der.utf8(issuer))]
    if provider == "email":
        if not claims.get("email") or claims.get("email_verified") is not True:
            raise PrincipalError("email tokens need a verified 'email' claim")
        return Principal(x509.RFC822Name(str(claims["email"])), extensions)
    if provider == "uri":
        subject = str(claims.get("sub", ""))
        if "://" not in subject:
            raise PrincipalError("'sub' must be an absolute URI for this issuer")
        return Principal(x509.UniformResourceIdentifier(subject), extensions)
    values = {**CI_DEFAULTS[provider], **claims}
    san = x509.UniformResourceIdentifier(_render(SAN_TEMPLATES[provider], values))
    if provider == "github":
        extensions += [(ObjectIdentifier(f"{SIGSTORE_OID}.{n}"), _render(c, values).encode())
                       for c, n in LEGACY.items()]
    for ext, template in (GITHUB if provider == "github" else GITLAB).items():
        value = _render(template, values)
        if value:  # Fulcio leaves out extensions whose value renders empty
            extensions.append((ObjectIdentifier(f"{SIGSTORE_OID}.{V2_OIDS[ext]}"),
                               der.utf8(value)))
    return Principal(san, extensions)


def github_actions_claims(*, repository: str = "attest-dev/demo", ref: str = "refs/heads/main",
                          sha: str = "c0ffee" * 6 + "c0ff",
                          workflow_path: str = ".github/workflows/build.yml",
                          **extra: Any) -> dict[str, Any]:
    """The claims of a GitHub Actions ID token for one push-triggered run."""
    owner = repository.split("/")[0]
    workflow_ref = f"{repository}/{workflow_path}@{ref}"
    claims: dict[str, Any] = {
        "sub": f"repo:{repository}:ref:{ref}", "repository": repository,
        "repository_owner": owner, "repository_id": "700000001",
        "repository_owner_id": "700000002", "repository_visibility": "public", "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch", "sha": sha,
        "workflow": workflow_path.rsplit("/", 1)[-1].split(".")[0],
        "workflow_ref": workflow_ref, "workflow_sha": sha,
        "job_workflow_ref": workflow_ref, "job_workflow_sha": sha, "event_name": "push",
        "run_id": "4200000001", "run_number": "7", "run_attempt": "1",
        "runner_environment": "github-hosted", "actor": "attest-bot", "actor_id": "700000003"}
    return {**claims, **extra}


def gitlab_claims(*, project_path: str = "attest-dev/demo", ref: str = "main",
                  ref_type: str = "branch", sha: str = "c0ffee" * 6 + "c0ff",
                  host: str = "gitlab.com", **extra: Any) -> dict[str, Any]:
    """The claims of a GitLab CI ``id_tokens`` token for one pipeline job."""
    full_ref = ("refs/heads/" if ref_type == "branch" else "refs/tags/") + ref
    claims: dict[str, Any] = {
        "sub": f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}",
        "namespace_id": "800000001", "namespace_path": project_path.rsplit("/", 1)[0],
        "project_id": "800000002", "project_path": project_path, "user_login": "attest-bot",
        "pipeline_id": "800000003", "pipeline_source": "push", "job_id": "800000004",
        "ref": ref, "ref_type": ref_type, "ref_path": full_ref, "ref_protected": "true",
        "runner_id": 17, "runner_environment": "gitlab-hosted", "sha": sha,
        "project_visibility": "public", "ci_config_sha": sha,
        "ci_config_ref_uri": f"{host}/{project_path}//.gitlab-ci.yml@{full_ref}"}
    if host != "gitlab.com":
        claims["url"] = f"https://{host}"
    return {**claims, **extra}
