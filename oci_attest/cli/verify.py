"""``attest verify``: judge the evidence attached to an image digest (or in bundle files).

Exit codes: 0 the policy holds; 1 it does not (every failed check is printed with its reason);
2 usage; 3 bad input (policy file, trusted root, key); 5 a registry or the TUF repository could
not be reached. An unreachable registry is never reported as a failed or passed verification.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from oci_attest import step_summary
from oci_attest.cli.common import EXISTING_FILE_PATH, format_option, progress_printer
from oci_attest.errors import EXIT_POLICY_FAILED, InputError, UsageError

if TYPE_CHECKING:  # the verifier pulls in sigstore; `attest --help` should not pay for it
    from oci_attest.verify.bundles import ArtifactDigest, PublicKey
    from oci_attest.verify.policy import Policy

F = TypeVar("F", bound=Callable[..., Any])

_FILE = EXISTING_FILE_PATH

_OPTIONS: list[Callable[[F], F]] = [
    click.option("--policy", "policy_file", type=_FILE,
                 help="Policy file (YAML, see docs/policy.md); flags add to it."),
    click.option("--key", "key_file", type=_FILE,
                 help="Verify with this PEM public key (managed-key signatures) instead of "
                      "a certificate identity."),
    click.option("--trusted-root", type=_FILE,
                 help="Sigstore trusted_root.json of a private or air-gapped instance."),
    click.option("--trust-config", type=_FILE,
                 help="Sigstore ClientTrustConfig JSON (its trusted root is used)."),
    click.option("--offline", is_flag=True, default=None,
                 help="Never touch the network for trust: use --trusted-root/--trust-config "
                      "or the root embedded in the sigstore package."),
    click.option("--certificate-identity", metavar="SAN",
                 help="Trusted signer: the certificate's exact identity (SAN)."),
    click.option("--certificate-identity-regexp", metavar="REGEX",
                 help="Trusted signer: a regular expression the whole SAN must match."),
    click.option("--certificate-oidc-issuer", metavar="URL",
                 help="The signer's OIDC issuer, exactly (GitHub Enterprise issuers carry a "
                      "suffix: use the regexp form to allow one)."),
    click.option("--certificate-oidc-issuer-regexp", metavar="REGEX",
                 help="A regular expression the whole OIDC issuer must match."),
    click.option("--source-repo", metavar="REPO",
                 help="Source repository (owner/name or URL): checked in the certificate and "
                      "in the provenance."),
    click.option("--source-ref", metavar="REF",
                 help="Source ref (refs/heads/main): checked in the certificate and in the "
                      "provenance."),
    click.option("--signer-workflow", metavar="[HOST/]OWNER/REPO/PATH[@REF]",
                 help="Workflow that signed (certificate build signer URI)."),
    click.option("--runner-environment", metavar="ENV",
                 help="Required runner environment in the certificate (github-hosted)."),
    click.option("--predicate-type", "--type", "predicate_type", metavar="URI|SHORTHAND",
                 help="Required predicate type: a URI or slsaprovenance1, slsaprovenance02, "
                      "cyclonedx, spdx, vuln (default https://slsa.dev/provenance/v1; 'any' "
                      "accepts any signed statement, or for --bundle a signature over the "
                      "artifact)."),
    click.option("--source-digest", metavar="SHA",
                 help="Source commit the image must be built from: checked in the "
                      "certificate and in the provenance."),
    click.option("--owner", metavar="ORG",
                 help="Organisation (or user) owning the source repository, checked in the "
                      "certificate; alone, trusts any GitHub Actions workflow of ORG."),
    click.option("--builder-id", "builder_ids", multiple=True, metavar="ID",
                 help="Allowed provenance builder id (repeatable)."),
    click.option("--require-clean-tree", is_flag=True, default=None,
                 help="The provenance must record a clean source tree."),
    click.option("--require-secret-scan", is_flag=True, default=None,
                 help="The provenance must record a clean secret scan (attest build "
                      "--scan-secrets)."),
    click.option("--allowed-base-registry", "allowed_base_registries", multiple=True,
                 metavar="HOST", help="Registry base images may come from (repeatable)."),
    click.option("--require-pinned-base", "require_pinned_base_images", is_flag=True,
                 default=None, help="Every base image must be recorded by digest."),
    click.option("--require-pinned-remote-inputs", "require_pinned_remote_inputs",
                 is_flag=True, default=None,
                 help="Every remote input of the build (ADD <url>, ADD <git repo>, also "
                      "through ONBUILD) must be recorded with a digest."),
    click.option("--max-age", metavar="DURATION",
                 help="Maximum age of the provenance (30d, 12h, 1w2d)."),
    click.option("--require-sbom", is_flag=True, default=None,
                 help="A verified SBOM attestation must be present."),
    click.option("--build-type", "build_types", multiple=True, metavar="URI",
                 help="Allowed provenance buildType (repeatable). Default for images: attest's "
                      "own image build type only (see docs/buildtype.md)."),
    click.option("--deny-component", "deny_components", multiple=True,
                 metavar="PURL[@vers:RANGE]",
                 help="Component the SBOM must not contain, e.g. "
                      "'pkg:deb/debian/openssl@vers:deb/<3.0.15' (repeatable)."),
    click.option("--require-vuln-scan", is_flag=True, default=None,
                 help="A verified vulnerability scan attestation (cosign vuln/v1, attest build "
                      "--scan-vulns) must be present."),
    click.option("--vuln-max-age", metavar="DURATION",
                 help="Maximum age of that scan (7d); implies --require-vuln-scan."),
    click.option("--vuln-fail-on", type=click.Choice(["critical", "high", "medium", "low"]),
                 help="Fail when the scan has an active finding at or above this severity; "
                      "implies --require-vuln-scan."),
    format_option,
]


def verification_options(func: F) -> F:
    """Every verification flag; shared with ``attest promote`` so both judge alike."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def build_policy(params: dict[str, Any], *, image: bool) -> tuple[Policy, PublicKey | None]:
    """The effective policy (file + flags) and the managed key, from click's parameters;
    ``image`` adds the defaults that apply to images (attest's own build type)."""
    from oci_attest.verify.policy import PolicyFlags, combine, for_images, load_policy

    key = _read_key(params.get("key_file"))
    policy_file = params.get("policy_file")
    base = load_policy(policy_file) if policy_file is not None else None
    flags = PolicyFlags(
        certificate_identity=params.get("certificate_identity"),
        certificate_identity_regexp=params.get("certificate_identity_regexp"),
        certificate_oidc_issuer=params.get("certificate_oidc_issuer"),
        certificate_oidc_issuer_regexp=params.get("certificate_oidc_issuer_regexp"),
        source_repo=params.get("source_repo"),
        source_ref=params.get("source_ref"),
        signer_workflow=params.get("signer_workflow"),
        runner_environment=params.get("runner_environment"),
        predicate_type=params.get("predicate_type"),
        builder_ids=tuple(params.get("builder_ids") or ()),
        require_clean_tree=params.get("require_clean_tree"),
        require_secret_scan=params.get("require_secret_scan"),
        allowed_base_registries=tuple(params.get("allowed_base_registries") or ()),
        require_pinned_base_images=params.get("require_pinned_base_images"),
        require_pinned_remote_inputs=params.get("require_pinned_remote_inputs"),
        max_age=params.get("max_age"),
        require_sbom=params.get("require_sbom"),
        deny_components=tuple(params.get("deny_components") or ()),
        build_types=tuple(params.get("build_types") or ()),
        require_vuln_scan=params.get("require_vuln_scan"),
        vuln_max_age=params.get("vuln_max_age"),
        vuln_fail_on=params.get("vuln_fail_on"),
        trusted_root=params.get("trusted_root"),
        trust_config=params.get("trust_config"),
        offline=params.get("offline"),
        source_digest=params.get("source_digest"),
        owner=params.get("owner"),
    )
    policy = combine(base, flags, key_given=key is not None)
    return (for_images(policy) if image else policy), key


def _read_key(path: Path | None) -> PublicKey | None:
    from oci_attest.verify.bundles import load_public_key

    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read key {path}: {error.strerror}") from None
    try:
        return load_public_key(data)
    except ValueError as error:
        raise InputError(f"{path} is not a usable PEM public key: "
                         f"{' '.join(str(error).split())[:200]}",
                         hint="pass the signer's public key (-----BEGIN PUBLIC KEY-----)") from None


def _target_digest(digest: str | None, artifact: Path | None) -> ArtifactDigest:
    from oci_attest.verify.bundles import ArtifactDigest

    if (digest is None) == (artifact is None):
        raise UsageError("--bundle needs exactly one of --digest ALG:HEX or --artifact FILE")
    if digest is not None:
        try:
            return ArtifactDigest.parse(digest)
        except ValueError as error:
            raise UsageError(str(error)) from None
    assert artifact is not None
    hasher = hashlib.sha256()
    try:
        with artifact.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                hasher.update(chunk)
    except OSError as error:
        raise InputError(f"cannot read artifact {artifact}: {error.strerror}") from None
    return ArtifactDigest("sha256", hasher.digest())


@click.command(context_settings={"max_content_width": 100})
@click.argument("image", required=False)
@click.option("--bundle", "bundles", multiple=True,
              type=_FILE,
              help="Verify this Sigstore bundle file instead of an image (repeatable).")
@click.option("--digest", metavar="ALG:HEX",
              help="With --bundle: the artifact digest (sha256:... or sha512:...).")
@click.option("--artifact", type=_FILE,
              help="With --bundle: the artifact file (its sha256 is used).")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]",
              help="For a multi-platform image: verify this platform's manifest.")
@click.option("--max-read-bytes", type=click.IntRange(min=1), metavar="BYTES",
              help="Most bytes to read from the registry for this verification (default "
                   "ATTEST_MAX_READ_BYTES or 128 MiB); past it: exit 3.")
@click.option("--print-statements", is_flag=True,
              help="Write the verified statements to stdout as JSON lines (the report goes "
                   "to stderr then).")
@verification_options
def verify(image: str | None, bundles: tuple[Path, ...], digest: str | None,
           artifact: Path | None, platform: str | None, max_read_bytes: int | None,
           print_statements: bool,
           **params: Any) -> None:
    """Verify the signed evidence attached to IMAGE (or in --bundle files) against a policy.

    IMAGE may be written oci://REF, as gh does. A tag is resolved to a digest first; every
    statement's subject must be that digest.
    Attestations are found as OCI 1.1 bundle referrers (API or fallback tag), cosign
    sha256-<hex>.att layers and BuildKit in-index statements (unsigned: reported only).

    \b
    Examples:
      attest verify registry.example/app:1.4 --policy policy.yaml
      attest verify registry.example/app:1.4 \\
          --certificate-identity-regexp '^https://github.com/acme/app/.*' \\
          --certificate-oidc-issuer https://token.actions.githubusercontent.com \\
          --builder-id https://github.com/actions/runner/github-hosted --require-sbom
      attest verify --bundle app.sigstore.json --digest sha256:<hex> \\
          --certificate-identity ... --certificate-oidc-issuer ... --offline

    Exit codes: 0 policy holds, 1 it does not, 2 usage, 3 bad input, 5 registry/TUF
    unreachable.
    """
    from oci_attest.verify.image import verify_bundle_files, verify_image
    from oci_attest.verify.report import render_json, render_text

    output_format = params.pop("output_format")
    if image is not None:
        image = image.removeprefix("oci://")
    if bundles and image:
        raise UsageError("give IMAGE or --bundle FILE, not both")
    if not bundles and not image:
        raise UsageError("give an IMAGE to verify (or --bundle FILE with --digest)",
                         hint="attest verify registry.example/app:tag --policy policy.yaml")
    if not bundles and (digest or artifact):
        raise UsageError("--digest and --artifact go with --bundle; an IMAGE brings its own "
                         "digest")
    if bundles and platform:
        raise UsageError("--platform applies to an IMAGE, not to --bundle files")
    policy, key = build_policy(params, image=not bundles)
    if bundles:
        verdict = verify_bundle_files(list(bundles), _target_digest(digest, artifact), policy,
                                      key=key)
    else:
        assert image is not None
        progress_printer()(f"verifying {image}")
        result = verify_image(image, policy, key=key, platform=platform,
                              max_read_bytes=max_read_bytes)
        verdict = result.verdict
        progress_printer()(f"{image} resolved to {result.reference}")
    report = render_json(verdict) if output_format == "json" else render_text(verdict)
    click.echo(report, nl=False, err=print_statements)
    if print_statements:
        from oci_attest.verify.payloads import json_lines

        click.echo(json_lines(verdict), nl=False)
    step_summary.append(step_summary.verify_markdown(verdict))
    if not verdict.passed:
        click.get_current_context().exit(EXIT_POLICY_FAILED)
