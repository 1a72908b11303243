"""``attest tree``: what is attached to an image, in every layout, and whether it verifies.

Like ``cosign tree``, but across all the places attestations live (OCI 1.1 referrers through
the API or the fallback tag, cosign ``.att`` and ``.sig`` tags, BuildKit's in-index manifests)
and, when trusted signers are given, each entry is verified exactly as ``attest verify`` would
examine it: a signer and time are shown only for entries that verified, everything else is
marked ``[unverified]`` with the reason. Nothing here judges a policy; it shows what exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import DigestMismatch, InputError
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.client import Manifest, RegistryClient
from oci_attest.verify.bundles import ArtifactDigest, PublicKey
from oci_attest.verify.image import evidence_from_found
from oci_attest.verify.judge import examine
from oci_attest.verify.policy import Policy
from oci_attest.verify.trust import TrustMaterial


@dataclass(frozen=True)
class Node:
    """One attestation or signature: where it is and, if it verified, who signed it when."""

    layout: str
    location: str
    predicate_type: str | None
    verified: bool
    signer: str | None = None
    signed_at: str | None = None
    reason: str | None = None
    via: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"layout": self.layout, "location": self.location, "via": self.via,
                "predicateType": self.predicate_type, "verified": self.verified,
                "signer": self.signer, "signedAt": self.signed_at, "reason": self.reason}


@dataclass
class Tree:
    reference: str
    digest: str
    media_type: str
    attestations: list[Node] = field(default_factory=list)
    platforms: list[tuple[str, str, list[Node]]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"image": self.reference, "digest": self.digest, "mediaType": self.media_type,
                "attestations": [n.to_json() for n in self.attestations],
                "platforms": [{"platform": p, "digest": d,
                               "attestations": [n.to_json() for n in nodes]}
                              for p, d, nodes in self.platforms]}


@dataclass(frozen=True)
class Judge:
    """What is needed to verify entries; absent, every entry is shown ``[unverified]``."""

    policy: Policy
    trust: TrustMaterial
    key: PublicKey | None = None


def build_tree(image: str, judge: Judge | None = None,
               client: RegistryClient | None = None) -> Tree:
    ref = parse_reference(image)
    client = client or RegistryClient.for_reference(ref)
    resolved = client.resolve(ref)
    assert resolved.digest is not None
    manifest = client.get_manifest(resolved.repository, resolved.digest)
    tree = Tree(reference=resolved.pinned(), digest=resolved.digest,
                media_type=manifest.media_type,
                attestations=_attached(client, resolved, judge))
    if manifest.is_index:
        for child in manifest.manifests():
            spec = child.platform or {}
            if spec.get("os") == "unknown":  # BuildKit attestation manifests, listed above
                continue
            name = "/".join(str(spec[k]) for k in ("os", "architecture", "variant")
                            if spec.get(k)) or "?"
            tree.platforms.append((name, child.digest,
                                   _attached(client, resolved.with_digest(child.digest),
                                             judge)))
    return tree


def _attached(client: RegistryClient, subject: ImageReference,
              judge: Judge | None) -> list[Node]:
    assert subject.digest is not None
    target = ArtifactDigest.parse(subject.digest)
    nodes = []
    for found in layouts.discover(client, subject):
        if judge is None:
            nodes.append(Node(found.layout, found.location, found.predicate_type_hint, False,
                              reason="no trusted signer given", via=found.via))
            continue
        examined = examine(evidence_from_found(found), target, judge.policy, judge.trust,
                           key=judge.key)
        evidence = examined.evidence
        verified = examined.accepted and evidence is not None
        nodes.append(Node(
            layout=found.layout, location=found.location,
            predicate_type=examined.predicate_type, verified=verified,
            signer=evidence.signer.describe() if verified and evidence else None,
            signed_at=evidence.signed_at.isoformat() if verified and evidence else None,
            reason=None if verified else examined.rejection, via=found.via))
    nodes += _cosign_signatures(client, subject)
    return nodes


def _cosign_signatures(client: RegistryClient, subject: ImageReference) -> list[Node]:
    """cosign's ``sha256-<hex>.sig`` simple-signing signatures: listed, never verified (they
    sign a claim about the image, not an attestation; attest does not judge them)."""
    assert subject.digest is not None
    tag = subject.digest.replace(":", "-") + ".sig"
    try:
        if client.head_manifest(subject.repository, tag) is None:
            return []
        manifest: Manifest = client.get_manifest(subject.repository, tag)
    except (InputError, DigestMismatch):
        return []
    return [Node("cosign-sig", f"{tag} layer {layer.digest}", None, False,
                 reason="cosign signature: listed, not verified by attest")
            for layer in manifest.layers()]


def _printable(text: str) -> str:
    """Registry and attestation text is attacker-controlled: no terminal control sequences."""
    return "".join(c if c.isprintable() else "?" for c in text)


def render_tree(tree: Tree) -> str:
    """Text for a terminal; every line passes through :func:`_printable`."""
    lines = [f"📦 {tree.reference}"]
    sections: list[tuple[str, list[Node]]] = [("attestations", tree.attestations)]
    sections += [(f"platform {p} {d}", nodes) for p, d, nodes in tree.platforms]
    for position, (title, nodes) in enumerate(sections):
        last_section = position == len(sections) - 1
        lines.append(f"{'└──' if last_section else '├──'} {title} ({len(nodes)})")
        indent = "    " if last_section else "│   "
        for index, node in enumerate(nodes):
            last = index == len(nodes) - 1
            lines.append(f"{indent}{'└──' if last else '├──'} {node.location}"
                         + (f" (via {node.via})" if node.via else ""))
            inner = indent + ("    " if last else "│   ")
            lines.append(f"{inner}type:   {node.predicate_type or '?'}")
            if node.verified:
                lines.append(f"{inner}signer: {node.signer}")
                lines.append(f"{inner}signed: {node.signed_at}")
            else:
                lines.append(f"{inner}[unverified] {node.reason or ''}".rstrip())
    return "\n".join(_printable(line) for line in lines) + "\n"
