"""``attest tree``: list everything attached to an image digest, verified when signers are given.

Exit codes: 0 listed (whether or not entries verified: this command judges no policy);
2 usage; 3 bad input (policy, trust root, key); 5 registry or TUF unreachable.
"""

from __future__ import annotations

import json
from typing import Any

import click

from oci_attest.cli.verify import build_policy, verification_options

#: Any of these means "verify each entry"; without them every entry is listed [unverified].
_SIGNER_FLAGS = ("policy_file", "key_file", "certificate_identity",
                 "certificate_identity_regexp")


@click.command(context_settings={"max_content_width": 100})
@click.argument("image")
@verification_options
def tree(image: str, **params: Any) -> None:
    """Show IMAGE's digest (and the platforms of an index) and every attestation attached to
    it: OCI referrers (API or fallback tag), cosign .att and .sig tags, BuildKit in-index
    statements.

    With trusted signers (--policy, --certificate-identity[-regexp] with an issuer, or --key)
    each attestation is verified as `attest verify` examines it and shown with its signer and
    signing time; otherwise, or when it does not verify, it is marked [unverified] with the
    reason. Policy rules (builder, source, SBOM) are not judged here: use `attest verify`.

    \b
    Examples:
      attest tree registry.example/app:1.4
      attest tree registry.example/app:1.4 --policy policy.yaml --format json

    Exit codes: 0 listed, 2 usage, 3 bad input, 5 registry/TUF unreachable.
    """
    from oci_attest.tree import Judge, build_tree, render_tree
    from oci_attest.verify.image import trust_for

    output_format = params.pop("output_format")
    judge = None
    if any(params.get(flag) for flag in _SIGNER_FLAGS):
        policy, key = build_policy(params, image=True)
        judge = Judge(policy=policy, trust=trust_for(policy), key=key)
    result = build_tree(image, judge)
    if output_format == "json":
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(render_tree(result), nl=False)
