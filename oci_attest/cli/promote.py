"""``attest promote SRC DST``: verify, then copy the image and its attestations by digest."""

from __future__ import annotations

import json
from typing import Any

import click

from oci_attest.cli.common import progress_printer
from oci_attest.cli.verify import build_policy, verification_options


@click.command(context_settings={"max_content_width": 100})
@click.argument("src")
@click.argument("dst")
@verification_options
@click.option("--copy-all-attestations", is_flag=True,
              help="Also copy the attestations verification rejected or found unsigned "
                   "(by default they stay behind).")
def promote(src: str, dst: str, copy_all_attestations: bool, **params: Any) -> None:
    """Verify SRC against the policy; only if it holds, copy it to DST with its evidence.

    The image is copied by digest (every blob, every manifest byte for byte, every platform
    manifest of an index) together with the attestations verification read and accepted
    (bundle referrers and cosign sha256-<hex>.att layers), exactly as they were read: the
    source is never listed again. Rejected or unsigned attestations stay behind unless
    --copy-all-attestations is given; the report says which were copied and which were not.
    The destination is verified again after the copy. On success DST@sha256:... is printed
    on stdout; on refusal nothing is copied and the failed checks are printed on stderr.

    \b
    Examples:
      attest promote staging.example/app:1.4 prod.example/app:1.4 --policy prod.yaml
      attest promote reg.example/staging/app:1.4 reg.example/prod/app --policy prod.yaml

    Exit codes: 0 promoted, 1 refused (policy failed), 2 usage, 3 bad input, 5 registry
    error.
    """
    from oci_attest.promote import PromotionRefused
    from oci_attest.promote import promote as run_promotion
    from oci_attest.verify.report import render_json, render_text

    output_format = params.pop("output_format")
    policy, key = build_policy(params, image=True)
    say = progress_printer()
    try:
        promotion = run_promotion(src, dst, policy, key=key, progress=say,
                                  copy_all_attestations=copy_all_attestations)
    except PromotionRefused as refused:
        # Every failed check, not only the first, goes out before the one-line refusal.
        if output_format == "json":
            click.echo(render_json(refused.verdict, promoted=None), nl=False)
        else:
            click.echo(render_text(refused.verdict, heading=f"promote {src} -> {dst}"),
                       err=True, nl=False)
        raise
    if output_format == "json":
        document = json.loads(render_json(promotion.source.verdict))
        document["promoted"] = promotion.pinned
        document["copied"] = promotion.stats.to_json()
        document["promotedAttestations"] = promotion.attestations.to_json()
        click.echo(json.dumps(document, indent=2))
        return
    click.echo(render_text(promotion.source.verdict, heading=f"promote {src} -> {dst}"),
               err=True, nl=False)
    for line in promotion.attestations.lines():
        click.echo(line, err=True)
    click.echo(promotion.pinned)
