"""The mirror's own evidence: a SLSA provenance that says "copied from upstream", and an SBOM.

A third-party image has no provenance a cluster can require, or has one from a signer the
cluster does not trust. What the cluster *can* trust is the mirror job: so the mirror signs,
with its own identity, what it did (which upstream reference, which digest, whether the
upstream evidence verified and under which policy) and what the bytes contain (an SBOM read
from the layers it copied). ``attest verify --build-type …#mirror-v1`` with the mirror job's
identity then admits exactly the images that came through the mirror.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oci_attest import __version__
from oci_attest.buildtypes import MIRROR
from oci_attest.collect.builder import CiFacts

#: The buildType of mirror provenance (docs/buildtype.md#mirror-v1).
MIRROR_BUILD_TYPE = MIRROR


def mirror_predicate(*, upstream: str, upstream_digest: str, destination: str,
                     platforms: list[str], verified_with: str | None, ci: CiFacts,
                     started: datetime, finished: datetime,
                     copied_attestations: int) -> dict[str, Any]:
    """SLSA v1 provenance of a mirror copy. The "build" is a byte-for-byte copy, so the one
    resolved dependency is the upstream manifest, by the digest the subject also carries."""
    algorithm, _, hexdigest = upstream_digest.partition(":")
    metadata: dict[str, Any] = {"startedOn": _timestamp(started),
                                "finishedOn": _timestamp(finished)}
    if ci.invocation_id:
        metadata["invocationId"] = ci.invocation_id
    return {
        "buildDefinition": {
            "buildType": MIRROR_BUILD_TYPE,
            "externalParameters": {"source": upstream, "destination": destination,
                                   "platforms": platforms},
            "internalParameters": {
                "upstreamVerified": verified_with is not None,
                "upstreamPolicy": verified_with,
                "copiedAttestations": copied_attestations,
                "ci": {"platform": ci.platform, "runnerEnvironment": ci.runner_environment},
            },
            "resolvedDependencies": [{"uri": f"oci://{upstream}", "name": "upstream",
                                      "digest": {algorithm: hexdigest}}],
        },
        "runDetails": {
            "builder": {"id": ci.builder_id, "version": {"attest": __version__}},
            "metadata": metadata,
        },
    }


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
