"""``attest provenance``: signed provenance for things attest did not build itself.

Release files (tarballs, wheels, binaries) get ``<file>.sigstore.json`` next to them, the
layout ``gh attestation verify --bundle`` and ``attest verify --bundle`` read. An image built by
buildx gets its statement attached to the registry like ``attest build``'s. The buildType
(``…#artifact-v1``, docs/buildtype.md) says attest did not run the build: materials are
recorded as claims of the other builder (buildx's own provenance when its metadata file has
one), and verifiers accept it for images only when their policy lists that build type.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from oci_attest._internal import strict_json
from oci_attest._internal.files import write_bytes_atomic
from oci_attest.cli.common import (
    EXISTING_DIR,
    EXISTING_FILE,
    format_option,
    key_value_pairs,
    progress_printer,
)
from oci_attest.collect.builder import detect_ci
from oci_attest.collect.materials import ExternalImage, parse_dockerfile, resolve_images
from oci_attest.collect.source import collect_source
from oci_attest.errors import InputError, UsageError
from oci_attest.provenance import OtherBuilder, artifact_predicate
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import attach_cosign_att, attach_referrer
from oci_attest.statements import SLSA_PROVENANCE_V1, Subject, make_statement

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _buildx_metadata(path: Path) -> tuple[list[str], OtherBuilder]:
    """Images named in a ``docker buildx build --metadata-file`` document, and what buildx
    recorded about its build (``buildx.build.provenance``, when buildx wrote one)."""
    try:
        metadata = strict_json.loads(path.read_bytes())
        digest = metadata["containerimage.digest"]
        names = str(metadata["image.name"]).split(",")
        if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
            raise ValueError(f"containerimage.digest {str(digest)[:80]!r} is not sha256:<hex>")
        other = _buildx_provenance(metadata.get("buildx.build.provenance"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
        raise InputError(f"{path} is not a usable buildx metadata file ({error})",
                         hint="write it with `docker buildx build --metadata-file FILE --push`"
                         ) from None
    return [f"{parse_reference(n.strip()).name}@{digest}" for n in names if n.strip()], other


def _buildx_provenance(document: Any) -> OtherBuilder:
    """buildx's own provenance (SLSA v0.2 ``materials`` or v1 ``resolvedDependencies``): only
    uri, digest and name of each material are kept, each checked for type."""
    if document is None:
        return OtherBuilder(tool="buildx", materials=[])
    if not isinstance(document, dict):
        raise ValueError("buildx.build.provenance is not an object")
    definition = document.get("buildDefinition")
    if isinstance(definition, dict):  # SLSA v1
        raw = definition.get("resolvedDependencies", [])
        build_type = definition.get("buildType")
        run = document.get("runDetails")
        builder = run.get("builder") if isinstance(run, dict) else None
    else:  # SLSA v0.2
        raw = document.get("materials", [])
        build_type = document.get("buildType")
        builder = document.get("builder")
    builder_id = builder.get("id") if isinstance(builder, dict) else None
    if not isinstance(raw, list):
        raise ValueError("buildx.build.provenance materials are not a list")
    materials = []
    for index, item in enumerate(raw):
        uri = item.get("uri") if isinstance(item, dict) else None
        digests = item.get("digest", {}) if isinstance(item, dict) else None
        if not isinstance(uri, str) or not isinstance(digests, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in digests.items()):
            raise ValueError(f"buildx.build.provenance material {index} is malformed")
        material: dict[str, Any] = {"uri": uri, "digest": dict(digests)}
        if isinstance(item.get("name"), str):
            material["name"] = item["name"]
        materials.append(material)
    return OtherBuilder(tool="buildx", materials=materials,
                        builder_id=builder_id if isinstance(builder_id, str) else None,
                        build_type=build_type if isinstance(build_type, str) else None,
                        recorded_in="buildx.build.provenance")


@click.command()
@click.option("--subject", "subjects", multiple=True, type=EXISTING_FILE,
              help="A release file the provenance is about (repeatable).")
@click.option("--image", "images", multiple=True, metavar="REF",
              help="An image built elsewhere (a tag is resolved to its digest; repeatable).")
@click.option("--buildx-metadata", type=EXISTING_FILE,
              help="Take the images from `docker buildx build --metadata-file` output.")
@click.option("-C", "--context", default=".", show_default=True,
              type=EXISTING_DIR,
              help="Directory inside the git checkout that was built.")
@click.option("-f", "--file", "dockerfile", type=EXISTING_FILE,
              help="Dockerfile whose base images to record as materials.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V",
              help="Build args to resolve the Dockerfile's ARGs with (not recorded).")
@click.option("--trust-config", type=EXISTING_FILE,
              help="Sigstore ClientTrustConfig JSON of a private instance to sign with.")
@click.option("--identity-token", metavar="TOKEN|@FILE",
              help="OIDC identity token for keyless signing (default: ambient CI credentials).")
@click.option("--no-sign", is_flag=True, help="Write the statement only.")
@click.option("--require-clean", is_flag=True, help="Refuse a dirty git working tree.")
@click.option("--attach", type=click.Choice(["referrers", "cosign", "both", "none"]),
              default="both", show_default=True, help="Layouts for --image subjects.")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Directory for the statement and bundle (default: next to the files).")
@click.option("--regenerate", is_flag=True,
              help="Trusted signing job: take only the digest of --image NAME@sha256:... from "
                   "the build job; read the image, scan it, make its SBOM and take source and "
                   "builder facts from this job's own checkout, CI and OIDC token.")
@click.option("--claims", "claims", multiple=True, type=click.Path(dir_okay=False),
              help="With --regenerate: the build job's statements; refuse if they disagree.")
@format_option
def provenance(subjects: tuple[str, ...], images: tuple[str, ...], buildx_metadata: str | None,
               context: str, dockerfile: str | None, build_args: tuple[str, ...],
               trust_config: str | None, identity_token: str | None, no_sign: bool,
               require_clean: bool, attach: str, output: str | None,
               regenerate: bool, claims: tuple[str, ...], output_format: str) -> None:
    """Signed SLSA provenance for release files or for images built elsewhere.

    \b
    Examples:
      attest provenance --subject dist/app-1.4.tar.gz --subject dist/app-1.4.whl
      attest provenance --buildx-metadata meta.json -f Dockerfile
      attest provenance --regenerate --image ghcr.io/acme/app@sha256:... \\
          --claims out/provenance.intoto.json -o signed
    """
    if regenerate or claims:
        from oci_attest.cli.provenance_regenerate import run_regenerate

        if subjects or buildx_metadata or not regenerate:
            raise UsageError("--regenerate takes --image NAME@sha256:... (and --claims), "
                             "not --subject or --buildx-metadata")
        return run_regenerate(images=images, claims=claims, context=context,
                              dockerfile=dockerfile, build_args=build_args,
                              trust_config=trust_config, identity_token=identity_token,
                              no_sign=no_sign, attach=attach, output=output,
                              output_format=output_format)
    progress = progress_printer()
    image_refs = list(images)
    other_builder: OtherBuilder | None = None
    if buildx_metadata:
        built, other_builder = _buildx_metadata(Path(buildx_metadata))
        image_refs += built
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
        dockerfile=dockerfile_facts, finished=datetime.now(UTC), other_builder=other_builder)
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
