"""Output files get the mode the user's umask says (they were 0600, mkstemp's), and stay
atomic; a report written by the CLI is the proof end to end."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from oci_attest._internal.files import current_umask, write_bytes_atomic

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_respect_the_umask(tmp_path, umask):
    # in a child process: the umask is process-wide and pytest may run threads
    target = tmp_path / "out.json"
    code = ("import os,sys; from pathlib import Path; os.umask(int(sys.argv[2], 8));"
            "from oci_attest._internal.files import write_bytes_atomic;"
            "write_bytes_atomic(Path(sys.argv[1]), b'{}')")
    subprocess.run([sys.executable, "-c", code, str(target), oct(umask)[2:]], check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert target.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary left


def test_an_explicit_mode_wins(tmp_path):
    target = tmp_path / "key"
    write_bytes_atomic(target, b"x", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_current_umask_reads_without_changing_it():
    before = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        assert current_umask() == 0o027
    finally:
        os.umask(before)
