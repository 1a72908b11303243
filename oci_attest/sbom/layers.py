"""One streaming pass per layer, in order, as a container engine would apply them.

The pass keeps, per path, only what catalogers made of the files they wanted (a few package
records), never file contents. When a later layer deletes a path (a ``.wh.<name>`` whiteout),
hides a directory's lower contents (an opaque ``.wh..wh..opq`` marker), or replaces a path with
anything else (a new file, a directory, a link), the earlier result for that path is dropped
before the new one is recorded; so what reaches the catalogers' ``finish`` is exactly what is
visible in the final filesystem. That ordering is also why layers are read one after another;
the next layer's download and decompression start while the current one is parsed.

Whiteouts only hide content of lower layers (OCI image spec): an entry and a whiteout for it in
the same layer do not cancel each other. aufs bookkeeping (``.wh..wh.plnk`` and friends) is
ignored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from oci_attest.sbom.catalogers.base import (
    Cataloger,
    Context,
    Delivery,
    FileInput,
    Found,
    FoundFile,
    Interest,
)
from oci_attest.sbom.model import Distro, Package
from oci_attest.sbom.sources import Image
from oci_attest.sbom.tarscan import (
    DIRECTORY,
    FILE,
    HARDLINK,
    SYMLINK,
    ByteSource,
    TarReader,
    normalize,
)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_ELF_MAGIC = b"\x7fELF"
_MIN_EXECUTABLE = 512


@dataclass(slots=True)
class _Record:
    cataloger: int
    layer: int
    found: Found


@dataclass
class _Want:
    cataloger: int
    interest: Interest


@dataclass
class LayerStats:
    """What one layer's pass saw, for progress lines and the benchmark."""

    index: int
    entries: int = 0
    files_read: int = 0
    bytes_read: int = 0
    seconds: float = 0.0


class _Dispatch:
    """Decide per tar entry, with a dictionary lookup or two, which catalogers want it."""

    def __init__(self, catalogers: list[Cataloger]) -> None:
        self.by_basename: dict[str, list[_Want]] = {}
        self.by_parent: dict[str, list[_Want]] = {}
        self.by_suffix: list[tuple[str, _Want]] = []
        self.by_parent_suffix: list[tuple[str, _Want]] = []
        self.executables: list[_Want] = []
        for number, cataloger in enumerate(catalogers):
            for interest in cataloger.interests():
                want = _Want(number, interest)
                for name in interest.basenames:
                    self.by_basename.setdefault(name, []).append(want)
                for parent in interest.parents:
                    self.by_parent.setdefault(parent, []).append(want)
                self.by_suffix.extend((suffix, want) for suffix in interest.suffixes)
                self.by_parent_suffix.extend((suffix, want) for suffix in interest.parent_suffixes)
                if interest.executables:
                    self.executables.append(want)
        self.suffixes = tuple(suffix for suffix, _ in self.by_suffix)
        self.parent_suffixes = tuple(suffix for suffix, _ in self.by_parent_suffix)

    def match(self, path: str, kind: str, mode: int, size: int) -> list[_Want]:
        slash = path.rfind("/")
        base = path[slash + 1:]
        parent = path[:slash] if slash >= 0 else ""
        found: list[_Want] = []
        hit = self.by_basename.get(base)
        if hit:
            found.extend(hit)
        hit = self.by_parent.get(parent)
        if hit:
            found.extend(hit)
        if self.suffixes and base.endswith(self.suffixes):
            found.extend(w for suffix, w in self.by_suffix if base.endswith(suffix))
        if self.parent_suffixes and parent.endswith(self.parent_suffixes):
            found.extend(w for suffix, w in self.by_parent_suffix if parent.endswith(suffix))
        if self.executables and kind == FILE and size >= _MIN_EXECUTABLE \
                and (mode & 0o111 or ".so" in base):
            found.extend(self.executables)
        if not found:
            return found
        wanted = []
        for want in found:
            interest = want.interest
            if kind == SYMLINK and interest.delivery is not Delivery.LINK:
                continue
            if kind == FILE and not interest.files:
                continue
            if kind not in (FILE, SYMLINK):
                continue
            if interest.accept is not None and not interest.accept(path):
                continue
            wanted.append(want)
        return wanted


@dataclass
class Walker:
    """Applies layers in order and keeps the catalogers' results for visible paths."""

    catalogers: list[Cataloger]
    warn: Callable[[str], None]
    progress: Callable[[str], None] = lambda _text: None
    state: dict[str, list[_Record]] = field(default_factory=dict)
    stats: list[LayerStats] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._dispatch = _Dispatch(self.catalogers)
        self._below: dict[str, int] = {}  # directory -> records beneath it

    # ------------------------------------------------------------------ the visible set
    def _add(self, path: str, records: list[_Record]) -> None:
        if path in self.state:
            self._remove(path)
        self.state[path] = records
        for parent in _parents(path):
            self._below[parent] = self._below.get(parent, 0) + 1

    def _remove(self, path: str) -> None:
        if self.state.pop(path, None) is None:
            return
        for parent in _parents(path):
            left = self._below.get(parent, 0) - 1
            if left > 0:
                self._below[parent] = left
            else:
                self._below.pop(parent, None)

    def _remove_under(self, directory: str, before_layer: int) -> None:
        if not self._below.get(directory):
            return
        prefix = directory + "/" if directory else ""
        doomed = [path for path, records in self.state.items()
                  if path.startswith(prefix) and records[0].layer < before_layer]
        for path in doomed:
            self._remove(path)

    # ----------------------------------------------------------------------- one layer
    def apply_layer(self, index: int, source: ByteSource, label: str) -> LayerStats:
        stats = LayerStats(index)
        started = time.perf_counter()
        reader = TarReader(source, self.warn, label)
        read_here: set[str] = set()
        dispatch = self._dispatch
        state = self.state
        below = self._below
        for entry in reader:
            path = entry.path
            if WHITEOUT in path and self._whiteout(path, index):
                continue
            if path in state:
                self._remove(path)
            if entry.kind != DIRECTORY and below.get(path):
                self._remove_under(path, index + 1)
            if entry.kind == HARDLINK:
                self._hardlink(entry.path, entry.linkname, entry.mode, index, read_here, label)
                continue
            if entry.kind not in (FILE, SYMLINK):
                continue
            wants = dispatch.match(path, entry.kind, entry.mode, entry.size)
            if not wants:
                continue
            records = self._read(reader, entry.path, entry.kind, entry.size, entry.mode,
                                 entry.linkname, index, wants, stats, label)
            read_here.add(path)
            if records:
                self._add(path, records)
        stats.entries = reader.entries
        stats.seconds = time.perf_counter() - started
        self.stats.append(stats)
        return stats

    def _whiteout(self, path: str, layer: int) -> bool:
        """Apply a whiteout entry; True when the entry was one (and needs nothing else)."""
        parts = path.split("/")
        if any(part.startswith(".wh..wh.") for part in parts[:-1]):
            return True  # inside aufs bookkeeping directories
        base = parts[-1]
        if not base.startswith(WHITEOUT):
            return False
        parent = "/".join(parts[:-1])
        if base == OPAQUE:
            self._remove_under(parent, layer)
            return True
        if base.startswith(".wh..wh."):
            return True  # other aufs metadata
        target = f"{parent}/{base[len(WHITEOUT):]}" if parent else base[len(WHITEOUT):]
        records = self.state.get(target)
        if records is not None and records[0].layer < layer:
            self._remove(target)
        self._remove_under(target, layer)
        return True

    def _hardlink(self, path: str, linkname: str, mode: int, layer: int, read_here: set[str],
                  label: str) -> None:
        target = normalize(linkname)
        if target is None:
            self.warn(f"{label} has a hard link {path!r} to {linkname[:120]!r} outside the root; "
                      "skipped")
            return
        records = self.state.get(target)
        if records:
            self._add(path, [_Record(r.cataloger, layer, r.found.relocated("/" + path, layer))
                             for r in records])
            return
        wants = self._dispatch.match(path, FILE, mode, _MIN_EXECUTABLE)
        named = [w for w in wants if not w.interest.executables]
        if named and target not in read_here:
            self.warn(f"{label}: hard link {path!r} points to {target!r}, whose content was not "
                      "kept; not cataloged")

    def _read(self, reader: TarReader, path: str, kind: str, size: int, mode: int,
              linkname: str, layer: int, wants: list[_Want], stats: LayerStats,
              label: str) -> list[_Record]:
        if kind == SYMLINK:
            file = FileInput(path, layer, 0, mode, link_target=linkname)
            return self._catalog(file, wants, label)
        random_access = [w for w in wants if w.interest.delivery is Delivery.RANDOM_ACCESS]
        if random_access:
            magic = reader.head(4)
            wants = [w for w in wants if w.interest.delivery is not Delivery.RANDOM_ACCESS
                     or not w.interest.executables or magic == _ELF_MAGIC]
            if not wants:
                return []
        too_big = [w for w in wants if size > w.interest.max_size]
        for want in too_big:
            self.warn(f"{label}: {path!r} is {size} bytes, more than the "
                      f"{self.catalogers[want.cataloger].name} cataloger reads "
                      f"({want.interest.max_size}); skipped")
        wants = [w for w in wants if size <= w.interest.max_size]
        if not wants:
            return []
        stats.files_read += 1
        stats.bytes_read += size
        if any(w.interest.delivery is Delivery.RANDOM_ACCESS for w in wants):
            stream = reader.open_content()
            try:
                return self._catalog(FileInput(path, layer, size, mode, stream=stream),
                                     wants, label)
            finally:
                if stream is not None:
                    stream.close()
        data = reader.read_content()
        return self._catalog(FileInput(path, layer, size, mode, data=data), wants, label)

    def _catalog(self, file: FileInput, wants: list[_Want], label: str) -> list[_Record]:
        records = []
        for want in wants:
            cataloger = self.catalogers[want.cataloger]
            try:
                found = cataloger.catalog(file, self.warn)
            except Exception as error:
                self.warn(f"{cataloger.name}: could not read /{file.path} ({label}): "
                          f"{type(error).__name__}: {str(error)[:200]}")
                continue
            if found is not None and (found.packages or found.facts):
                records.append(_Record(want.cataloger, file.layer, found))
        return records

    # ------------------------------------------------------------------------ results
    def surviving(self, cataloger: int) -> list[FoundFile]:
        """What one cataloger found in files still visible, in path order."""
        files = [FoundFile(path, record.layer, record.found)
                 for path, records in self.state.items()
                 for record in records if record.cataloger == cataloger]
        files.sort(key=lambda item: item.path)
        return files


def _parents(path: str) -> Iterable[str]:
    """``a/b/c`` -> ``a/b``, ``a``, and the root ``""``."""
    while True:
        slash = path.rfind("/")
        if slash < 0:
            yield ""
            return
        path = path[:slash]
        yield path


def walk_image(image: Image, catalogers: list[Cataloger], warn: Callable[[str], None],
               progress: Callable[[str], None]) -> Walker:
    """Apply every layer of ``image`` in order; the next layer starts downloading early."""
    walker = Walker(catalogers, warn, progress)
    count = len(image.layers)
    upcoming: ByteSource | None = image.layers[0].opener() if image.layers else None
    try:
        for layer in image.layers:
            source = upcoming
            assert source is not None
            upcoming = image.layers[layer.index + 1].opener() if layer.index + 1 < count else None
            # numbered from 0, as in the SBOM's attest:image:layer:N and scan-secrets
            label = f"layer {layer.index} ({layer.diff_id[:19]})"
            try:
                stats = walker.apply_layer(layer.index, source, label)
                source.drain()
            finally:
                source.close()
            progress(f"{label}: {stats.entries} entries, {stats.files_read} files read "
                     f"in {stats.seconds:.2f}s [{layer.index + 1} of {count}]")
    finally:
        if upcoming is not None:
            upcoming.close()
    return walker


def finish(walker: Walker, distro: Distro | None, skip: Iterable[int] = ()) -> list[Package]:
    """Each cataloger joins what survived; OS packages learn their distro here."""
    context = Context(distro=distro, warn=walker.warn)
    packages: list[Package] = []
    skipped = set(skip)
    for number, cataloger in enumerate(walker.catalogers):
        if number in skipped:
            continue
        try:
            packages.extend(cataloger.finish(walker.surviving(number), context))
        except Exception as error:
            walker.warn(f"{cataloger.name}: could not assemble results: "
                        f"{type(error).__name__}: {str(error)[:200]}")
    return packages


def iterate_headers(image: Image) -> int:
    """Read every layer's tar headers and nothing else: the floor any SBOM tool pays."""
    total = 0
    for layer in image.layers:
        source = layer.opener()
        try:
            reader = TarReader(source, lambda _text: None, "")
            for _entry in reader:
                total += 1
            source.drain()
        finally:
            source.close()
    return total
