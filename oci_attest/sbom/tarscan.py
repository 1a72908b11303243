"""A forgiving, fast reader of layer tarballs: one forward pass, every entry, to the very end.

Hand-written rather than :mod:`tarfile`, for two reasons measured on real images:

* ``tarfile`` stops at the first header it cannot parse (with ``ignore_zeros`` it skips on,
  but says nothing about what it skipped); a layer written by a real engine may carry odd entries,
  and dropping the rest of a layer silently is how SBOM tools lose a quarter of an image's
  packages. Here a bad header is reported and the reader resynchronises on the next valid one.
* ``tarfile`` builds a full ``TarInfo`` per entry and reads through a small buffer; iterating the
  headers of a 350 MB image took it 0.47 s against 0.12 s for this reader, and the whole SBOM run
  is meant to cost little more than that floor.

It follows the Go ``archive/tar`` reader that container engines use where formats are loose:
header-only entry types (links, directories, devices, FIFOs) carry no data whatever their size
field says; GNU long names (``L``/``K``), PAX ``path``/``linkpath``/``size`` records and base-256
sizes are understood; unknown entry types are treated as regular files.
"""

from __future__ import annotations

import abc
import io
import os
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_HEADER_ONLY = frozenset(b"123456")
_LINK_TYPES = frozenset(b"12")
_META_TYPES = frozenset(b"LKxg")
_GNU_LONGNAME, _GNU_LONGLINK, _PAX, _SPARSE = ord("L"), ord("K"), ord("x"), ord("S")
_VOLUME_TYPES = frozenset(b"VM")
_MAX_META = 1024 * 1024  # a long name or PAX header larger than this is not a real one
_SPOOL_IN_MEMORY = 32 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

FILE, HARDLINK, SYMLINK, DIRECTORY, OTHER = "file", "hardlink", "symlink", "dir", "other"
_TYPES = {ord("0"): FILE, 0: FILE, ord("7"): FILE, ord("1"): HARDLINK, ord("2"): SYMLINK,
          ord("5"): DIRECTORY, ord("3"): OTHER, ord("4"): OTHER, ord("6"): OTHER}


class ByteSource(abc.ABC):
    """The uncompressed bytes of one layer tarball, read forwards once."""

    @abc.abstractmethod
    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes, or fewer only at the end of the stream."""

    @abc.abstractmethod
    def skip(self, size: int) -> int:
        """Move forwards; returns how many bytes were really skipped (fewer at the end)."""

    @abc.abstractmethod
    def tell(self) -> int:
        """Offset from the start of the layer tarball."""

    def window(self, offset: int, size: int) -> BinaryIO | None:
        """A random-access view of ``size`` bytes at ``offset``, if the source allows it."""
        return None

    @abc.abstractmethod
    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end) without consuming them."""

    def drain(self) -> int:
        """Read to the end (a registry blob is only verified once it has been read whole)."""
        total = 0
        while True:
            skipped = self.skip(_READ_CHUNK)
            total += skipped
            if skipped < _READ_CHUNK:
                return total

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release whatever the source holds (threads, file handles)."""


class FileRangeSource(ByteSource):
    """A tarball stored uncompressed at ``start`` in a local file: skipping is free.

    A ``docker save`` archive keeps its layers as plain tar members, so their headers can be
    read with ``pread`` and file contents never touched unless a cataloger asks for them.
    """

    _AHEAD = 64 * 1024

    def __init__(self, fd: int, start: int, length: int) -> None:
        self._fd = fd
        self._start = start
        self._length = length
        self._pos = 0
        self._buf = b""
        self._buf_at = 0

    def read(self, size: int) -> bytes:
        size = max(0, min(size, self._length - self._pos))
        offset = self._pos - self._buf_at
        if offset >= 0 and offset + size <= len(self._buf):
            data = self._buf[offset:offset + size]
        elif size <= BLOCK:
            want = min(self._AHEAD, self._length - self._pos)
            self._buf = os.pread(self._fd, want, self._start + self._pos)
            self._buf_at = self._pos
            data = self._buf[:size]
        else:
            data = os.pread(self._fd, size, self._start + self._pos)
        self._pos += len(data)
        return data

    def skip(self, size: int) -> int:
        size = max(0, min(size, self._length - self._pos))
        self._pos += size
        return size

    def peek(self, size: int) -> bytes:
        size = max(0, min(size, self._length - self._pos))
        return os.pread(self._fd, size, self._start + self._pos)

    def tell(self) -> int:
        return self._pos

    def window(self, offset: int, size: int) -> BinaryIO:
        size = max(0, min(size, self._length - offset))
        # A small buffer: ELF and zip readers jump around and read little at each place.
        return io.BufferedReader(_RangeFile(self._fd, self._start + offset, size),
                                 buffer_size=8 * 1024)


class _RangeFile(io.RawIOBase):
    """``size`` bytes of a file descriptor at ``start``, seekable, read with ``pread``."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        super().__init__()
        self._fd = fd
        self._start = start
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._start + self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


class ChunkSource(ByteSource):
    """Bytes arriving as chunks (decompressed from a download or a compressed blob)."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None] | None = None) -> None:
        self._chunks = chunks
        self._buf = b""
        self._pos = 0
        self._offset = 0  # stream offset of self._buf[0]
        self._eof = False
        self._on_close = on_close

    def _fill(self) -> bool:
        """Append the next chunk to what is left of the buffer; False at the end."""
        if self._eof:
            return False
        for chunk in self._chunks:
            if not chunk:
                continue
            if self._pos >= len(self._buf):
                self._offset += len(self._buf)
                self._buf, self._pos = chunk, 0
            else:
                self._offset += self._pos
                self._buf, self._pos = self._buf[self._pos:] + chunk, 0
            return True
        self._eof = True
        return False

    def read(self, size: int) -> bytes:
        end = self._pos + size
        if end <= len(self._buf):
            data = self._buf[self._pos:end]
            self._pos = end
            return data
        parts = [self._buf[self._pos:]]
        need = size - len(parts[0])
        self._offset += len(self._buf)
        self._buf, self._pos = b"", 0
        while need > 0 and self._fill():
            take = self._buf[:need]
            parts.append(take)
            self._pos = len(take)
            need -= len(take)
        return b"".join(parts)

    def skip(self, size: int) -> int:
        skipped = 0
        while True:
            available = len(self._buf) - self._pos
            if size - skipped <= available:
                self._pos += size - skipped
                return size
            skipped += available
            self._offset += len(self._buf)
            self._buf, self._pos = b"", 0
            if not self._fill():
                return skipped

    def tell(self) -> int:
        return self._offset + self._pos

    def peek(self, size: int) -> bytes:
        while len(self._buf) - self._pos < size and self._fill():
            pass
        return self._buf[self._pos:self._pos + size]

    def copy_to(self, sink: BinaryIO, size: int) -> int:
        """Move ``size`` bytes into ``sink`` without joining them into one object first."""
        copied = 0
        while copied < size:
            available = len(self._buf) - self._pos
            if available <= 0:
                self._offset += len(self._buf)
                self._buf, self._pos = b"", 0
                if not self._fill():
                    break
                continue
            take = min(available, size - copied)
            sink.write(memoryview(self._buf)[self._pos:self._pos + take])
            self._pos += take
            copied += take
        return copied

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


@dataclass(slots=True)
class TarEntry:
    """One member. ``path`` is normalized (no leading ``./`` or ``/``, no trailing ``/``)."""

    path: str
    kind: str
    size: int
    mode: int
    linkname: str
    offset: int  # where the data starts in the layer tarball


class TarReader:
    """Iterate a layer's entries; content is read through the reader before the next entry.

    ``warn`` receives one line for each thing skipped and why, prefixed with ``label``.
    """

    def __init__(self, source: ByteSource, warn: Callable[[str], None], label: str) -> None:
        self._src = source
        self._warn = warn
        self._label = label
        self._pending = 0  # data + padding of the current entry not read yet
        self._current: TarEntry | None = None
        self.entries = 0
        self.problems = 0

    # ------------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[TarEntry]:
        src = self._src
        long_name: str | None = None
        long_link: str | None = None
        pax: dict[str, str] = {}
        resync_from: int | None = None
        while True:
            if self._pending:
                got = src.skip(self._pending)
                if got < self._pending:
                    self._problem(f"ends inside the data of {self._describe()}")
                    return
                self._pending = 0
            self._current = None
            at = src.tell()
            header = src.read(BLOCK)
            if len(header) < BLOCK:
                if header.strip(b"\0"):
                    self._problem(f"ends with a partial header at offset {at}")
                if resync_from is not None:
                    self._problem(f"had {at - resync_from} unreadable bytes at offset "
                                  f"{resync_from} up to its end")
                return
            if header == _ZERO_BLOCK:
                continue
            if not _checksum_ok(header):
                if resync_from is None:
                    resync_from = at
                continue
            if resync_from is not None:
                self._problem(f"had {at - resync_from} unreadable bytes at offset "
                              f"{resync_from}; reading resumed at the next valid header")
                resync_from = None
                long_name = long_link = None
                pax = {}
            typeflag = header[156]
            size = _number(header[124:136])
            if size is None or size < 0:
                self._problem(f"has an entry with an unreadable size at offset {at}; skipped")
                continue
            padded = (size + BLOCK - 1) // BLOCK * BLOCK
            if typeflag in _META_TYPES:
                if size > _MAX_META:
                    self._problem(f"has a {size}-byte metadata entry at offset {at}; skipped")
                    self._pending = padded
                    continue
                data = src.read(padded)[:size]
                if typeflag == _GNU_LONGNAME:
                    long_name = _decode(data.split(b"\0", 1)[0])
                elif typeflag == _GNU_LONGLINK:
                    long_link = _decode(data.split(b"\0", 1)[0])
                elif typeflag == _PAX:
                    pax.update(_parse_pax(data))
                continue  # a global PAX header ('g') sets defaults nobody uses for layers
            if long_name is not None:
                name = long_name
            else:
                end = header.find(b"\0", 0, 100)
                raw = header[:end] if end >= 0 else header[:100]
                if header[345] and header[257:263] == b"ustar\0":  # POSIX prefix field
                    end = header.find(b"\0", 345, 500)
                    raw = (header[345:end] if end >= 0 else header[345:500]) + b"/" + raw
                name = raw.decode("utf-8", "surrogateescape")
            if long_link is not None:
                linkname = long_link
            elif typeflag in _LINK_TYPES:
                end = header.find(b"\0", 157, 257)
                linkname = (header[157:end] if end >= 0 else header[157:257]).decode(
                    "utf-8", "surrogateescape")
            else:
                linkname = ""
            if pax:
                name = pax.get("path", name)
                linkname = pax.get("linkpath", linkname)
                if "size" in pax:
                    try:
                        size = int(pax["size"])
                        padded = (size + BLOCK - 1) // BLOCK * BLOCK
                    except ValueError:
                        self._problem(f"has a PAX size {pax['size'][:20]!r} at offset {at}")
            long_name = long_link = None
            pax = {}
            kind = _TYPES.get(typeflag, FILE)
            if typeflag in _HEADER_ONLY:
                padded = 0
                size = 0
            elif typeflag == _SPARSE:
                self._problem(f"has a GNU sparse file {name!r}; its content is not read")
                kind = OTHER
            elif typeflag in _VOLUME_TYPES:
                kind = OTHER
            mode = _number(header[100:108]) or 0
            path = normalize(name)
            if path is None:
                self._problem(f"has an entry named {name[:120]!r} that escapes the root; skipped")
                self._pending = padded
                continue
            if kind == DIRECTORY or path == "":
                kind = DIRECTORY if path else OTHER
            entry = TarEntry(path, kind, size, mode, linkname, src.tell())
            self._current = entry
            self._pending = padded
            self.entries += 1
            yield entry

    # ---------------------------------------------------------------------- content
    def read_content(self) -> bytes:
        """The whole data of the current entry (callers check the size first)."""
        entry = self._current
        if entry is None or self._pending == 0:
            return b""
        padded = self._pending
        data = self._src.read(entry.size)
        self._pending = padded - len(data)
        if len(data) < entry.size:
            self._problem(f"ends inside the data of {self._describe()}")
            self._pending = 0
        return data

    def iter_content(self, chunk: int) -> Iterator[bytes]:
        """The current entry's data in pieces of at most ``chunk`` bytes: a file of any size
        read in flat memory (stopping early is fine; the rest is skipped on the next entry)."""
        entry = self._current
        if entry is None or self._pending == 0:
            return
        remaining = entry.size
        while remaining > 0:
            data = self._src.read(min(chunk, remaining))
            self._pending -= len(data)
            remaining -= len(data)
            if not data:
                self._problem(f"ends inside the data of {self._describe()}")
                self._pending = 0
                return
            yield data

    def head(self, size: int) -> bytes:
        """The first bytes of the current entry without consuming it (sniffing magic)."""
        entry = self._current
        if entry is None or self._pending == 0:
            return b""
        return self._src.peek(min(size, entry.size))

    def open_content(self) -> BinaryIO | None:
        """A seekable file object over the current entry's data.

        From a plain tar on disk this is a view (nothing is copied); from a compressed stream
        the data has to pass by anyway, so it is kept in a spool that stays in memory up to
        32 MB and moves to a temporary file beyond that, keeping memory flat for large binaries.
        """
        entry = self._current
        if entry is None:
            return None
        window = self._src.window(entry.offset, entry.size)
        if window is not None:
            return window
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        src = self._src
        if isinstance(src, ChunkSource):
            copied = src.copy_to(spool, entry.size)  # type: ignore[arg-type]
        else:
            data = src.read(entry.size)
            spool.write(data)
            copied = len(data)
        self._pending -= copied
        if copied < entry.size:
            self._problem(f"ends inside the data of {self._describe()}")
            self._pending = 0
        spool.seek(0)
        return spool  # type: ignore[return-value]

    # ---------------------------------------------------------------------- reporting
    def _describe(self) -> str:
        return repr(self._current.path) if self._current else "an entry"

    def _problem(self, text: str) -> None:
        self.problems += 1
        self._warn(f"{self._label} {text}")


def _checksum_ok(header: bytes) -> bool:
    """The header checksum, computed in C: adler32's low half is 1 + the byte sum mod 65521."""
    stored = _number(header[148:156])
    if stored is None:
        return False
    field_sum = sum(header[148:156])
    total = ((zlib.adler32(header) & 0xFFFF) - 1) % 65521  # byte sum mod 65521
    if (stored - 256 + field_sum) % 65521 == total:
        return True
    # Some old writers summed signed chars.
    signed = sum(b - 256 if b > 127 else b for b in header) - sum(
        b - 256 if b > 127 else b for b in header[148:156]) + 256
    return signed == stored


def _number(field: bytes) -> int | None:
    """An octal field, or GNU base-256 when the high bit of the first byte is set."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] & 0x40:  # negative
            value -= 1 << (8 * (len(field) - 1))
        return value
    try:  # the common "0001234\0" or "1234 \0" in one C call
        return int(field.replace(b"\0", b" "), 8)
    except ValueError:
        pass
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        return None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; a malformed record ends parsing, keeping what came before."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0 or pos + length > len(data):
            break
        record = data[space + 1:pos + length - 1]
        key, sep, value = record.partition(b"=")
        if sep:
            records[_decode(key)] = _decode(value)
        pos += length
    return records


def normalize(name: str) -> str | None:
    """``./usr//lib/`` becomes ``usr/lib``; None for names that climb out with ``..``."""
    if name.endswith("/"):
        name = name[:-1]
    if name[:1] not in ("/", ".", "") and "//" not in name and "/." not in name:
        return name
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)
