"""Layer streams: read, decompress and *hash* a layer while the walker parses it.

Every layer stream, whatever its source and compression, is checked twice before the walker
may treat it as read: the stored bytes against the layer's descriptor digest (sha256 or
sha512, and its size) and the uncompressed tarball against the config's ``diff_id``. The
check happens at the end of the stream, in :meth:`~oci_attest.sbom.tarscan.ByteSource.drain`,
which the walker and the secret scanner call before they use what they found; a mismatch is
an :class:`~oci_attest.errors.InputError` (exit 3) naming the layer, so a tampered ``docker
save`` tar or OCI layout never yields an SBOM or a clean scan under the original digest.

How a layer is decompressed is decided by its media type, never by magic bytes: a blob
declared ``+gzip`` that holds a plain tar fails to inflate (and its digest would not match
anyway). Only a legacy ``docker save`` archive declares no media type; see :mod:`.archive`.

Decompression runs on a helper thread (ISA-L and hashing release the GIL), so it overlaps the
tar parsing. A plain tar stored in a local file is read in place (skipping file contents is
free) while a second helper thread hashes the same byte range; ``drain`` waits for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import threading
import types
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from oci_attest.errors import InputError
from oci_attest.sbom.tarscan import ByteSource, ChunkSource, FileRangeSource

_gzip_impl: types.ModuleType
try:  # ISA-L inflates about twice as fast as zlib and releases the GIL while it does
    from isal import isal_zlib as _gzip_impl
except ImportError:  # pragma: no cover - the dependency is declared; keep working without it
    _gzip_impl = zlib

RAW_CHUNK = 1024 * 1024
_INFLATE_SLICE = 256 * 1024
_MAX_OUT = 4 * 1024 * 1024
_QUEUE_DEPTH = 8
GZIP, ZSTD, PLAIN = "gzip", "zstd", "plain"

#: Filesystem layer media types and how each is stored. Anything else is not a layer.
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": PLAIN,
    "application/vnd.oci.image.layer.v1.tar+gzip": GZIP,
    "application/vnd.oci.image.layer.v1.tar+zstd": ZSTD,
    "application/vnd.oci.image.layer.nondistributable.v1.tar": PLAIN,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": GZIP,
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": ZSTD,
    "application/vnd.docker.image.rootfs.diff.tar.gzip": GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": PLAIN,
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": GZIP,
}
_TAMPERED_HINT = "the image was altered or damaged after it was written; save or copy it again"


def compression_for(media_type: str, what: str) -> str:
    """How a layer of ``media_type`` is stored; an InputError for anything but a layer."""
    kind = LAYER_TYPES.get(media_type)
    if kind is None:
        raise InputError(f"{what} has media type {media_type!r}, which is not a filesystem "
                         "layer", hint="pass an image whose layers are tar, tar+gzip or "
                                       "tar+zstd")
    return kind


@dataclass(frozen=True)
class Expect:
    """A digest a byte stream must hash to; ``role`` names it in the error."""

    digest: str
    role: str  # "descriptor digest" | "diff_id"


def hashed(chunks: Iterable[bytes], expected: Iterable[Expect], what: str,
           size: int | None = None) -> Iterator[bytes]:
    """Pass ``chunks`` through, then refuse them unless they hash to every expected digest
    (and add up to ``size`` bytes, when given)."""
    checks = [(hashlib.new(e.digest.partition(":")[0]), e) for e in expected]
    total = 0
    for chunk in chunks:
        for hasher, _ in checks:
            hasher.update(chunk)
        total += len(chunk)
        yield chunk
    if size is not None and total != size:
        raise InputError(f"{what} is {total} bytes, but its descriptor says {size}",
                         hint=_TAMPERED_HINT)
    for hasher, expect in checks:
        actual = f"{hasher.name}:{hasher.hexdigest()}"
        if actual != expect.digest:
            raise InputError(f"{what} does not match its {expect.role}: its content hashes to "
                             f"{actual}, not {expect.digest}", hint=_TAMPERED_HINT)


# ----------------------------------------------------------------------------- threading
class _Handoff(Iterator[bytes]):
    """The consumer's end of a helper thread's queue. An error is *sticky*: once the stream
    failed (a digest mismatch, corrupt compression) every later read fails the same way, so a
    caller that swallowed the first error cannot mistake the truncated stream for a whole one.
    ``finished`` is True only when the producer reached its end without an error."""

    def __init__(self, chunks: queue.Queue[bytes | BaseException | None]) -> None:
        self._chunks = chunks
        self.failure: BaseException | None = None
        self.finished = False

    def __iter__(self) -> _Handoff:
        return self

    def __next__(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        if self.finished:
            raise StopIteration
        item = self._chunks.get()
        if item is None:
            self.finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self.failure = item
            raise item
        return item


def background(produce: Callable[[], Iterator[bytes]],
               label: str) -> tuple[_Handoff, Callable[[], None]]:
    """Run ``produce`` on a helper thread; hand its chunks over through a bounded queue.

    The queue bounds memory (at most ``_QUEUE_DEPTH`` chunks ahead); an error on the helper
    thread is raised in the reader. Returns the chunks and a ``close`` that stops the thread.
    """
    chunks: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()

    def run() -> None:
        try:
            for chunk in produce():
                while not stop.is_set():
                    try:
                        chunks.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            chunks.put(None)
        except BaseException as error:
            chunks.put(error)

    thread = threading.Thread(target=run, name=f"attest-{label}", daemon=True)
    thread.start()

    def close() -> None:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                chunks.get(timeout=0.05)
        thread.join()

    return _Handoff(chunks), close


class LayerStream(ChunkSource):
    """A layer produced on a helper thread; ``drain`` refuses a stream that did not reach its
    verified end."""

    def __init__(self, handoff: _Handoff, close: Callable[[], None], what: str) -> None:
        super().__init__(handoff, on_close=close)
        self._handoff = handoff
        self._what = what

    def drain(self) -> int:
        total = super().drain()
        if self._handoff.failure is not None:
            raise self._handoff.failure
        if not self._handoff.finished:
            raise InputError(f"{self._what} was not read to its end, so it is not verified")
        return total


def threaded(produce: Callable[[], Iterator[bytes]], label: str, what: str) -> LayerStream:
    handoff, close = background(produce, label)
    return LayerStream(handoff, close, what)


# ------------------------------------------------------------------------- decompression
def inflate(raw: Iterator[bytes], kind: str, what: str) -> Iterator[bytes]:
    """Decompress a layer blob; output per call is capped so a bomb cannot fill memory."""
    if kind == PLAIN:
        yield from raw
        return
    if kind == ZSTD:
        yield from _unzstd(raw, what)
        return
    decompressor = _gzip_impl.decompressobj(31)
    finished = False
    for chunk in raw:
        view = memoryview(chunk)
        for start in range(0, len(view), _INFLATE_SLICE):
            data: bytes = bytes(view[start:start + _INFLATE_SLICE])
            while data:
                if finished:
                    if not data.strip(b"\0"):
                        break  # zero padding after the last member
                    decompressor = _gzip_impl.decompressobj(31)
                    finished = False
                try:
                    out = decompressor.decompress(data, _MAX_OUT)
                except (zlib.error, _gzip_impl.error, OSError, ValueError) as error:
                    raise InputError(f"{what} is not valid gzip: {error}") from None
                if out:
                    yield out
                if decompressor.eof:
                    finished = True
                    data = decompressor.unused_data
                else:
                    data = decompressor.unconsumed_tail
    if not finished:
        tail = decompressor.flush()
        if tail:
            yield tail
        raise InputError(f"{what} ends in the middle of its gzip stream",
                         hint="the layer blob is truncated")


def _unzstd(raw: Iterator[bytes], what: str) -> Iterator[bytes]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - declared dependency
        raise InputError(f"{what} is zstd-compressed and the zstandard module is missing",
                         hint="pip install zstandard") from None
    source = io.BufferedReader(_IterReader(raw), buffer_size=RAW_CHUNK)
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    try:
        while True:
            out = reader.read(RAW_CHUNK)
            if not out:
                return
            yield out
    except zstandard.ZstdError as error:
        raise InputError(f"{what} is not valid zstd: {error}") from None


class _IterReader(io.RawIOBase):
    """A file object over an iterator of chunks (what the zstd stream reader wants)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._buf))
        buffer[:size] = self._buf[:size]
        self._buf = self._buf[size:]
        return size


# ------------------------------------------------------------------------- local layers
def file_chunks(path: Path, start: int, length: int,
                stop: threading.Event | None = None) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, in chunks (fewer if the file is short)."""
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left > 0 and not (stop is not None and stop.is_set()):
            chunk = handle.read(min(RAW_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def local_layer_opener(path: Path, start: int, length: int, kind: str, what: str,
                       expected: list[Expect]) -> Callable[[], ByteSource]:
    """A layer stored in a local file at ``start``: hashed against ``expected`` (the stored
    bytes) and its ``diff_id`` (the uncompressed tar: the last entry of ``expected``).

    A plain tar is read in place, with a helper thread hashing the same range; a compressed
    one is inflated on a helper thread, hashed before and after inflating.
    """
    stored, uncompressed = expected[:-1], expected[-1:]
    distinct = list({e.digest: e for e in reversed(expected)}.values())  # plain: often equal

    def open_layer() -> ByteSource:
        if kind == PLAIN:
            return _CheckedFileRange(path, start, length, distinct, what)
        return threaded(lambda: hashed(inflate(hashed(file_chunks(path, start, length), stored,
                                                      what, size=length), kind, what),
                                       uncompressed, what), what[:24], what)

    return open_layer


class _CheckedFileRange(FileRangeSource):
    """A plain tar in a local file, parsed in place while a helper thread hashes it whole.

    The parse skips file contents for free (``pread`` of headers only); the hash needs every
    byte, so it runs beside the parse and ``drain`` waits for its verdict.
    """

    def __init__(self, path: Path, start: int, length: int, expected: list[Expect],
                 what: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        super().__init__(fd, start, length)
        self._owned_fd = fd
        self._what = what
        self._error: BaseException | None = None
        self._verified = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._verify,
                                        args=(path, start, length, expected),
                                        name=f"attest-hash-{what[:24]}", daemon=True)
        self._thread.start()

    def _verify(self, path: Path, start: int, length: int, expected: list[Expect]) -> None:
        try:
            for _ in hashed(file_chunks(path, start, length, self._stop), expected, self._what,
                            size=length):
                pass
            self._verified = not self._stop.is_set()
        except BaseException as error:
            self._error = error

    def drain(self) -> int:
        total = super().drain()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if not self._verified:
            raise InputError(f"{self._what} was closed before it was verified")
        return total

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._owned_fd >= 0:
            os.close(self._owned_fd)
            self._owned_fd = -1
