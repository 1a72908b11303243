"""``attest mirror SRC DST`` and ``attest mirror --config FILE``: verified copies with evidence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from oci_attest.cli.common import progress_printer
from oci_attest.cli.verify import build_policy, verification_options
from oci_attest.errors import AttestError, UsageError


@click.command(context_settings={"max_content_width": 100})
@click.argument("src", required=False)
@click.argument("dst", required=False)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Mirror every repository and tag pattern listed in this YAML file.")
@click.option("--dry-run", is_flag=True, help="With --config: print the plan, copy nothing.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="Mirror only this platform's manifest of a multi-platform image.")
@click.option("--identity-token", metavar="TOKEN|@FILE",
              help="OIDC token for signing the mirror's evidence (default: ambient CI "
                   "credentials). Never printed or stored.")
@click.option("--no-sign", is_flag=True,
              help="Copy only: attach no SBOM or provenance of the mirror's own.")
@verification_options
def mirror(src: str | None, dst: str | None, config_file: Path | None, dry_run: bool,
           platform: str | None, identity_token: str | None, no_sign: bool,
           **params: Any) -> None:
    """Copy SRC into a trusted registry as DST, by digest, with every attestation attached
    upstream, then attach the mirror's own signed SBOM and provenance (buildType
    ...#mirror-v1, naming the upstream reference and digest).

    With --policy (or the identity flags of `attest verify`) the upstream evidence is
    verified first and nothing is copied when it fails. --trust-config serves both the
    verification and the signing. A destination tag that already points at the upstream
    digest is left alone. With --config FILE, every tag matching the listed patterns is
    synced (see docs in README: mirrors, source, destination, tags, platform, policy).

    \b
    Examples:
      attest mirror docker.io/library/nginx:1.27 registry.internal/mirror/nginx
      attest mirror upstream.example/app:2 registry.internal/app --policy upstream.yaml
      attest mirror --config mirrors.yaml --dry-run

    Exit codes: 0 mirrored (or already there), 1 upstream evidence failed the policy,
    2 usage, 3 bad input, 5 registry error, 6 signing error.
    """
    from oci_attest.mirror import MirrorRefused, Signing, mirror_image
    from oci_attest.verify.report import render_text

    output_format = params.pop("output_format")
    say = progress_printer()
    trust_config = params.get("trust_config")
    signing = None if no_sign else Signing(
        trust_config=Path(trust_config) if trust_config else None,
        identity_token=identity_token)
    if config_file is not None:
        if src or dst or platform:
            raise UsageError("--config takes its sources, destinations and platforms from "
                             "the file", hint="drop SRC, DST and --platform")
        _sync(config_file, dry_run, signing, params, output_format)
        return
    if dry_run:
        raise UsageError("--dry-run goes with --config")
    if not src or not dst:
        raise UsageError("give SRC and DST (or --config FILE)",
                         hint="attest mirror docker.io/library/nginx:1.27 "
                              "registry.internal/mirror/nginx")
    policy, key = build_policy(params, image=True) if _verifying(params) else (None, None)
    try:
        result = mirror_image(src, dst, policy=policy, key=key, signing=signing,
                              platform=platform, progress=say,
                              policy_source=policy.source if policy is not None else None)
    except MirrorRefused as refused:
        click.echo(render_text(refused.verdict, heading=f"mirror {src} -> {dst}"), err=True,
                   nl=False)
        raise
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(str(result.destination))


def _verifying(params: dict[str, Any]) -> bool:
    """Whether any verification option was given (the trust config alone also signs)."""
    return any(value not in (None, False, ()) for name, value in params.items()
               if name != "trust_config")


def _sync(config_file: Path, dry_run: bool, signing: Any, params: dict[str, Any],
          output_format: str) -> None:
    from oci_attest.mirror import mirror_image
    from oci_attest.mirror.sync import load_config, plan
    from oci_attest.verify.policy import combine, for_images, load_policy

    say = progress_printer()
    entries = load_config(config_file)
    planned = plan(entries)
    if dry_run:
        if output_format == "json":
            click.echo(json.dumps([p.to_json() for p in planned], indent=2))
        for item in planned:
            action = "up to date" if item.up_to_date else "would mirror"
            if output_format != "json":
                click.echo(f"{action}: {item.entry.source}:{item.tag} -> "
                           f"{item.entry.destination}:{item.tag} ({item.upstream_digest})")
        return
    base_policy, key = (build_policy(params, image=True) if _verifying(params)
                        else (None, None))
    failures: list[AttestError] = []
    results = []
    for item in planned:
        if item.up_to_date:
            say(f"up to date: {item.entry.destination}:{item.tag}")
            continue
        policy = base_policy
        if item.entry.policy is not None:
            from oci_attest.verify.policy import PolicyFlags

            policy = for_images(combine(load_policy(item.entry.policy), PolicyFlags()))
        try:
            results.append(mirror_image(
                f"{item.entry.source}:{item.tag}", f"{item.entry.destination}:{item.tag}",
                policy=policy, key=key, signing=signing, platform=item.entry.platform,
                progress=say, policy_source=policy.source if policy is not None else None))
        except AttestError as error:
            failures.append(error)
            click.echo(error.render(), err=True)
    if output_format == "json":
        click.echo(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for result in results:
            click.echo(str(result.destination))
    if failures:
        click.echo(f"attest: {len(failures)} of {len(planned)} mirror copies failed "
                   "(each is named above)", err=True)
        click.get_current_context().exit(failures[0].exit_code)
