"""Hostile layer tarballs through the secret scanner: path escapes, links out of the layer,
link loops, entries claiming enormous sizes, a gzip bomb. The scan must finish, warn about what
it skipped, write nothing anywhere, and keep memory bounded."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tracemalloc

from click.testing import CliRunner

from oci_attest.cli import cli
from oci_attest.secrets import scan_image
from tests.secrets.planted import ALNUM, rand


def _entry(tar, name, data=b"", kind=tarfile.REGTYPE, link="", size=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if size is None else size
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def archive(path, layers):
    diff_ids = ["sha256:" + hashlib.sha256(gzip.decompress(layer) if layer[:2] == b"\x1f\x8b"
                                           else layer).hexdigest() for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    names = [f"l{i}/layer.tar" for i in range(len(layers))]
    with tarfile.open(path, "w") as tar:
        files = {"config.json": config, "manifest.json": json.dumps(
            [{"Config": "config.json", "RepoTags": ["hostile:1"], "Layers": names}]).encode(),
            **dict(zip(names, layers, strict=True))}
        for name, data in files.items():
            _entry(tar, name, data)
    return path


def test_escapes_links_and_loops_are_skipped_and_nothing_is_written(tmp_path, monkeypatch):
    token = "gh" + "p_" + rand(ALNUM, 36)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _entry(tar, "../../escape.txt", f"GITHUB_TOKEN={token}\n".encode())
        _entry(tar, "/abs/secret.env", f"GITHUB_TOKEN={token}\n".encode())
        _entry(tar, "loop/a", kind=tarfile.SYMTYPE, link="b")
        _entry(tar, "loop/b", kind=tarfile.SYMTYPE, link="a")
        _entry(tar, "up", kind=tarfile.SYMTYPE, link="../../../../etc")
        _entry(tar, "passwd", kind=tarfile.LNKTYPE, link="../../etc/passwd")
        _entry(tar, "x/" + "deep/" * 400 + "file", b"deep\n")
        _entry(tar, "ok.txt", b"fine\n")
    layer = buffer.getvalue()
    # An entry claiming 8 GiB of content, in a layer that ends right after its header.
    claim = io.BytesIO()
    with tarfile.open(fileobj=claim, mode="w") as tar:
        _entry(tar, "ok2.txt", b"fine\n")
    info = tarfile.TarInfo("huge.bin")
    info.size = 8 * 1024**3
    liar = claim.getvalue()[:-1024] + info.tobuf(format=tarfile.GNU_FORMAT)
    path = archive(tmp_path / "hostile.tar", [layer, liar])
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent))
    warnings: list[str] = []
    report = scan_image(f"docker-archive:{path}", warn=warnings.append)
    assert [(f.rule, f.path) for f in report.findings] == [("github-token", "abs/secret.env")]
    assert any("escapes the root" in w for w in warnings)
    assert any("ends inside the data" in w or "8589934592" in w or "huge.bin" in w
               for w in warnings), warnings
    assert set(os.listdir(tmp_path)) | set(os.listdir(tmp_path.parent)) == before
    assert not (tmp_path.parent.parent / "escape.txt").exists()
    result = CliRunner().invoke(cli, ["scan-secrets", f"docker-archive:{path}"])
    assert result.exit_code == 7 and token not in result.output


def test_a_gzip_bomb_layer_is_streamed_in_bounded_memory(tmp_path):
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 256 * 1024 * 1024

        class Zeros(io.RawIOBase):
            left = info.size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros(), 1 << 20))
        _entry(tar, "note.txt", b"after the bomb\n")
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * 1024 * 1024  # 256 MiB inflated from well under 2 MiB
    path = archive(tmp_path / "bomb.tar", [bomb])
    tracemalloc.start()
    try:
        report = scan_image(f"docker-archive:{path}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The 256 MiB file is streamed through the rules in windows, not skipped.
    assert report.clean and report.files_streamed == 1 and report.files_scanned == 2
    assert peak < 64 * 1024 * 1024, peak
