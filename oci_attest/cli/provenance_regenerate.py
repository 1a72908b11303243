"""``attest provenance --regenerate --image NAME@sha256:...``: the trusted signing job.

Kept apart from the rest of ``attest provenance``: the work is in
:mod:`oci_attest.regenerate`; this module turns options into that call, signs what it
returns and attaches it to the digest.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from oci_attest._internal.files import write_bytes_atomic
from oci_attest.cli.common import key_value_pairs, progress_printer
from oci_attest.errors import UsageError


def run_regenerate(*, images: Sequence[str], claims: Sequence[str], context: str,
                   dockerfile: str | None, build_args: Sequence[str], trust_config: str | None,
                   identity_token: str | None, no_sign: bool, attach: str,
                   output: str | None, output_format: str) -> None:
    from oci_attest.regenerate import regenerate
    from oci_attest.registry.client import RegistryClient
    from oci_attest.registry.layouts import attach_cosign_atts, attach_referrers
    from oci_attest.statements import CYCLONEDX_BOM, SLSA_PROVENANCE_V1

    if len(images) != 1:
        raise UsageError("--regenerate takes exactly one --image NAME@sha256:...",
                         hint="the digest the build job printed")
    progress = progress_printer()
    token = None
    trust = None
    if not no_sign:
        from oci_attest.sign import load_trust_config, resolve_identity_token

        # ATTEST_TRUST_CONFIG: a CI template selects a private Sigstore instance without
        # editing its command lines.
        trust_config = trust_config or os.environ.get("ATTEST_TRUST_CONFIG") or None
        trust = load_trust_config(Path(trust_config) if trust_config else None)
        token = resolve_identity_token(identity_token, trust)
    result = regenerate(images[0], context=Path(context),
                        dockerfile=Path(dockerfile) if dockerfile else None,
                        build_args=key_value_pairs(tuple(build_args), "--build-arg"),
                        claims_paths=[Path(c) for c in claims], token=token, progress=progress)
    for line in result.checked:
        progress(f"checked: {line}")
    for line in result.ignored:
        progress(f"ignored: {line}")
    out_dir = Path(output) if output else None
    written: dict[str, Any] = {"image": result.image.pinned(), "statements": [], "bundles": [],
                               "attached": [], "checked": result.checked,
                               "ignored": result.ignored}
    for name, statement in result.statements:
        if out_dir:
            path = out_dir / f"{name}.intoto.json"
            write_bytes_atomic(path, statement)
            written["statements"].append(str(path))
    if not no_sign:
        from oci_attest.sign import sign_statements

        assert token is not None and trust is not None
        signed = list(sign_statements(result.statements, identity_token=token,
                                      trust_config=trust))
        types = {"provenance": SLSA_PROVENANCE_V1, "sbom": CYCLONEDX_BOM}
        for item in signed:
            if out_dir:
                path = out_dir / f"{item.name}.sigstore.json"
                write_bytes_atomic(path, item.bundle_json)
                written["bundles"].append(str(path))
        if attach != "none":
            client = RegistryClient(result.image.registry)
            pairs = [(s.bundle_json, types[s.name]) for s in signed]
            if attach in ("referrers", "both"):
                attach_referrers(client, result.image, pairs)
            if attach in ("cosign", "both"):
                attach_cosign_atts(client, result.image, pairs)
            written["attached"].append(result.image.pinned())
            progress(f"attached {', '.join(s.name for s in signed)} to {result.image.pinned()}")
    else:
        progress("warning: --no-sign: the regenerated statements are NOT signed")
    if output_format == "json":
        click.echo(json.dumps(written, indent=2))
    else:
        click.echo(result.image.pinned())
