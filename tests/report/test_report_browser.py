"""``attest report`` end to end: a signed image in the session registry, the report written by
the CLI, then opened in headless Chromium (real rendering, real CSP, real script).

The screenshot is kept under the test's tmp dir and its path printed (``pytest -s``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from oci_attest.cli import cli
from tests.fixtures.verify import CYCLONEDX, provenance, sbom, statement
from tests.report.browser import Browser

pytestmark = pytest.mark.integration

HOSTILE = "<img src=x onerror=alert(1)>"
RUN = "https://github.com/acme/app/actions/runs/42/attempts/1"
BASE = {"uri": "pkg:docker/127.0.0.1:5000/debian@bookworm?platform=linux%2Famd64",
        "digest": {"sha256": "12" * 32}, "name": "127.0.0.1:5000/debian:bookworm"}


def _sbom() -> dict:
    document = sbom([("libssl3", "pkg:deb/debian/libssl3@3.0.15-1~deb12u1"),
                     ("zlib1g", "pkg:deb/debian/zlib1g@1.2.13"),
                     ("requests", "pkg:pypi/requests@2.32.3"),
                     (HOSTILE, "pkg:npm/evil@6.6.6")])
    layer = "sha256:" + "ab" * 32
    document["metadata"] = {"properties": [{"name": "attest:image:layer:0", "value": layer}]}
    for component, version, license_ in zip(document["components"],
                                            ["3.0.15-1~deb12u1", "1.2.13", "2.32.3", "6.6.6"],
                                            ["Apache-2.0", "Zlib", "Apache-2.0",
                                             "</script><script>alert(2)</script>"],
                                            strict=True):
        component["version"] = version
        component["licenses"] = [{"license": {"name": license_}}]
        component["properties"] = [{"name": "attest:layer-digest", "value": layer}]
    return document


@pytest.fixture()
def report_file(make_image, signer, tmp_path: Path) -> tuple[Path, str]:
    image = make_image("report/app")
    predicate = provenance(base_images=[BASE])
    predicate["runDetails"]["metadata"]["invocationId"] = RUN
    image.attach(signer.sign(statement(image.digest, predicate)))
    image.attach(signer.sign(statement(image.digest, _sbom(), CYCLONEDX)), CYCLONEDX)
    output = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", image.tagged, *signer.flags(),
                                      "--require-sbom", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert f"written to {output}" in result.stderr
    return output, image.digest


def test_report_renders_filters_sorts_and_keeps_hostile_names_as_text(report_file, tmp_path):
    output, digest = report_file
    browser = Browser(tmp_path)
    try:
        browser.open(output.as_uri())
        shot = browser.screenshot(tmp_path / "report.png")
        print(f"\nreport screenshot: {shot}")
        assert shot.stat().st_size > 10_000

        assert browser.evaluate("document.getElementById('verdict-result').textContent") \
            == "PASS"
        assert digest in browser.evaluate("document.body.innerText")
        rows = "document.querySelectorAll('#components tbody tr')"
        visible = f"Array.from({rows}).filter(r => !r.hidden).map(r => r.cells[1].textContent)"
        assert browser.evaluate(f"{rows}.length") == 4
        # the provenance card: source linked to the forge, commit, base image digest
        links = browser.evaluate("Array.from(document.querySelectorAll('#provenance a'))"
                                 ".map(a => a.href)")
        assert "https://github.com/acme/app" in links
        assert RUN in links  # the CI run
        assert "https://github.com/acme/app/commit/" + "c0ffee" * 6 + "c0ff" in links
        assert "sha256:" + "12" * 32 in browser.evaluate(
            "document.getElementById('provenance').innerText")

        # hostile strings are text: no <img>, no script but ours, the name shown literally
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        assert browser.evaluate("document.querySelectorAll('script').length") == 1
        assert HOSTILE in browser.evaluate(visible)

        # filtering, typed into the box as a user would
        browser.type_text("#filter", "apache")
        assert sorted(browser.evaluate(visible)) == ["libssl3", "requests"]
        assert browser.evaluate("document.getElementById('count').textContent") \
            == "2 of 4 components shown"
        # and from the URL fragment (a shareable filtered view)
        browser.evaluate("location.hash = 'filter=zlib'")
        browser.evaluate("new Promise(r => setTimeout(r, 100))")
        assert browser.evaluate(visible) == ["zlib1g"]
        browser.evaluate("location.hash = 'filter='")
        browser.evaluate("new Promise(r => setTimeout(r, 100))")

        # sorting by a real click on the Name header, then again for descending order
        browser.click("#components thead th:nth-child(2) button")
        names = browser.evaluate(visible)
        assert names == sorted(names, key=str.lower)
        browser.click("#components thead th:nth-child(2) button")
        assert browser.evaluate(visible) == list(reversed(names))

        browser.screenshot(tmp_path / "report-sorted.png")
        assert browser.problems() == []
        assert all(u.startswith(("file:", "data:", "about:")) for u in browser.requested_urls())
    finally:
        browser.close()
