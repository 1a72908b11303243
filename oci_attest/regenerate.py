"""The trusted signing job: provenance it establishes itself, never what it is handed.

In a split pipeline the build job runs untrusted steps (the Dockerfile's ``RUN`` lines, the
project's build scripts) and may hold no signing identity; the signing job alone can get one.
If the signing job signed the statements the build job wrote, a compromised build could claim
any commit, ref, base image or clean secret scan and have it signed: SLSA Build L3 requires
the trusted part to *produce* what it signs. So the signing job takes only the image digest
from the build job and establishes everything else itself:

* the image: read from the registry by that digest (the registry verifies nothing, so the
  manifest bytes are hashed here);
* the source: its own checkout (commit, ref, clean tree), which must agree with its own CI
  variables and, when signing, with the claims of its own OIDC token;
* the builder: its own CI facts (builder id, run);
* the materials: the Dockerfile of its own checkout, every external image resolved through
  the registry; the final stage's base image must be a prefix of the image's layers;
* the SBOM and the secret scan: computed from the pushed image's layers.

The build job's statements, when given, are compared with these facts; any disagreement is a
refusal (exit 1), because it means the build job lied or built something else. Claims the
signing job cannot check (the build job's secret-scan result, its timings) are ignored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oci_attest.collect.builder import CiFacts, detect_ci
from oci_attest.collect.materials import ExternalImage, parse_dockerfile, resolve_images
from oci_attest.collect.source import SourceFacts, collect_source
from oci_attest.errors import InputError, SecretsFound, UsageError, VerificationFailed
from oci_attest.provenance import BuildParameters, RunFacts, build_predicate
from oci_attest.redact import redact_mapping
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.statements import (
    CYCLONEDX_BOM,
    SLSA_PROVENANCE_V1,
    ParsedStatement,
    Subject,
    make_statement,
    parse_statement,
)

Progress = Callable[[str], None]
#: A build job's statement is compared, never trusted; one larger than this is refused unread
#: (an SBOM of a large image is a few MiB).
MAX_CLAIM_BYTES = 64 * 1024 * 1024
#: internalParameters.backend of a regenerated provenance: the image was built by another,
#: untrusted job; everything in the statement was established by the signing job.
BACKEND = "regenerated-by-signing-job"


@dataclass
class Regenerated:
    """The statements the signing job produced, and what it compared."""

    image: ImageReference
    statements: list[tuple[str, bytes]]
    checked: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def token_claims(token: str) -> dict[str, Any]:
    """The claims of an OIDC token, unverified: the CA verifies the token and binds these
    claims into the certificate, so a token whose claims disagree with the checkout would only
    produce a certificate that disagrees with the provenance."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise InputError("the identity token is not a JWT",
                         hint="pass the CI's OIDC token (it is never printed)") from None
    if not isinstance(claims, dict):
        raise InputError("the identity token's payload is not a JSON object")
    return claims


def check_own_context(source: SourceFacts, ci: CiFacts,
                      claims: Mapping[str, Any] | None) -> list[str]:
    """The signing job's three views of what is being released must agree: the commit it
    checked out, its CI variables, and its OIDC token's claims."""
    problems: list[str] = []
    if not source.commit:
        raise InputError("the signing job's context is not a git checkout",
                         hint="check out the commit being released (actions/checkout) and "
                              "pass -C DIR")
    if ci.commit and ci.commit != source.commit:
        problems.append(f"the checkout is at {source.commit[:12]} but the CI says "
                        f"{ci.commit[:12]}")
    if claims:
        sha = claims.get("sha")
        if isinstance(sha, str) and sha and sha != source.commit:
            problems.append(f"the OIDC token is for commit {sha[:12]}, the checkout is "
                            f"{source.commit[:12]}")
        ref = claims.get("ref_path") or claims.get("ref")
        own_ref = ci.ref or source.ref
        if isinstance(ref, str) and ref and own_ref and _full_ref(ref) != _full_ref(own_ref):
            problems.append(f"the OIDC token is for {ref}, the job builds {own_ref}")
    if problems:
        raise VerificationFailed("the signing job's own context disagrees with itself: "
                                 + "; ".join(problems),
                                 hint="check out exactly the commit the workflow runs for")
    return ["commit: checkout = CI" + (" = OIDC token" if claims else "")]


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


def load_claims(paths: Sequence[Path]) -> list[ParsedStatement]:
    """The build job's statements (untrusted: parsed strictly, used only for comparison)."""
    claims = []
    for path in paths:
        try:
            if path.stat().st_size > MAX_CLAIM_BYTES:
                raise VerificationFailed(
                    f"the build job's statement {path} is larger than {MAX_CLAIM_BYTES} bytes",
                    hint="nothing was signed; check what the build job produced")
            payload = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read the build job's statement {path}: {error.strerror}",
                             hint="pass the .intoto.json files the build job wrote") from None
        claims.append(parse_statement(payload, None))
    return claims


def _base_prefix_check(client_for: Callable[[str], RegistryClient], image: ImageReference,
                       images: list[ExternalImage], stages_last_from: ExternalImage | None,
                       platform: str) -> str | None:
    """The final stage's external base image must be a prefix of the pushed image's layers
    (compared by uncompressed diff_ids, which no recompression changes)."""
    if stages_last_from is None or stages_last_from.resolved is None:
        return None
    image_ids = _diff_ids(client_for(image.registry), image, platform)
    base = stages_last_from.resolved
    base_ids = _diff_ids(client_for(base.registry), base, platform)
    if image_ids[:len(base_ids)] != base_ids:
        raise VerificationFailed(
            f"the image {image.pinned()} was not built on {base.pinned()} (the base image "
            f"of the Dockerfile's last stage): its layers do not start with the base's",
            hint="the build job built from another base or another Dockerfile; rebuild")
    return f"base image: {base.pinned()} is the prefix of the image's layers"


def _diff_ids(client: RegistryClient, ref: ImageReference, platform: str) -> list[str]:
    assert ref.digest is not None
    manifest = client.get_manifest(ref.repository, ref.digest)
    if manifest.is_index:
        os_name, _, arch = platform.partition("/")
        chosen = next((d for d in manifest.manifests() if d.platform
                       and d.platform.get("os") == os_name
                       and d.platform.get("architecture") == arch), None)
        if chosen is None:
            raise InputError(f"{ref.pinned()} has no {platform} image")
        manifest = client.get_manifest(ref.repository, chosen.digest)
    config = json.loads(client.get_blob(ref.repository, manifest.config().digest))
    ids = config.get("rootfs", {}).get("diff_ids", []) if isinstance(config, dict) else []
    return [str(i) for i in ids]


def compare_claims(claims: list[ParsedStatement], *, image: ImageReference,
                   source: SourceFacts, dockerfile_sha256: str,
                   images: list[ExternalImage]) -> tuple[list[str], list[str]]:
    """Refuse when the build job's statements say something else than the signing job found;
    returns (what was compared, what was ignored)."""
    assert image.digest is not None
    algorithm, _, hexdigest = image.digest.partition(":")
    checked: list[str] = []
    ignored: list[str] = []
    problems: list[str] = []
    for claim in claims:
        if not any(d.get(algorithm) == hexdigest for _, d in claim.subjects):
            problems.append(f"a {claim.predicate_type} statement is about "
                            f"{', '.join(claim.subject_digests())}, not {image.digest}")
    checked.append("subject digest")
    for claim in (c for c in claims if c.predicate_type == SLSA_PROVENANCE_V1):
        definition = claim.predicate.get("buildDefinition", {})
        internal = definition.get("internalParameters", {}) if isinstance(definition, dict) \
            else {}
        git = internal.get("git", {}) if isinstance(internal, dict) else {}
        git = git if isinstance(git, dict) else {}
        if git.get("commit") not in (None, source.commit):
            problems.append(f"the build job claims commit {str(git.get('commit'))[:40]}, the "
                            f"signing job checked out {source.commit}")
        if git.get("ref") and source.ref and git.get("ref") != source.ref:
            problems.append(f"the build job claims ref {str(git.get('ref'))[:100]}, the "
                            f"signing job runs for {source.ref}")
        deps = definition.get("resolvedDependencies", []) if isinstance(definition, dict) \
            else []
        own = {i.resolved.name: i.resolved.digest for i in images if i.resolved is not None}
        for dep in deps if isinstance(deps, list) else []:
            if not isinstance(dep, dict):
                continue
            if dep.get("name") == "source":
                claimed_commit = (dep.get("digest") or {}).get("gitCommit")
                if claimed_commit and claimed_commit != source.commit:
                    problems.append(f"the build job claims source commit "
                                    f"{str(claimed_commit)[:40]}, the signing job checked out "
                                    f"{source.commit}")
            if dep.get("name") == "Dockerfile":
                claimed = (dep.get("digest") or {}).get("sha256")
                if claimed and claimed != dockerfile_sha256:
                    problems.append("the build job's Dockerfile differs from the checkout's "
                                    f"(sha256 {str(claimed)[:16]}… vs "
                                    f"{dockerfile_sha256[:16]}…)")
            pinned = (dep.get("annotations") or {}).get("pinned") \
                if isinstance(dep.get("annotations"), dict) else None
            if isinstance(pinned, str) and "@" in pinned:
                name, _, digest = pinned.partition("@")
                try:
                    name = parse_reference(name).name
                except InputError:
                    problems.append(f"the build job claims an unreadable base image "
                                    f"{pinned[:100]!r}")
                    continue
                if name not in own:
                    problems.append(f"the build job claims base image {pinned[:200]}, which "
                                    "the checkout's Dockerfile does not use")
                elif own[name] != digest:
                    problems.append(f"the build job claims base image {pinned[:200]}, the "
                                    f"registry has {name}@{own[name]}")
        if "secretScan" in internal:
            ignored.append("the build job's secret-scan result (scanned again here)")
        ignored.append("the build job's builder, timings and parameters")
    if any(c.predicate_type != SLSA_PROVENANCE_V1 for c in claims):
        ignored.append("the build job's SBOM (generated again here from the pushed layers)")
    if claims:
        checked += ["commit", "ref", "Dockerfile digest", "base images"]
    if problems:
        raise VerificationFailed("the build job's statements disagree with what the signing "
                                 "job established: " + "; ".join(problems),
                                 hint="nothing was signed; rebuild from the released commit")
    return checked, ignored


def regenerate(image_text: str, *, context: Path, dockerfile: Path | None,
               build_args: Mapping[str, str], claims_paths: Sequence[Path],
               token: str | None, redact: Sequence[str] = (), sbom: bool = True,
               progress: Progress = lambda _: None,
               env: Mapping[str, str] | None = None) -> Regenerated:
    """Establish the provenance (and SBOM) of ``image_text`` (``NAME@sha256:...``) from the
    signing job's own context and the registry. Raises on any disagreement."""
    image = parse_reference(image_text, default_tag=None)
    if not image.digest:
        raise UsageError(f"--image {image_text} has no digest: the signing job takes the "
                         "digest from the build job, never a tag (a tag can move)",
                         hint="pass NAME@sha256:<hex> from the build job's output")
    image = image.without_tag()
    clients: dict[str, RegistryClient] = {}

    def client_for(registry: str) -> RegistryClient:
        return clients.setdefault(registry, RegistryClient(registry))

    assert image.digest is not None
    progress(f"reading {image.pinned()} from the registry")
    client_for(image.registry).get_manifest(image.repository, image.digest)
    ci = detect_ci(env)
    source = collect_source(context, ci, require_clean=True)
    checked = check_own_context(source, ci, token_claims(token) if token else None)
    dockerfile_path = dockerfile or context / "Dockerfile"
    facts = parse_dockerfile(dockerfile_path, build_args)
    images = resolve_images(facts, lambda r: client_for(r.registry).resolve(r))
    claims = load_claims(claims_paths)
    compared, ignored = compare_claims(claims, image=image, source=source,
                                       dockerfile_sha256=facts.sha256, images=images)
    checked += compared
    last_from = _last_stage_base(facts.content, images)
    prefix = _base_prefix_check(client_for, image, images, last_from, "linux/amd64")
    if prefix:
        checked.append(prefix)
    progress("scanning every layer of the pushed image for secrets")
    from oci_attest.secrets import scan_image

    report = scan_image(image.pinned(), progress=progress)
    if not report.clean:
        for finding in report.findings:
            progress(f"secret: {finding.render()}")
        raise SecretsFound(f"{len(report.findings)} secret(s) in {image.pinned()}; nothing was "
                           "signed", hint="remove them, rotate them, rebuild")
    started = datetime.now(UTC)
    repo_root = context.resolve()
    for _ in Path(source.subdirectory).parts if source.subdirectory != "." else ():
        repo_root = repo_root.parent
    params = BuildParameters(
        context=source.subdirectory,
        dockerfile=_relative(dockerfile_path, repo_root),
        dockerfile_sha256=facts.sha256,
        tags=[image.name],
        build_args=redact_mapping(dict(build_args), list(redact)),
    )
    predicate = build_predicate(
        source=source, ci=ci, params=params, images=images, remote_files=facts.remote_files,
        run=RunFacts(backend=BACKEND, backend_version={}, started=started,
                     finished=datetime.now(UTC), secret_scan=report.summary()))
    predicate["buildDefinition"]["internalParameters"]["regenerated"] = {
        "checked": list(checked), "ignored": list(ignored)}
    subject = Subject(name=image.name, digest={"sha256": image.digest.split(":", 1)[1]})
    statements = [("provenance", make_statement([subject], SLSA_PROVENANCE_V1, predicate))]
    if sbom:
        from oci_attest.sbom import generate_sbom

        progress(f"generating the SBOM of {image.pinned()}")
        document = generate_sbom(image.pinned(), progress=progress).document
        statements.append(("sbom", make_statement([subject], CYCLONEDX_BOM, document)))
    return Regenerated(image=image, statements=statements, checked=checked, ignored=ignored)


def _last_stage_base(content: bytes, images: list[ExternalImage]) -> ExternalImage | None:
    """The external image the last ``FROM`` names (None for scratch or a named stage)."""
    from oci_attest.build.features import last_from_line

    line = last_from_line(content)
    return next((i for i in images if i.instruction == "FROM" and i.line == line), None)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
