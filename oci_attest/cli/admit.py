"""``attest admit serve|check|certs``: admission-time verification for Kubernetes."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from oci_attest.cli.common import EXISTING_FILE_PATH, format_option, progress_printer
from oci_attest.errors import EXIT_POLICY_FAILED, EXIT_REGISTRY, UsageError

_FILE = EXISTING_FILE_PATH


@click.group(context_settings={"max_content_width": 100})
def admit() -> None:
    """Verify images at admission: a Kubernetes validating and mutating webhook (serve), the
    same judgement over manifests without a cluster (check), and its certificates (certs).

    The config file names, per image glob and namespace glob, an `attest verify` policy
    (file or inline) and a mode (enforce or warn); see README "attest admit".

    \b
    Examples:
      attest admit serve --config admit.yaml --tls-cert tls.crt --tls-key tls.key
      helm template chart | attest admit check --config admit.yaml -
      attest admit certs --service attest-admit --namespace attest-system --out tls/

    Exit codes: see each subcommand's --help.
    """


@admit.command()
@click.option("--config", "config_file", type=_FILE, required=True,
              help="Admission config (YAML): policies, exemptNamespaces, unmatchedImages, ...")
@click.option("--listen", default="0.0.0.0:8443", show_default=True, metavar="HOST:PORT",
              help="Address to serve HTTPS on.")
@click.option("--tls-cert", type=_FILE, required=True, help="Serving certificate (PEM).")
@click.option("--tls-key", type=_FILE, required=True, help="Its private key (PEM).")
def serve(config_file: Path, listen: str, tls_cert: Path, tls_key: Path) -> None:
    """Serve POST /validate, POST /mutate, GET /healthz, /readyz and /metrics over TLS 1.2+.

    \b
    Example:
      attest admit serve --config /etc/attest/admit.yaml --listen 0.0.0.0:8443 \\
          --tls-cert /tls/tls.crt --tls-key /tls/tls.key

    Exit codes: 0 stopped by a signal, 2 usage, 3 bad config or certificate.
    """
    from oci_attest.admit.config import load_config
    from oci_attest.admit.engine import AdmissionEngine
    from oci_attest.admit.server import serve as start

    host, _, port_text = listen.rpartition(":")
    if not host or not port_text.isdigit():
        raise UsageError(f"--listen {listen!r} is not HOST:PORT", hint="e.g. 0.0.0.0:8443")
    engine = AdmissionEngine(load_config(config_file))
    try:
        server = start(engine, host.strip("[]"), int(port_text), tls_cert=tls_cert,
                       tls_key=tls_key)
    except OSError as error:
        raise UsageError(f"cannot serve on {listen}: {error.strerror or error}") from None
    progress_printer()(f"attest admit: serving on https://{listen} "
                       f"({len(engine.config.policies)} policies)")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):  # wake up regularly so a signal is always seen promptly
        pass
    server.shutdown()
    server.server_close()
    engine.close()
    # Verifications still running in the background only fill the cache of a process that is
    # going away: do not wait for them (a stalled registry could hold the exit for minutes,
    # past the kubelet's grace period).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@admit.command()
@click.argument("manifests", nargs=-1, required=True, metavar="MANIFEST...")
@click.option("--config", "config_file", type=_FILE, required=True,
              help="The admission config the webhook runs with.")
@click.option("--namespace", metavar="NS",
              help="Judge every object as if in this namespace (default: its own, or "
                   "default).")
@format_option
def check(manifests: tuple[str, ...], config_file: Path, namespace: str | None,
          output_format: str) -> None:
    """Judge every workload in MANIFEST... (files, directories, - for stdin) as the webhook
    would: per container image, admitted or refused with the reason.

    \b
    Examples:
      attest admit check --config admit.yaml k8s/
      helm template chart | attest admit check --config admit.yaml -

    Exit codes: 0 all admitted, 1 something would be refused, 2 usage, 3 bad input,
    5 a registry could not be reached (the webhook would refuse too).
    """
    from oci_attest.admit.check import check_objects, load_objects, render_json, render_text
    from oci_attest.admit.config import load_config
    from oci_attest.admit.engine import AdmissionEngine

    engine = AdmissionEngine(load_config(config_file))
    try:
        stdin_text = sys.stdin.read() if "-" in manifests else None
        checked = check_objects(engine, load_objects(manifests, stdin_text),
                                namespace=namespace)
    finally:
        engine.close()
    click.echo(render_json(checked) if output_format == "json" else render_text(checked),
               nl=False)
    if any(c.decision.registry_error and not c.decision.allowed for c in checked):
        click.get_current_context().exit(EXIT_REGISTRY)
    if not all(c.decision.allowed for c in checked):
        click.get_current_context().exit(EXIT_POLICY_FAILED)


@admit.command()
@click.option("--service", required=True, help="The webhook's Service name.")
@click.option("--namespace", required=True, help="Its namespace.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              required=True, help="Directory for ca.crt, tls.crt and tls.key (0600).")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True,
              help="Validity of the CA and the certificate.")
def certs(service: str, namespace: str, out_dir: Path, days: int) -> None:
    """Make a CA and a serving certificate for SERVICE.NAMESPACE.svc; print the caBundle.

    \b
    Example:
      attest admit certs --service attest-admit --namespace attest-system --out tls/
      kubectl -n attest-system create secret tls attest-admit-tls \\
          --cert tls/tls.crt --key tls/tls.key

    Exit codes: 0 written, 2 usage, 3 cannot write.
    """
    from oci_attest.admit.certs import make_serving_certificate, write_certificate

    certificate = make_serving_certificate(service, namespace, days=days)
    write_certificate(certificate, out_dir)
    progress_printer()(f"wrote {out_dir}/ca.crt, tls.crt, tls.key; the caBundle follows")
    click.echo(certificate.ca_bundle)
