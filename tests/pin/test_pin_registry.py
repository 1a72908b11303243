"""`attest pin` against a real registry: real images, real tags that move, a real index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.verify import provenance, statement

pytestmark = pytest.mark.integration


def attest(*args: str, stdin: str | None = None, cwd: Path | None = None):
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, input=stdin, timeout=300, cwd=cwd)


def _retag(image, tag: str) -> None:
    """Point ``tag`` at ``image`` (what a `docker push` of a new build does to a tag)."""
    manifest = image.client.get_manifest(image.ref.repository, image.digest)
    image.client.put_manifest(image.ref.repository, tag, manifest.raw, manifest.media_type)


def test_pins_every_kind_of_file_and_check_then_passes(make_image, tmp_path):
    app = make_image("pin/app", tag="1.4")
    db = make_image("pin/db", tag="16")
    tools = make_image("pin/tools", tag="2")
    app_ref, db_ref, tools_ref = app.tagged, db.tagged, tools.tagged
    files = {
        "deploy.yaml": (f"# the web tier\napiVersion: apps/v1\nkind: Deployment\n"
                        f"metadata: {{name: web}}\nspec:\n  template:\n    spec:\n"
                        f"      initContainers:\n        - name: migrate\n"
                        f"          image: \"{db_ref}\"   # quoted on purpose\n"
                        f"      containers:\n        - name: web\n          image: {app_ref}\n"
                        f"---\napiVersion: batch/v1\nkind: CronJob\nspec:\n  jobTemplate:\n"
                        f"    spec:\n      template:\n        spec:\n          containers:\n"
                        f"            - {{name: job, image: {tools_ref}}}\n"),
        "Dockerfile": (f"FROM {tools_ref} AS tools\nFROM {app_ref}\n"
                       f"COPY --from=tools /payload.txt /t\n"
                       f"COPY --from={db_ref} /payload.txt /d\n"),
        "compose.yml": f"services:\n  db:\n    image: {db_ref}\n  web:\n    build: .\n",
        ".github/workflows/ci.yml": (f"on: push\njobs:\n  test:\n    container: {tools_ref}\n"
                                     f"    services:\n      db:\n        image: {db_ref}\n"
                                     f"    steps:\n      - uses: docker://{app_ref}\n"),
    }
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)

    done = attest("pin", str(tmp_path), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    expected = {app_ref: f"{app_ref}@{app.digest}", db_ref: f"{db_ref}@{db.digest}",
                tools_ref: f"{tools_ref}@{tools.digest}"}
    for name, content in files.items():
        want = content
        for before, after in expected.items():
            want = want.replace(before + "\n", after + "\n").replace(before + "\"", after + "\"")
            want = want.replace(before + "}", after + "}").replace(before + " ", after + " ")
        assert (tmp_path / name).read_text() == want, name  # only references changed
    assert len(report["references"]) == 10
    first = next(r for r in report["references"] if r["file"].endswith("deploy.yaml"))
    assert first == {"file": str(tmp_path / "deploy.yaml"), "line": 10,
                     "kind": "kubernetes container", "context": "container migrate",
                     "before": db_ref, "after": expected[db_ref], "status": "pinned",
                     "reason": None}

    checked = attest("pin", "--check", str(tmp_path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_fails_on_a_moved_tag_and_update_moves_the_pin(make_image, tmp_path):
    first = make_image("pin/moving", tag="1")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {first.tagged}\n")
    assert attest("pin", str(dockerfile)).returncode == 0
    pinned_text = dockerfile.read_text()
    assert pinned_text == f"FROM {first.tagged}@{first.digest}\n"

    second = make_image("pin/moving")
    _retag(second, "1")  # the tag moves to a new build
    checked = attest("pin", "--check", str(dockerfile))
    assert checked.returncode == 1
    assert f"{dockerfile}:1: stale: {first.tagged}@{first.digest}" in checked.stdout
    assert second.digest in checked.stdout
    assert dockerfile.read_text() == pinned_text  # --check writes nothing

    assert attest("pin", str(dockerfile)).returncode == 0  # plain pin never moves a pin
    assert dockerfile.read_text() == pinned_text

    updated = attest("pin", "--update", str(dockerfile))
    assert updated.returncode == 0, updated.stderr
    assert dockerfile.read_text() == f"FROM {first.tagged}@{second.digest}\n"
    assert attest("pin", "--check", str(dockerfile)).returncode == 0


def test_check_fails_on_unpinned_references(make_image, tmp_path):
    image = make_image("pin/unpinned", tag="1")
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(f"spec:\n  containers:\n    - image: {image.tagged}\n")
    checked = attest("pin", "--check", str(manifest))
    assert checked.returncode == 1
    assert f"{manifest}:3: unpinned: {image.tagged} -> {image.tagged}@{image.digest}" \
        in checked.stdout


def test_index_pins_the_index_or_the_requested_platform(make_index, tmp_path):
    index = make_index("pin/multi")
    tag = index.ref.tag
    manifest = index.client.get_manifest(index.ref.repository, index.digest)
    arm64 = next(m.digest for m in manifest.manifests()
                 if (m.platform or {}).get("architecture") == "arm64")
    default = tmp_path / "a.yaml"
    chosen = tmp_path / "b.yaml"
    for path in (default, chosen):
        path.write_text(f"containers: [{{image: {index.ref.name}:{tag}}}]\n")
    assert attest("pin", str(default)).returncode == 0
    assert attest("pin", "--platform", "linux/arm64", str(chosen)).returncode == 0
    assert default.read_text() == f"containers: [{{image: {index.ref.name}:{tag}@{index.digest}}}]\n"
    assert chosen.read_text() == f"containers: [{{image: {index.ref.name}:{tag}@{arm64}}}]\n"


def test_helm_output_on_stdin_goes_to_stdout_pinned(make_image):
    image = make_image("pin/helm", tag="3")
    rendered = f"---\n# Source: chart/templates/deploy.yaml\nspec:\n  containers:\n" \
               f"    - image: {image.tagged}\n"
    done = attest("pin", "-", stdin=rendered)
    assert done.returncode == 0, done.stderr
    assert done.stdout == rendered.replace(image.tagged, f"{image.tagged}@{image.digest}")
    assert "pinned" in done.stderr


def test_a_missing_tag_fails_clearly_and_writes_nothing(make_image, registry, tmp_path):
    image = make_image("pin/exists", tag="1")
    good = tmp_path / "a.yaml"
    bad = tmp_path / "b.yaml"
    good.write_text(f"containers: [{{image: {image.tagged}}}]\n")
    bad.write_text(f"containers: [{{image: {registry.host}/pin/exists:nope}}]\n")
    done = attest("pin", str(good), str(bad))
    assert done.returncode not in (0, 1, 70)
    assert f"{bad}:1: {registry.host}/pin/exists:nope" in done.stderr
    assert "Traceback" not in done.stderr
    assert good.read_text() == f"containers: [{{image: {image.tagged}}}]\n"


def test_verify_pins_only_images_whose_evidence_passes(make_image, signer, tmp_path):
    trusted = make_image("pin/signed", tag="1")
    trusted.attach(signer.sign(statement(trusted.digest, provenance())))
    unsigned = make_image("pin/unsigned", tag="1")
    manifest = tmp_path / "pods.yaml"
    content = (f"spec:\n  containers:\n    - image: {trusted.tagged}\n"
               f"    - image: {unsigned.tagged}\n")
    manifest.write_text(content)
    done = attest("pin", "--verify", *signer.flags(), str(manifest))
    assert done.returncode == 1, done.stdout + done.stderr
    assert manifest.read_text() == content.replace(trusted.tagged,
                                                   f"{trusted.tagged}@{trusted.digest}")
    assert f"{manifest}:4: refused: {unsigned.tagged}" in done.stdout


def test_verification_flags_without_verify_are_a_usage_error(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM a:1\n")
    done = attest("pin", "--policy", str(tmp_path / "Dockerfile"), str(tmp_path / "Dockerfile"))
    assert done.returncode == 2
    assert "--verify" in done.stderr
