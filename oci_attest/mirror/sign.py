"""Sign and attach the mirror's evidence at the destination, in every layout verifiers read.

The SBOM is read from the destination's copy (the bytes a cluster will pull), one per platform
manifest; the provenance names every manifest of the image as its subject and is attached to
each, so ``attest verify IMAGE`` and ``attest verify IMAGE --platform P`` both find it. All
statements are signed with one certificate, as in ``attest build``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from oci_attest.collect.builder import detect_ci
from oci_attest.mirror import Signing
from oci_attest.mirror.evidence import mirror_predicate
from oci_attest.reference import ImageReference
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import attach_cosign_atts, attach_referrers
from oci_attest.statements import CYCLONEDX_BOM, SLSA_PROVENANCE_V1, Subject, make_statement


def attach_mirror_evidence(client: RegistryClient, target: ImageReference, tree: list[str], *,
                           signing: Signing, upstream: str, policy_source: str | None,
                           started: datetime, copied_attestations: int,
                           progress: Callable[[str], None]) -> list[str]:
    """Generate, sign and attach; returns one line per attached statement."""
    from oci_attest.sbom import generate_sbom
    from oci_attest.sign import load_trust_config, resolve_identity_token, sign_statements

    trust = load_trust_config(signing.trust_config)
    token = resolve_identity_token(signing.identity_token, trust)
    top = client.get_manifest(target.repository, tree[0])
    platforms: list[str] = []
    statements: list[tuple[str, bytes]] = []
    sbom_subjects: dict[str, str] = {}
    for digest in tree:
        manifest = top if digest == tree[0] else client.get_manifest(target.repository, digest)
        if manifest.is_index:
            continue
        progress(f"generating the SBOM of {target.name}@{digest}")
        sbom = generate_sbom(f"{target.name}@{digest}", progress=progress)
        name = f"sbom-{digest.split(':', 1)[1][:12]}"
        statements.append((name, make_statement([_subject(target, digest)], CYCLONEDX_BOM,
                                                sbom.document)))
        sbom_subjects[name] = digest
    if top.is_index:
        platforms = [_platform_text(child.platform) for child in top.manifests()
                     if child.digest in tree]
    predicate = mirror_predicate(
        upstream=upstream, upstream_digest=tree[0],
        destination=f"{target.name}:{target.tag}" if target.tag else target.name,
        platforms=platforms, verified_with=policy_source, ci=detect_ci(),
        started=started, finished=datetime.now(UTC),
        copied_attestations=copied_attestations)
    statements.insert(0, ("provenance", make_statement(
        [_subject(target, digest) for digest in tree], SLSA_PROVENANCE_V1, predicate)))
    progress(f"signing the mirror's provenance and {len(sbom_subjects)} SBOM(s)")
    bundles = {signed.name: signed.bundle_json
               for signed in sign_statements(statements, identity_token=token,
                                             trust_config=trust)}
    attached: list[str] = []
    for digest in tree:
        subject = target.without_tag().with_digest(digest)
        items = [(bundles["provenance"], SLSA_PROVENANCE_V1)]
        items += [(bundles[name], CYCLONEDX_BOM) for name, sbom_digest in sbom_subjects.items()
                  if sbom_digest == digest]
        attach_referrers(client, subject, items)
        attach_cosign_atts(client, subject, items)
        attached += [f"{'provenance' if kind == SLSA_PROVENANCE_V1 else 'sbom'} @{digest}"
                     for _, kind in items]
    return attached


def _subject(target: ImageReference, digest: str) -> Subject:
    algorithm, _, hexdigest = digest.partition(":")
    return Subject(name=target.name, digest={algorithm: hexdigest})


def _platform_text(platform: Mapping[str, Any] | None) -> str:
    spec = platform or {}
    text = f"{spec.get('os', 'unknown')}/{spec.get('architecture', 'unknown')}"
    return f"{text}/{spec['variant']}" if spec.get("variant") else text
