"""``python -m devstack.sigstore serve``: run the local stack in the foreground for a demo.

It writes the trust config and an identity token where asked, prints the service URLs and the
identity/issuer pair a verifier must expect, and renews the token file before it expires.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.sigstore import PROVIDERS, SigstoreStack
from devstack.sigstore.stack import COMPONENTS


def _port(spec: str) -> tuple[str, int]:
    name, _, port = spec.partition("=")
    if name not in COMPONENTS or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=PORT with NAME in {COMPONENTS}")
    return name, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.sigstore",
                                     description="Local Sigstore-compatible signing stack "
                                                 "(development trust root, loopback only).")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run until interrupted")
    serve.add_argument("--trust-config-out", type=Path, help="write the ClientTrustConfig here")
    serve.add_argument("--token-out", type=Path, help="write (and keep renewing) an ID token")
    serve.add_argument("--identity", help="email (or URI for --provider uri) in the token")
    serve.add_argument("--provider", choices=PROVIDERS, default="email")
    serve.add_argument("--token-lifetime", type=int, default=3600, metavar="SECONDS")
    serve.add_argument("--github-env-out", type=Path,
                       help="write shell exports simulating a GitHub Actions job")
    serve.add_argument("--rekor-version", type=int, choices=(1, 2), default=1)
    serve.add_argument("--no-tsa", action="store_true", help="leave the TSA out of the config")
    serve.add_argument("--port", type=_port, action="append", default=[], metavar="NAME=PORT",
                       help=f"fix a component's port ({', '.join(COMPONENTS)})")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with SigstoreStack.start(ports=dict(args.port)) as stack:
        if args.trust_config_out:
            stack.write_trust_config(args.trust_config_out, rekor_version=args.rekor_version,
                                     tsa=not args.no_tsa)
        if args.github_env_out:
            exports = "".join(f"export {k}={shlex.quote(v)}\n"
                              for k, v in stack.github_actions_env().items())
            args.github_env_out.write_text(exports)
        identity = args.identity if args.provider in ("email", "uri") else None

        def write_token() -> None:
            if args.token_out:
                token = stack.mint_token(identity, provider=args.provider,
                                         lifetime=args.token_lifetime)
                partial = args.token_out.with_name(args.token_out.name + ".partial")
                partial.write_text(token + "\n")
                partial.replace(args.token_out)  # readers never see half a token

        for name, url in stack.urls.items():
            print(f"{name:6} {url}")
        print(f"identity {stack.expected_identity(args.provider, identity)}")
        print(f"issuer   {stack.issuer(args.provider)}")
        if args.github_env_out:
            print(f"github   identity {stack.expected_identity('github')} "
                  f"issuer {stack.issuer('github')}")
        sys.stdout.flush()
        write_token()  # last: scripts wait for the token, then read the lines above
        print("serving; stop with Ctrl-C", flush=True)
        while not stopping.wait(max(args.token_lifetime // 2, 1)):
            write_token()
    return 0


if __name__ == "__main__":
    sys.exit(main())
