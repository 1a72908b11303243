"""A real Debian base image with no public registry: mmdebstrap from the apt mirror, then import.

Building the root filesystem takes a while, so the tarball is cached (``ATTEST_CACHE`` or
``~/.cache/attest-devstack``) and reused by every test session, demo and benchmark run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devstack.services import apt_mirror

SUITE = "bookworm"


def cache_dir() -> Path:
    path = Path(os.environ.get("ATTEST_CACHE", Path.home() / ".cache" / "attest-devstack"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def debian_rootfs(variant: str = "minbase", include: tuple[str, ...] = ()) -> Path:
    """A cached ``mmdebstrap`` root filesystem tarball of Debian 12."""
    name = f"debian-{SUITE}-{variant}" + (f"-{'-'.join(include)}" if include else "") + ".tar"
    target = cache_dir() / name
    if target.exists() and target.stat().st_size > 0:
        return target
    partial = target.with_suffix(".partial")
    argv = ["mmdebstrap", f"--variant={variant}", "--mode=root", "--format=tar", "--quiet"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [SUITE, str(partial), f"deb {apt_mirror()} {SUITE} main"]
    subprocess.run(argv, check=True)
    partial.rename(target)
    return target


def push_debian_base(registry: str, repository: str = "base/debian", tag: str = SUITE,
                     include: tuple[str, ...] = ()) -> str:
    """Import the rootfs as an image, push it, return ``registry/repo:tag``."""
    ref = f"{registry}/{repository}:{tag}"
    tarball = debian_rootfs(include=include)
    subprocess.run(["docker", "import", "--change", 'CMD ["/bin/bash"]', str(tarball), ref],
                   check=True, capture_output=True)
    subprocess.run(["docker", "push", ref], check=True, capture_output=True)
    return ref
