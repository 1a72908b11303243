"""A local, Sigstore-compatible signing stack for tests and demos (loopback only).

``SigstoreStack.start()`` runs an OIDC issuer, a Fulcio-compatible CA with a CT log, a Rekor
v1/v2 transparency log and an RFC 3161 TSA on ``127.0.0.1``, and hands out the
ClientTrustConfig that points the real ``sigstore`` client at them. Its trust root is
generated per process and labelled NOT FOR PRODUCTION.
"""

from devstack.sigstore.oidc import PROVIDERS
from devstack.sigstore.principals import github_actions_claims, gitlab_claims
from devstack.sigstore.stack import DEFAULT_EMAIL, SigstoreStack

__all__ = ["DEFAULT_EMAIL", "PROVIDERS", "SigstoreStack", "github_actions_claims",
           "gitlab_claims"]
