"""The whole local Sigstore instance: OIDC issuer, CA with CT log, Rekor, TSA, trust config.

Tests, the README demo and the benchmarks start one of these instead of reaching the public
instance, and point the unchanged ``sigstore`` client at it through the trust config.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from devstack.sigstore import pki, trust
from devstack.sigstore.ca import CertificateAuthority
from devstack.sigstore.ctlog import CTLog
from devstack.sigstore.oidc import PROVIDERS, OIDCProvider
from devstack.sigstore.principals import github_actions_claims, gitlab_claims, principal_for
from devstack.sigstore.rekor import Rekor
from devstack.sigstore.server import App, Service
from devstack.sigstore.tsa import TimestampAuthority

COMPONENTS = ("oidc", "ca", "rekor", "tsa")
DEFAULT_EMAIL = "developer@attest.test"
DEFAULT_URI = "https://ci.attest.test/builders/local"


class SigstoreStack:
    """Use as ``with SigstoreStack.start() as stack:``; every key is made fresh per instance.

    Providers name the OIDC issuers: ``email`` (SAN = email), ``github`` and ``gitlab`` (SAN
    and extensions from CI claims, as Fulcio derives them) and ``uri`` (SAN = ``sub``).
    """

    def __init__(self) -> None:
        self.started_at = pki.now()
        self.oidc = OIDCProvider()
        self.ctlog = CTLog()
        self.ca = CertificateAuthority(self.ctlog)
        self.rekor = Rekor()
        self.tsa = TimestampAuthority()
        self._services: dict[str, Service] = {}
        self.urls: dict[str, str] = {}

    @classmethod
    def start(cls, *, ports: Mapping[str, int] | None = None) -> SigstoreStack:
        """Bind every component to ``127.0.0.1`` (port 0, the default, picks a free one)."""
        stack = cls()
        apps: dict[str, App] = {"oidc": stack.oidc, "ca": stack.ca, "rekor": stack.rekor,
                                "tsa": stack.tsa}
        unknown = set(ports or {}) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; choose from {COMPONENTS}")
        for name, app in apps.items():
            stack._services[name] = Service(app, (ports or {}).get(name, 0))
            stack.urls[name] = stack._services[name].url
        stack.oidc.base_url = stack.urls["oidc"]
        stack.rekor.base_url = stack.urls["rekor"]
        stack.ca.issuers = {stack.oidc.issuer(p): p for p in PROVIDERS}
        for service in stack._services.values():
            service.start()
        return stack

    def stop(self) -> None:
        for service in self._services.values():
            service.stop()
        self._services.clear()

    def __enter__(self) -> SigstoreStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- trust -----------------------------------------------------------------------------

    def trusted_root(self, urls: Mapping[str, str] | None = None) -> dict[str, Any]:
        urls = {**self.urls, **(urls or {})}
        start = self.started_at
        return {
            "mediaType": trust.TRUSTED_ROOT,
            "tlogs": [trust.transparency_log(urls["rekor"], log.key.public_key(), start)
                      for log in (self.rekor.v1, self.rekor.v2)],
            "certificateAuthorities": [trust.authority(urls["ca"], self.ca.chain)],
            "ctlogs": [trust.transparency_log(urls["ca"], self.ctlog.key.public_key(), start)],
            "timestampAuthorities": [trust.authority(urls["tsa"], self.tsa.chain)],
        }

    def trust_config(self, *, rekor_version: int = 1, tsa: bool = True,
                     urls: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The ClientTrustConfig; ``urls`` overrides service URLs (e.g. a fault proxy's)."""
        merged = {**self.urls, **(urls or {})}
        return trust.client_trust_config(trusted_root=self.trusted_root(merged), urls=merged,
                                         start=self.started_at, rekor_version=rekor_version,
                                         tsa=tsa)

    def trust_config_json(self, **options: Any) -> str:
        return json.dumps(self.trust_config(**options), indent=2)

    def write_trust_config(self, path: str | Path, **options: Any) -> Path:
        target = Path(path)
        target.write_text(self.trust_config_json(**options))
        return target

    # -- identities ------------------------------------------------------------------------

    def issuer(self, provider: str = "email") -> str:
        """The OIDC issuer URL a verifier must expect for ``provider`` tokens."""
        return self.oidc.issuer(provider)

    def claims(self, provider: str = "email", identity: str | None = None,
               **claims: Any) -> dict[str, Any]:
        """Complete token claims: an email or URI identity, or consistent CI claims."""
        if provider == "email":
            email = identity or DEFAULT_EMAIL
            return {"sub": email, "email": email, "email_verified": True, **claims}
        if provider == "uri":
            return {"sub": identity or DEFAULT_URI, **claims}
        if identity is not None:
            raise ValueError(f"{provider} identities derive from claims, not 'identity'")
        if provider == "github":
            return github_actions_claims(**claims)
        if provider == "gitlab":
            return gitlab_claims(**claims)
        raise ValueError(f"unknown provider {provider!r}; choose one of {PROVIDERS}")

    def mint_token(self, identity: str | None = None, *, provider: str = "email",
                   claims: Mapping[str, Any] | None = None, lifetime: int = 600,
                   alg: str = "RS256") -> str:
        """A signed ID token (``aud: sigstore``) from the ``provider`` issuer."""
        return self.oidc.mint(provider, self.claims(provider, identity, **(claims or {})),
                              lifetime=lifetime, alg=alg)

    def expected_identity(self, provider: str = "email", identity: str | None = None,
                          **claims: Any) -> str:
        """The certificate SAN the CA issues for these claims (what a verifier pins)."""
        full = self.claims(provider, identity, **claims)
        return principal_for(provider, self.issuer(provider), full).identity

    def github_actions_env(self, **claims: Any) -> dict[str, str]:
        """Environment of a GitHub Actions job whose ID-token endpoint is this issuer."""
        full = self.claims("github", **claims)
        url, token = self.oidc.github_request_url(full)
        ref = str(full["ref"])
        return {
            "CI": "true", "GITHUB_ACTIONS": "true", "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": token, "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": full["repository"],
            "GITHUB_REPOSITORY_OWNER": full["repository_owner"],
            "GITHUB_REPOSITORY_ID": full["repository_id"], "GITHUB_REF": ref,
            "GITHUB_REF_NAME": ref.split("/", 2)[-1], "GITHUB_REF_TYPE": full["ref_type"],
            "GITHUB_SHA": full["sha"], "GITHUB_WORKFLOW": full["workflow"],
            "GITHUB_WORKFLOW_REF": full["workflow_ref"], "GITHUB_WORKFLOW_SHA":
            full["workflow_sha"], "GITHUB_RUN_ID": full["run_id"],
            "GITHUB_RUN_NUMBER": full["run_number"], "GITHUB_RUN_ATTEMPT": full["run_attempt"],
            "GITHUB_EVENT_NAME": full["event_name"], "GITHUB_ACTOR": full["actor"],
            "GITHUB_JOB": "build", "RUNNER_ENVIRONMENT": full["runner_environment"]}

    def gitlab_env(self, *, lifetime: int = 3600, **claims: Any) -> dict[str, str]:
        """Environment of a GitLab CI job with an ``id_tokens: SIGSTORE_ID_TOKEN`` token."""
        full = self.claims("gitlab", **claims)
        server = str(full.get("url", "https://gitlab.com"))
        project_url = f"{server}/{full['project_path']}"
        ref_var = "CI_COMMIT_BRANCH" if full["ref_type"] == "branch" else "CI_COMMIT_TAG"
        return {
            "CI": "true", "GITLAB_CI": "true",
            "SIGSTORE_ID_TOKEN": self.oidc.mint("gitlab", full, lifetime=lifetime),
            "CI_SERVER_URL": server, "CI_SERVER_HOST": server.split("://", 1)[1],
            "CI_PROJECT_PATH": full["project_path"], "CI_PROJECT_ID": full["project_id"],
            "CI_PROJECT_NAMESPACE": full["namespace_path"], "CI_PROJECT_URL": project_url,
            "CI_COMMIT_SHA": full["sha"], "CI_COMMIT_REF_NAME": full["ref"],
            ref_var: full["ref"], "CI_PIPELINE_ID": full["pipeline_id"],
            "CI_PIPELINE_SOURCE": full["pipeline_source"], "CI_JOB_ID": full["job_id"],
            "CI_JOB_URL": f"{project_url}/-/jobs/{full['job_id']}",
            "CI_CONFIG_PATH": ".gitlab-ci.yml"}
