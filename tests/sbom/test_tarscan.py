"""The layer tar reader: every entry to the end of the layer, whatever it meets on the way."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from oci_attest.sbom.tarscan import ChunkSource, FileRangeSource, TarReader, normalize
from tests.sbom.helpers import Item, d, f, hard, layer, sym


def _sources(data: bytes, tmp_path: Path, kind: str):
    if kind == "stream":
        chunks = [data[i:i + 700] for i in range(0, len(data), 700)]  # odd chunk boundaries
        return ChunkSource(iter(chunks))
    path = tmp_path / "layer.tar"
    path.write_bytes(b"PADDING!" + data + b"TRAILER")
    fd = os.open(path, os.O_RDONLY)
    return FileRangeSource(fd, 8, len(data))


def read_all(data: bytes, tmp_path: Path, kind: str) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    warnings: list[str] = []
    reader = TarReader(_sources(data, tmp_path, kind), warnings.append, "layer 1")
    out = []
    for entry in reader:
        content = reader.read_content() if entry.kind == "file" else b""
        out.append((entry.path, entry.kind, content if entry.kind == "file" else entry.linkname.encode()))
    return out, warnings


@pytest.fixture(params=["stream", "file"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_reads_files_dirs_links_and_content(tmp_path: Path, kind: str) -> None:
    data = layer(d("usr/"), f("./usr/a.txt", "hello"), sym("usr/link", "a.txt"),
                 hard("usr/hard", "usr/a.txt"), f("/etc/abs", "x" * 1000))
    entries, warnings = read_all(data, tmp_path, kind)
    assert entries == [("usr", "dir", b""), ("usr/a.txt", "file", b"hello"),
                       ("usr/link", "symlink", b"a.txt"), ("usr/hard", "hardlink", b"usr/a.txt"),
                       ("etc/abs", "file", b"x" * 1000)]
    assert warnings == []


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_link_targets(tmp_path: Path, kind: str, fmt: int) -> None:
    long_dir = "/".join(["d" * 60] * 5)
    target = long_dir + "/" + "t" * 120
    data = layer(f(long_dir + "/file.txt", "content"), sym("short", target), format=fmt)
    entries, warnings = read_all(data, tmp_path, kind)
    assert entries == [(long_dir + "/file.txt", "file", b"content"),
                       ("short", "symlink", target.encode())]
    assert warnings == []


def test_non_ascii_names_round_trip(tmp_path: Path, kind: str) -> None:
    data = layer(f("usr/share/doc/caf\u00e9/copyright", "x"), format=tarfile.PAX_FORMAT)
    entries, _ = read_all(data, tmp_path, kind)
    assert entries[0][0] == "usr/share/doc/caf\u00e9/copyright"


def test_corrupt_header_mid_layer_keeps_the_rest(tmp_path: Path, kind: str) -> None:
    """A damaged entry costs that entry only: the reader resynchronises on the next header."""
    first, broken, after = f("a", "A" * 600), f("b", "B" * 100), f("c", "C" * 10)
    data = bytearray(layer(first, broken, after, f("d", "D")))
    offset = 512 + 1024  # header of "b": after a's header and two data blocks
    assert data[offset:offset + 1] == b"b"
    data[offset + 148:offset + 156] = b"9999999\0"  # a checksum that cannot match
    entries, warnings = read_all(bytes(data), tmp_path, kind)
    assert [e[0] for e in entries] == ["a", "c", "d"]
    assert entries[1][2] == b"C" * 10
    assert len(warnings) == 1
    assert "unreadable bytes at offset 1536" in warnings[0] and "resumed" in warnings[0]


def test_garbage_between_entries_is_reported_not_fatal(tmp_path: Path, kind: str) -> None:
    one = layer(f("one", "1"))[:1024]  # header + data block, no end-of-archive marker
    two = layer(f("two", "2"))
    data = one + os.urandom(512 * 7) + two
    entries, warnings = read_all(data, tmp_path, kind)
    assert [e[0] for e in entries] == ["one", "two"]
    assert len(warnings) == 1 and "3584 unreadable bytes" in warnings[0]


def test_truncated_layer_reports_and_stops(tmp_path: Path, kind: str) -> None:
    data = layer(f("small", "s"), f("big", "x" * 5000))
    truncated = data[:512 * 3 + 1000]
    entries, warnings = read_all(truncated, tmp_path, kind)
    assert [e[0] for e in entries][:1] == ["small"]
    assert any("ends inside the data of 'big'" in w for w in warnings)


def test_header_only_types_carry_no_data_whatever_their_size(tmp_path: Path, kind: str) -> None:
    """A whiteout written as a hard link with a leftover size must not swallow what follows
    (container engines read such entries as data-less, like Go's archive/tar)."""
    link = hard("usr/.wh.gone", "usr/.wh..wh.plnk/123.456")
    raw = bytearray(layer(link, f("usr/after", "ok")))
    size_field = b"%011o\0" % 4096
    raw[124:136] = size_field
    checksum = sum(raw[0:148]) + 8 * 32 + sum(raw[156:512])
    raw[148:156] = b"%06o\0 " % checksum
    entries, warnings = read_all(bytes(raw), tmp_path, kind)
    assert [(e[0], e[1]) for e in entries] == [("usr/.wh.gone", "hardlink"), ("usr/after", "file")]
    assert warnings == []


def test_duplicate_paths_are_all_reported(tmp_path: Path, kind: str) -> None:
    data = layer(f("x", "first"), f("x", "second"))
    entries, _ = read_all(data, tmp_path, kind)
    assert entries == [("x", "file", b"first"), ("x", "file", b"second")]


def test_base256_size(tmp_path: Path, kind: str) -> None:
    raw = bytearray(layer(f("big", "z" * 20)))
    raw[124:136] = b"\x80" + (20).to_bytes(11, "big")
    checksum = sum(raw[0:148]) + 8 * 32 + sum(raw[156:512])
    raw[148:156] = b"%06o\0 " % checksum
    entries, warnings = read_all(bytes(raw), tmp_path, kind)
    assert entries == [("big", "file", b"z" * 20)]
    assert warnings == []


def test_names_escaping_the_root_are_skipped(tmp_path: Path, kind: str) -> None:
    data = layer(f("../../etc/passwd", "evil"), f("ok", "fine"))
    entries, warnings = read_all(data, tmp_path, kind)
    assert [e[0] for e in entries] == ["ok"]
    assert any("escapes the root" in w for w in warnings)


def test_content_streams_for_large_files(tmp_path: Path, kind: str) -> None:
    payload = os.urandom(300_000)
    data = layer(f("a", "x"), f("blob", payload), f("z", "y"))
    reader = TarReader(_sources(data, tmp_path, kind), lambda _w: None, "l")
    seen = {}
    for entry in reader:
        if entry.path == "blob":
            assert reader.head(4) == payload[:4]
            stream = reader.open_content()
            assert stream is not None
            stream.seek(100_000)
            assert stream.read(10) == payload[100_000:100_010]
            stream.seek(0)
            assert stream.read() == payload
            stream.close()
        seen[entry.path] = entry.size
    assert seen == {"a": 1, "blob": 300_000, "z": 1}


def test_reads_to_the_end_after_end_of_archive_marker(tmp_path: Path) -> None:
    """Entries appended after the end marker (concatenated tars) are still read."""
    data = layer(f("a", "1")) + layer(f("b", "2"))
    entries, _ = read_all(data, tmp_path, "stream")
    assert [e[0] for e in entries] == ["a", "b"]


def test_normalize() -> None:
    assert normalize("./usr//lib/") == "usr/lib"
    assert normalize("/a/./b") == "a/b"
    assert normalize("a/../b") == "b"
    assert normalize("../x") is None
    assert normalize(".wh..wh..opq") == ".wh..wh..opq"


def test_items_helper_builds_whiteout_names() -> None:
    from tests.sbom.helpers import opq, wh

    assert wh("usr/lib/x").info.name == "usr/lib/.wh.x"
    assert opq("opt/app").info.name == "opt/app/.wh..wh..opq"
    assert isinstance(f("a"), Item)
    assert io.BytesIO(layer(f("a"))).read(1) == b"a"
