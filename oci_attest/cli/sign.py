"""``attest sign`` and ``attest attach``: the producer steps on their own, for split pipelines
(e.g. an isolated signing job that holds the OIDC permission and nothing else)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from oci_attest._internal import strict_json
from oci_attest._internal.files import write_bytes_atomic
from oci_attest._internal.text import safe
from oci_attest.cli.common import EXISTING_FILE, format_option, progress_printer
from oci_attest.errors import InputError, VerificationFailed
from oci_attest.reference import parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import attach_cosign_att, attach_referrer
from oci_attest.statements import ParsedStatement, parse_statement

MAX_STATEMENT_BYTES = 64 * 1024 * 1024


@click.command()
@click.argument("statements", nargs=-1, required=True,
                type=EXISTING_FILE)
@click.option("--trust-config", type=EXISTING_FILE,
              help="Sigstore ClientTrustConfig JSON for a private instance.")
@click.option("--identity-token", metavar="TOKEN|@FILE",
              help="OIDC token (default: ATTEST_IDENTITY_TOKEN or SIGSTORE_ID_TOKEN, ambient "
                   "CI credentials, then the interactive flow).")
@click.option("-o", "--output", "--output-dir", "output_dir", type=click.Path(file_okay=False),
              metavar="DIR", help="Write bundles here instead of next to each statement.")
def sign(statements: tuple[str, ...], trust_config: str | None, identity_token: str | None,
         output_dir: str | None) -> None:
    """Sign in-toto statements keylessly; writes STATEMENT.sigstore.json for each.

    \b
    Example:
      attest sign out/provenance.intoto.json out/sbom.intoto.json
    """
    from oci_attest.sign import load_trust_config, resolve_identity_token, sign_statements

    progress = progress_printer()
    items = []
    for name in statements:
        path = Path(name)
        payload = _read_limited(path)
        parse_statement(payload)  # refuse to sign something that is not a statement
        items.append((str(path), payload))
    trust = load_trust_config(Path(trust_config) if trust_config else None)
    token = resolve_identity_token(identity_token, trust)
    for signed in sign_statements(items, identity_token=token, trust_config=trust):
        source = Path(signed.name)
        target = (Path(output_dir) / source.name if output_dir else source).with_name(
            _bundle_name(source))
        write_bytes_atomic(target, signed.bundle_json)
        progress(f"signed {source} -> {target}")
        click.echo(str(target))


def _bundle_name(statement: Path) -> str:
    name = statement.name
    for suffix in (".intoto.json", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"{name}.sigstore.json"


def _read_limited(path: Path) -> bytes:
    if path.stat().st_size > MAX_STATEMENT_BYTES:
        raise InputError(f"{path} is larger than {MAX_STATEMENT_BYTES} bytes")
    return path.read_bytes()


@click.command()
@click.argument("image")
@click.argument("bundles", nargs=-1, required=True, type=EXISTING_FILE)
@click.option("--attach", "layout", type=click.Choice(["referrers", "cosign", "both"]),
              default="both", show_default=True, help="Registry layouts to write.")
@format_option
def attach(image: str, bundles: tuple[str, ...], layout: str, output_format: str) -> None:
    """Attach Sigstore bundles to IMAGE's digest (a tag is resolved first).

    Each bundle's statement must name IMAGE's digest as a subject: evidence about another
    image is refused rather than stored where a verifier would find it.

    \b
    Example:
      attest attach registry.example.com/team/app:1.4 out/provenance.sigstore.json
    """
    progress = progress_printer()
    ref = parse_reference(image)
    client = RegistryClient(ref.registry)
    pinned = client.resolve(ref).without_tag()
    assert pinned.digest is not None
    progress(f"{ref} is {pinned.digest}")
    results = []
    for name in bundles:
        raw = _read_limited(Path(name))
        statement = _statement_of_bundle(Path(name), raw)
        hexdigest = pinned.digest.split(":", 1)[1]
        if not any(digests.get("sha256") == hexdigest for _, digests in statement.subjects):
            raise VerificationFailed(f"{name} is about another artifact: no subject has digest "
                                     f"{pinned.digest}", hint="attach it to the image it "
                                     "describes")
        predicate_type = statement.predicate_type
        written = {}
        if layout in ("referrers", "both"):
            written["referrer"] = attach_referrer(client, pinned, raw, predicate_type).digest
        if layout in ("cosign", "both"):
            written["cosign-att"] = attach_cosign_att(client, pinned, raw, predicate_type).digest
        progress(f"attached {name} ({safe(predicate_type)}) to {pinned.pinned()}")
        results.append({"bundle": name, "predicateType": predicate_type, "written": written})
    if output_format == "json":
        click.echo(json.dumps({"image": pinned.pinned(), "attached": results}, indent=2))
    else:
        click.echo(pinned.pinned())


def _statement_of_bundle(path: Path, raw: bytes) -> ParsedStatement:
    try:
        bundle = strict_json.loads(raw)
    except strict_json.DuplicateKeyError as error:
        raise InputError(f"{path} is ambiguous: {error}; refusing to attach it",
                         hint="a bundle or statement must name each key once") from None
    except (ValueError, RecursionError):
        bundle = None
    try:
        payload = base64.b64decode(bundle["dsseEnvelope"]["payload"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise InputError(f"{path} is not a Sigstore bundle holding a DSSE envelope",
                         hint="pass the .sigstore.json files written by attest sign/build"
                         ) from None
    return parse_statement(payload)
