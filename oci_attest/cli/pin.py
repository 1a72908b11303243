"""``attest pin PATH...``: image references to ``name:tag@sha256:…``, or ``--check`` them."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from oci_attest.cli.common import progress_printer
from oci_attest.cli.verify import build_policy, verification_options
from oci_attest.errors import EXIT_POLICY_FAILED, UsageError


@click.command(context_settings={"max_content_width": 100})
@click.argument("paths", nargs=-1, metavar="PATH...")
@click.option("--check", is_flag=True,
              help="Change nothing; exit 1 listing every unpinned or stale reference.")
@click.option("--update", is_flag=True,
              help="Also move existing pins to the digest their tag points at now.")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="For a multi-platform tag, pin this platform's manifest (default: the "
                   "index digest, valid on every platform).")
@click.option("--verify", "verify_evidence", is_flag=True,
              help="Pin only digests whose evidence passes `attest verify` with the policy "
                   "given by --policy and the verification flags; refuse the others.")
@verification_options
def pin(paths: tuple[str, ...], check: bool, update: bool, platform: str | None,
        verify_evidence: bool, **params: Any) -> None:
    """Pin image references in Dockerfiles, Kubernetes manifests, compose files and GitHub
    Actions workflows to digests, keeping the tag for people: app:1.4 -> app:1.4@sha256:...

    PATH is a file, a directory (searched for Dockerfile, Containerfile, *.Dockerfile,
    *.yaml, *.yml) or - for YAML on stdin (the pinned YAML goes to stdout). Only the
    references change: comments, key order, quoting and indentation are kept. Nothing is
    written unless every reference resolved. Existing pins are left alone unless --update.

    \b
    Examples:
      attest pin k8s/ Dockerfile docker-compose.yml
      attest pin --check .                      # in CI: fail on unpinned or stale refs
      helm template chart | attest pin - > pinned.yaml
      attest pin --verify --policy prod.yaml deploy/

    Exit codes: 0 done (or nothing to report), 1 --check found unpinned or stale references
    or --verify refused one, 2 usage, 3 bad input, 5 registry error.
    """
    from oci_attest.pin import Mode
    from oci_attest.pin import pin as run_pin

    output_format = params.pop("output_format")
    if check and update:
        raise UsageError("--check and --update contradict each other",
                         hint="use --check in CI and --update to refresh pins")
    mode = Mode.CHECK if check else Mode.UPDATE if update else Mode.PIN
    verifier = _verifier(params) if verify_evidence else None
    if not verify_evidence and _policy_given(params):
        raise UsageError("verification options were given without --verify",
                         hint="add --verify to pin only images whose evidence passes")
    stdin_text = sys.stdin.read() if "-" in paths else None
    if stdin_text is not None and output_format == "json" and mode is not Mode.CHECK:
        raise UsageError("--format json with - would mix the report into the pinned YAML",
                         hint="use --check with -, or pin files")
    run = run_pin(list(paths), mode=mode, platform=platform, verifier=verifier,
                  stdin_text=stdin_text)
    say = progress_printer()
    if output_format == "json":
        click.echo(json.dumps(run.to_json(), indent=2))
    else:
        report = click.echo if stdin_text is None else say
        for outcome in run.outcomes:
            where = f"{outcome.site.path}:{outcome.site.line}"
            line = f"{where}: {outcome.status.value}: {outcome.site.text}"
            if outcome.after and outcome.after != outcome.site.text:
                line += f" -> {outcome.after}"
            if outcome.reason:
                line += f" ({outcome.reason})"
            if outcome.status.value != "kept":
                report(line)
        for skipped in run.skipped:
            say(f"{skipped.path}:{skipped.line}: skipped: {skipped.text} {skipped.reason}")
    if stdin_text is not None and mode is not Mode.CHECK:
        click.echo(run.stdin_output if run.stdin_output is not None else stdin_text, nl=False)
    if run.problems:
        click.get_current_context().exit(EXIT_POLICY_FAILED)


def _policy_given(params: dict[str, Any]) -> bool:
    return any(value not in (None, False, ()) for value in params.values())


def _verifier(params: dict[str, Any]) -> Any:
    from oci_attest.verify.image import trust_for, verify_image

    policy, key = build_policy(params, image=True)
    trust = trust_for(policy)

    def verify(pinned: str) -> str | None:
        result = verify_image(pinned, policy, key=key, trust=trust)
        if result.verdict.passed:
            return None
        failures = result.verdict.failures
        if not failures:
            return "no check passed"
        return "; ".join(f"{c.name}: {c.reason}" for c in failures[:3])

    return verify


__all__ = ["pin"]
