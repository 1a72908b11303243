"""``attest build``: the producer pipeline around ``docker build && docker push`` (or buildah)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import click

from oci_attest import step_summary
from oci_attest.build.select import backend_factory
from oci_attest.cli.build_backend import backend_option, prepare_backend, secret_option
from oci_attest.cli.common import (
    EXISTING_DIR,
    EXISTING_FILE,
    format_option,
    key_value_pairs,
    progress_printer,
)
from oci_attest.cli.vulns import parse_ignores
from oci_attest.errors import AttestError, InputError, SecretsFound, UsageError
from oci_attest.pipeline import BuildOptions, Pipeline, resume_run, start_run
from oci_attest.redact import REDACTED


@click.command(context_settings={"max_content_width": 100})
@click.argument("context", required=False, type=click.Path(file_okay=False))
@click.option("-t", "--tag", "tags", multiple=True, metavar="REF",
              help="Name and tag to push to (repeatable).")
@click.option("-f", "--file", "dockerfile", type=click.Path(dir_okay=False),
              help="Dockerfile (default: CONTEXT/Dockerfile).")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V",
              help="Build argument (repeatable). Secret-looking values are redacted.")
@click.option("--target", help="Build stage to build.")
@click.option("--label", "labels", multiple=True, metavar="K=V",
              help="Image label (repeatable). Secret-looking or --redact values are redacted.")
@click.option("--network", help="Network mode for RUN instructions (e.g. host).")
@click.option("--pull", is_flag=True, help="Always pull base images (they are pinned anyway).")
@click.option("--no-cache", is_flag=True, help="Do not use the engine's layer cache.")
@click.option("--trust-config", type=EXISTING_FILE,
              help="Sigstore ClientTrustConfig JSON for a private instance.")
@click.option("--identity-token", metavar="TOKEN|@FILE",
              help="OIDC token for signing (or ATTEST_IDENTITY_TOKEN; default: ambient CI "
                   "credentials, then the interactive flow).")
@click.option("--no-sign", is_flag=True, help="Write unsigned statements; attach nothing.")
@click.option("--no-sbom", is_flag=True, help="Skip the SBOM statement.")
@click.option("--attach", type=click.Choice(["referrers", "cosign", "both", "none"]),
              default="both", show_default=True, help="Registry layouts to attach to.")
@click.option("--require-clean", is_flag=True, help="Refuse a dirty git working tree.")
@click.option("--scan-secrets", is_flag=True,
              help="Scan the built image's layers for private keys, cloud credentials and "
                   "tokens before pushing; fail with exit 7 if any is found.")
@click.option("--scan-vulns", is_flag=True,
              help="Match the built image's packages against the advisory database before "
                   "pushing; sign and attach the result (cosign vuln/v1 predicate).")
@click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low"]),
              help="With --scan-vulns: an active finding at or above this severity fails the "
                   "build with exit 8; nothing is pushed or signed.")
@click.option("--vulndb", type=click.Path(file_okay=False),
              help="With --scan-vulns: advisory database directory (default $ATTEST_VULNDB, "
                   "else ~/.cache/attest/vulndb).")
@click.option("--vex", "vex_files", multiple=True, type=EXISTING_FILE,
              help="With --scan-vulns: OpenVEX document waiving findings (repeatable).")
@click.option("--ignore", "ignores", multiple=True, metavar="ID=REASON",
              help="With --scan-vulns: waive a finding by id or alias; the reason is required "
                   "and recorded.")
@click.option("--redact", "redact", multiple=True, metavar="NAME",
              help="Also redact this build arg or label (repeatable).")
@click.option("-o", "--output", type=click.Path(file_okay=False),
              help="Keep every artifact here (statements, bundles, SBOM, summary.json).")
@click.option("--resume", type=EXISTING_DIR,
              help="Finish a failed run from its output directory.")
@backend_option
@secret_option
@format_option
def build(context: str | None, tags: tuple[str, ...], dockerfile: str | None,
          build_args: tuple[str, ...], target: str | None, labels: tuple[str, ...],
          network: str | None, pull: bool, no_cache: bool, trust_config: str | None,
          identity_token: str | None, no_sign: bool, no_sbom: bool, attach: str,
          require_clean: bool, scan_secrets: bool, scan_vulns: bool, fail_on: str | None,
          vulndb: str | None, vex_files: tuple[str, ...], ignores: tuple[str, ...],
          redact: tuple[str, ...], output: str | None, resume: str | None,
          backend: str | None, secrets: tuple[str, ...],
          output_format: str) -> None:
    """Build, push, and attach signed SLSA provenance and an SBOM to the pushed digest.

    \b
    Example:
      attest build -t registry.example.com/team/app:1.4 --output out .
      attest build --resume out          # after a failure: finish without rebuilding
      attest build --backend buildah --secret id=npmrc,src=$HOME/.npmrc -t REF .
      attest build --scan-vulns --fail-on high -t registry.example.com/team/app:1.4 .

    The last line of stdout is the pushed NAME@sha256:DIGEST (--format json: a summary).
    """
    progress = progress_printer()
    if not scan_vulns and (fail_on or vulndb or vex_files or ignores):
        raise UsageError("--fail-on, --vulndb, --vex and --ignore configure --scan-vulns",
                         hint="add --scan-vulns")
    supplied_args = key_value_pairs(build_args, "--build-arg")
    supplied_labels = key_value_pairs(labels, "--label")
    if resume:
        if context or tags or output or scan_vulns:
            raise UsageError("--resume takes no CONTEXT, -t or --output: the run's own are used",
                             hint=f"run `attest build --resume {resume}` alone (plus "
                                  "--identity-token or secret --build-arg / --label values "
                                  "if needed)")
        if backend or secrets:
            raise UsageError("--resume takes no --backend or --secret: the run's own are used",
                             hint=f"run `attest build --resume {resume}` alone")
        state, options = resume_run(Path(resume))
        real_args = {**options.build_args, **supplied_args}
        real_labels = {**options.labels, **supplied_labels}
        if not state.step("build"):
            missing = [f"--build-arg {k}" for k, v in real_args.items() if v == REDACTED]
            missing += [f"--label {k}" for k, v in real_labels.items() if v == REDACTED]
            if missing:
                raise InputError(f"the build has not run yet and needs the secret values of "
                                 f"{', '.join(missing)}, which were not stored",
                                 hint="pass them again with --build-arg / --label")
        progress(f"resuming the run in {resume}")
    else:
        if context is None:
            raise UsageError("missing CONTEXT", hint="e.g. `attest build -t REF .`")
        options = BuildOptions(
            context=context, tags=list(tags), dockerfile=dockerfile,
            build_args=supplied_args, target=target,
            labels=supplied_labels, network=network,
            trust_config=str(Path(trust_config).resolve()) if trust_config else None,
            sign=not no_sign, attach=attach,  # type: ignore[arg-type]
            require_clean=require_clean, redact=list(redact), sbom=not no_sbom, pull=pull,
            no_cache=no_cache,
            scan_secrets=scan_secrets, scan_vulns=scan_vulns, vuln_fail_on=fail_on,
            vulndb=str(Path(vulndb).resolve()) if vulndb else None,
            vex=[str(Path(p).resolve()) for p in vex_files], vuln_ignores=parse_ignores(ignores))
        prepare_backend(options, backend, secrets)
        real_args, real_labels = supplied_args, supplied_labels
        state = start_run(options, Path(output) if output else None)
    pipeline = Pipeline(state, options, backend_factory(options.backend),
                        identity_token=identity_token, progress=progress,
                        secret_build_args=real_args, secret_labels=real_labels)
    try:
        outcome = pipeline.run()
    except SecretsFound:
        raise  # resuming would find the same secrets: the image itself must change
    except AttestError as error:
        if state.step("build") or output or resume:
            error.hint = (error.hint + "; " if error.hint else "") + \
                f"what succeeded is kept: attest build --resume {state.directory}"
        else:
            # Nothing was built and no output directory was asked for: nothing worth
            # resuming, so leave no temporary state behind.
            shutil.rmtree(state.directory, ignore_errors=True)
        raise
    summary = outcome.summary
    # --no-sign: the statements exist nowhere else, so they are kept (and were named above)
    if not output and not resume and options.sign:
        # Nothing was asked to be kept: the temporary state goes, and so do paths into it.
        shutil.rmtree(state.directory, ignore_errors=True)
        summary = _without_paths(summary)
    if output_format == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        for attestation in outcome.summary["attestations"]:
            where = ", ".join(f"{loc['layout']} {loc['digest'][:19]}"
                              for loc in attestation["locations"]) or "not attached"
            progress(f"{attestation['name']}: {where}")
        click.echo(outcome.image)
    step_summary.append(step_summary.build_markdown(outcome.image,
                                                    outcome.summary["attestations"]))


def _without_paths(summary: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: v for k, v in summary.items() if k != "stateDir"}
    trimmed["attestations"] = [{k: v for k, v in a.items() if k not in ("statement", "bundle")}
                               for a in summary["attestations"]]
    return trimmed
