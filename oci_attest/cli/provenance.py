"""``attest provenance``: signed provenance for things attest did not build itself.

Release files (tarballs, wheels, binaries) get ``<file>.sigstore.json`` next to them, the
layout ``gh attestation verify --bundle`` and ``attest verify --bundle`` read. An image built by
buildx gets its statement attached to the registry like ``attest build``'s.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from oci_attest._internal.files import write_bytes_atomic
from oci_attest.cli.common import format_option, key_value_pairs, progress_printer
from oci_attest.collect.builder import detect_ci
from oci_attest.collect.materials import ExternalImage, parse_dockerfile, resolve_images
from oci_attest.collect.source import collect_source
from oci_attest.errors import InputError, UsageError
from oci_attest.provenance import artifact_predicate
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import attach_cosign_att, attach_referrer
from oci_attest.statements import SLSA_PROVENANCE_V1, Subject, make_statement


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _buildx_images(path: Path) -> list[str]:
    """Images named in a ``docker buildx build --metadata-file`` document."""
    try:
        metadata = json.loads(path.read_text())
        digest = metadata["containerimage.digest"]
        names = str(metadata["image.name"]).split(",")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a buildx metadata file ({error})",
                         hint="write it with `docker buildx build --metadata-file FILE --push`"
                         ) from None
    return [f"{parse_reference(n.strip()).name}@{digest}" for n in names if n.strip()]


@click.command()
@click.option("--subject", "subjects", multiple=True, type=click.Path(dir_okay=False,
              exists=True), help="A release file the provenance is about (repeatable).")
@click.option("--image", "images", multiple=True, metavar="REF",
              help="An image built elsewhere (a tag is resolved to its digest; repeatable).")
@click.option("--buildx-metadata", type=click.Path(dir_okay=False, exists=True),
              help="Take the images from `docker buildx build --metadata-file` output.")
@click.option("-C", "--context", default=".", show_default=True,
              type=click.Path(file_okay=False, exists=True),
              help="Directory inside the git checkout that was built.")
@click.option("-f", "--file", "dockerfile", type=click.Path(dir_okay=False, exists=True),
              help="Dockerfile whose base images to record as materials.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V",
              help="Build args to resolve the Dockerfile's ARGs with (not recorded).")
@click.option("--trust-config", type=click.Path(dir_okay=False, exists=True),
              help="Sigstore ClientTrustConfig JSON of a private instance to sign with.")
@click.option("--identity-token", metavar="TOKEN|@FILE",
              help="OIDC identity token for keyless signing (default: ambient CI credentials).")
@click.option("--no-sign", is_flag=True, help="Write the statement only.")
@click.option("--require-clean", is_flag=True, help="Refuse a dirty git working tree.")
@click.option("--attach", type=click.Choice(["referrers", "cosign", "both", "none"]),
              default="both", show_default=True, help="Layouts for --image subjects.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Directory for the statement and bundle (default: next to the files).")
@format_option
def provenance(subjects: tuple[str, ...], images: tuple[str, ...], buildx_metadata: str | None,
               context: str, dockerfile: str | None, build_args: tuple[str, ...],
               trust_config: str | None, identity_token: str | None, no_sign: bool,
               require_clean: bool, attach: str, output: str | None,
               output_format: str) -> None:
    """Signed SLSA provenance for release files or for images built elsewhere.

    \b
    Examples:
      attest provenance --subject dist/app-1.4.tar.gz --subject dist/app-1.4.whl
      attest provenance --buildx-metadata meta.json -f Dockerfile
    """
    progress = progress_printer()
    image_refs = list(images) + (_buildx_images(Path(buildx_metadata)) if buildx_metadata
                                 else [])
    if not subjects and not image_refs:
        raise UsageError("nothing to describe", hint="pass --subject FILE or --image REF")
    ci = detect_ci()
    source = collect_source(Path(context), ci, require_clean=require_clean)
    statement_subjects: list[Subject] = []
    for name in subjects:
        statement_subjects.append(Subject(name=Path(name).name,
                                          digest={"sha256": _file_digest(Path(name))}))
    pinned_images: list[ImageReference] = []
    for text in image_refs:
        ref = parse_reference(text)
        pinned = RegistryClient(ref.registry).resolve(ref).without_tag()
        assert pinned.digest is not None
        pinned_images.append(pinned)
        statement_subjects.append(Subject(name=pinned.name,
                                          digest={"sha256": pinned.digest.split(":", 1)[1]}))
    materials: list[ExternalImage] = []
    dockerfile_facts = None
    if dockerfile:
        facts = parse_dockerfile(Path(dockerfile), key_value_pairs(build_args, "--build-arg"))
        materials = resolve_images(
            facts, lambda r: RegistryClient(r.registry).resolve(r))
        dockerfile_facts = (dockerfile, facts.sha256)
    predicate = artifact_predicate(
        source=source, ci=ci, artifacts=[s.name for s in statement_subjects], images=materials,
        dockerfile=dockerfile_facts, finished=datetime.now(UTC))
    statement = make_statement(statement_subjects, SLSA_PROVENANCE_V1, predicate)
    out_dir = Path(output) if output else None
    first = Path(subjects[0]) if subjects else None
    statement_path = (out_dir or (first.parent if first else Path.cwd())) / "provenance.intoto.json"
    write_bytes_atomic(statement_path, statement)
    written: dict[str, Any] = {"statement": str(statement_path), "bundles": [], "attached": []}
    if no_sign:
        progress("warning: --no-sign: the statement is NOT signed")
    else:
        from oci_attest.sign import load_trust_config, resolve_identity_token, sign_statements

        trust = load_trust_config(Path(trust_config) if trust_config else None)
        token = resolve_identity_token(identity_token, trust)
        signed = next(iter(sign_statements([("provenance", statement)], identity_token=token,
                                           trust_config=trust)))
        for name in subjects:
            target = (out_dir or Path(name).parent) / f"{Path(name).name}.sigstore.json"
            write_bytes_atomic(target, signed.bundle_json)
            written["bundles"].append(str(target))
            progress(f"wrote {target}")
        if pinned_images and attach != "none":
            for ref in pinned_images:
                client = RegistryClient(ref.registry)
                if attach in ("referrers", "both"):
                    attach_referrer(client, ref, signed.bundle_json, SLSA_PROVENANCE_V1)
                if attach in ("cosign", "both"):
                    attach_cosign_att(client, ref, signed.bundle_json, SLSA_PROVENANCE_V1)
                written["attached"].append(ref.pinned())
                progress(f"attached the provenance to {ref.pinned()}")
        if out_dir and not subjects:
            bundle_path = out_dir / "provenance.sigstore.json"
            write_bytes_atomic(bundle_path, signed.bundle_json)
            written["bundles"].append(str(bundle_path))
    if output_format == "json":
        click.echo(json.dumps(written, indent=2))
    else:
        for line in written["bundles"] + written["attached"] or [written["statement"]]:
            click.echo(line)
