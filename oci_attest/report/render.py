"""Render report data into one self-contained HTML file.

The file must be safe to open from an untrusted source's data: Jinja's autoescape turns every
value into text, and a Content-Security-Policy meta tag allows exactly the one inline script
and the one inline style (by their SHA-256 hashes) and nothing else: no network load of any
kind, no inline event handlers, no other scripts. Were an escape ever missed, the injected
markup still could neither run nor phone home.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from oci_attest.report.model import ReportData


def _asset(name: str) -> str:
    return resources.files("oci_attest.report").joinpath(name).read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("oci_attest.report", "."),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=False, lstrip_blocks=False)


def content_security_policy(script: str, style: str) -> str:
    return ("default-src 'none'; "
            f"script-src {_hash(script)}; style-src {_hash(style)}; "
            "img-src 'none'; connect-src 'none'; font-src 'none'; object-src 'none'; "
            "frame-src 'none'; base-uri 'none'; form-action 'none'")


def render_html(data: ReportData) -> str:
    script, style = _asset("report.js"), _asset("report.css")
    template = _environment().get_template("report.html.j2")
    # Only our own packaged assets and the policy built from their hashes are marked safe;
    # every value from the report data goes through autoescape.
    trusted = {"csp": content_security_policy(script, style), "script": script, "style": style}
    return template.render(data=data, **{k: Markup(v) for k, v in trusted.items()})  # noqa: S704
