"""`attest inventory add` and `sync` on real images in a real registry: components are read
from the pushed layers, tags come from the registry's tags list, and the answers name the
registry digests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.inventory.conftest import attest

pytestmark = pytest.mark.integration


def _python_dist(root: Path, name: str, version: str) -> None:
    info = root / "usr/lib/python3/dist-packages" / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("")


def _push(context: Path, tag: str) -> str:
    (context / "Dockerfile").write_text("FROM scratch\nCOPY usr /usr\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(context)], check=True,
                   capture_output=True, timeout=300)
    subprocess.run(["docker", "push", "-q", tag], check=True, capture_output=True, timeout=300)
    inspect = subprocess.run(["docker", "inspect", "--format", "{{json .RepoDigests}}", tag],
                             check=True, capture_output=True, text=True).stdout
    return next(d for d in json.loads(inspect) if d.startswith(tag.rsplit(":", 1)[0]))


@pytest.fixture(scope="module")
def shipped(docker_engine, registry, tmp_path_factory) -> dict[str, str]:
    """Two releases of one repository: 1.0 (and stable) with jinja2 2.11.2, 2.0 with 3.1.4."""
    repository = f"{registry.host}/inventory/web"
    pushed = {}
    for tags, version in ((("1.0", "stable"), "2.11.2"), (("2.0",), "3.1.4")):
        context = tmp_path_factory.mktemp(f"web-{version}")
        _python_dist(context, "Jinja2", version)
        _python_dist(context, "MarkupSafe", "2.1.5")
        first = f"{repository}:{tags[0]}"
        pushed[tags[0]] = _push(context, first)
        for extra in tags[1:]:
            subprocess.run(["docker", "tag", first, f"{repository}:{extra}"], check=True)
            subprocess.run(["docker", "push", "-q", f"{repository}:{extra}"], check=True,
                           capture_output=True, timeout=300)
    pushed["repository"] = repository
    return pushed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_add_and_sync_record_real_images(shipped, backend, new_location, vulndb):
    location = new_location(backend)
    repository = shipped["repository"]
    added = attest("inventory", "add", f"{repository}:1.0", "--inventory", location)
    assert added.returncode == 0, added.stderr
    assert f"recorded {shipped['1.0']}" in added.stdout
    synced = attest("inventory", "sync", repository, "--inventory", location)
    assert synced.returncode == 0, synced.stderr
    assert "3 tags, 2 images, 1 newly recorded" in synced.stdout  # 1.0 was already there
    done = attest("inventory", "query", "--vuln", "CVE-2020-28493", "--inventory", location,
                  "--vulndb", str(vulndb), "--format", "json")
    assert done.returncode == 0, done.stderr
    images = json.loads(done.stdout)["images"]
    assert [(i["reference"], i["tags"]) for i in images] == [(shipped["1.0"], ["1.0", "stable"])]
    assert [(c["purl"], c["advisory"]) for c in images[0]["components"]] == [
        ("pkg:pypi/jinja2@2.11.2", "PYSEC-2021-66")]
    every = json.loads(attest("inventory", "query", "--purl", "pkg:pypi/markupsafe",
                              "--inventory", location, "--format", "json").stdout)["images"]
    assert sorted(i["reference"] for i in every) == sorted([shipped["1.0"], shipped["2.0"]])


def test_sync_refuses_a_tag(new_location, shipped):
    location = new_location("sqlite")
    tagged = attest("inventory", "sync", f"{shipped['repository']}:1.0", "--inventory", location)
    assert tagged.returncode == 3 and "sync takes a repository" in tagged.stderr
