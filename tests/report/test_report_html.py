"""The report's HTML without a browser: escaping, link targets, the CSP, atomic output."""

from __future__ import annotations

import re

from oci_attest.report.model import (
    Check,
    ComponentRow,
    Link,
    ProvenanceCard,
    ReportData,
    link,
    sbom_rows,
)
from oci_attest.report.render import render_html

HOSTILE = "<img src=x onerror=alert(1)>"


def _data(**cards: object) -> ReportData:
    data = ReportData(target=f"reg/app:{HOSTILE}", digest="sha256:" + "0" * 64, passed=False,
                      policy="flags", trust="local", generated="now")
    data.checks = [Check("builder", False, f"builder {HOSTILE} is not allowed", None)]
    data.components = [ComponentRow("npm", HOSTILE, '1"2', "</script><b>x", "0", "pkg:npm/x")]
    return data


def test_attacker_strings_are_escaped_everywhere():
    page = render_html(_data())
    assert HOSTILE not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "</script><b>" not in page
    assert page.count("<script>") == 1


def test_only_web_urls_become_links():
    assert link("javascript:alert(1)").href is None
    assert link("https://github.com/acme/app\" onmouseover=x").href is None
    assert link("data:text/html,hi").href is None
    assert link("https://github.com/acme/app").href == "https://github.com/acme/app"
    data = _data()
    data.provenance = [ProvenanceCard(
        title="t", predicate_type="p", signer=None, accepted=True,
        sources=((link("javascript:alert(1)"), Link("c0ffee", None), None),), builder=None,
        build_type=None, run=link("javascript:alert(2)"), started=None, finished=None,
        base_images=(), parameters=())]
    page = render_html(data)
    assert 'href="javascript' not in page
    assert "javascript:alert(1)" in page  # shown, as text


def test_csp_allows_only_the_embedded_script_and_style_by_hash():
    page = render_html(_data())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+';", policy)
    assert re.search(r"<[^>]*\son\w+\s*=", page) is None  # no inline handler anywhere


def test_sbom_rows_number_layers_as_the_sbom_does():
    layer = "sha256:" + "cd" * 32
    rows = sbom_rows({"bomFormat": "CycloneDX",
                      "metadata": {"properties": [
                          {"name": "attest:image:layer:0", "value": "sha256:" + "ab" * 32},
                          {"name": "attest:image:layer:1", "value": layer}]},
                      "components": [{"name": "a", "version": 1, "purl": "pkg:deb/debian/a@1",
                                      "licenses": [{"expression": "MIT OR Apache-2.0"}],
                                      "properties": [{"name": "attest:layer-digest",
                                                      "value": layer}],
                                      "components": [{"name": "nested", "purl": 7}]}]})
    assert [(r.ecosystem, r.name, r.version, r.license) for r in rows] == [
        ("deb", "a", "1", "MIT OR Apache-2.0"), ("", "nested", "", "")]
    assert rows[0].layer.startswith("1 (sha256:cdcdcdcd")
