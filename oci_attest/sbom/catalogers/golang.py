"""Go binaries: the module build information every ``go build`` embeds.

The linker writes a header starting with ``\\xff Go buildinf:`` at the start of the
``.go.buildinfo`` section (or of the first writable segment when the section table is gone),
followed since Go 1.18 by two length-prefixed strings, the toolchain version and the module
information (``path``, ``mod``, ``dep``, ``=>`` replacement and ``build`` lines); before 1.18 the
header held pointers to those strings instead. Both layouts are read; address translation for
the old one and the segment fallback use pyelftools.

Reported like ``go version -m`` shows them: the main module (a pseudo-version built from
``vcs.revision``/``vcs.time`` when the version is ``(devel)``, as Go's own tooling would),
each dependency (its replacement when the replacement is a versioned module), and the standard
library as ``stdlib`` at the toolchain's version.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from oci_attest.sbom.catalogers import _elf
from oci_attest.sbom.catalogers.base import (
    Cataloger,
    Context,
    Delivery,
    FileInput,
    Found,
    FoundFile,
    Interest,
)
from oci_attest.sbom.model import Package

MAGIC = b"\xff Go buildinf:"
_HEADER = 32
_ALIGN = 16
_SEARCH = 64 * 1024
_MAX_STRING = 4 * 1024 * 1024
_MAX_BINARY = 4 * 1024 * 1024 * 1024
_SENTINEL = 16
_TOOLCHAIN = re.compile(r"^go(\d+(?:\.\d+)*(?:(?:rc|beta)\d+)?)")


@dataclass
class Module:
    path: str
    version: str
    sum: str = ""
    replaced_by: Module | None = None


@dataclass
class BuildInfo:
    go_version: str
    path: str = ""
    main: Module | None = None
    deps: list[Module] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)


def parse_modinfo(go_version: str, text: str) -> BuildInfo:
    """``go version -m`` lines; unknown or malformed lines are ignored."""
    info = BuildInfo(go_version=go_version)
    last: Module | None = None
    for line in text.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "path" and rest:
            info.path = rest
        elif kind in ("mod", "dep") and len(fields) >= 2 and fields[0]:
            module = Module(fields[0], fields[1], fields[2] if len(fields) > 2 else "")
            if kind == "mod":
                info.main = module
            else:
                info.deps.append(module)
            last = module
        elif kind == "=>" and last is not None and fields and fields[0]:
            last.replaced_by = Module(fields[0], fields[1] if len(fields) > 1 else "",
                                      fields[2] if len(fields) > 2 else "")
        elif kind == "build" and "=" in rest:
            key, _, value = rest.partition("=")
            info.settings[key.strip('"')] = value.strip('"')
    return info


def _uvarint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def read_buildinfo(stream: BinaryIO, size: int, summary: _elf.ElfSummary) -> BuildInfo | None:
    """The build info of a Go ELF binary, or None when it is not one."""
    section = summary.sections.get(".go.buildinfo")
    if section is not None:
        start = section.offset
    elif not summary.sections:
        segment = _first_writable_segment(stream)
        if segment is None:
            return None
        start = segment
    else:
        return None
    if start >= size:
        return None
    stream.seek(start)
    data = stream.read(min(_SEARCH, size - start))
    at = 0
    while True:
        found = data.find(MAGIC, at)
        if found < 0 or len(data) - found < _HEADER:
            return None
        if found % _ALIGN == 0:
            break
        at = (found + _ALIGN - 1) // _ALIGN * _ALIGN
    header = data[found:found + _HEADER]
    pointer_size, flags = header[14], header[15]
    if flags & 0x2:  # Go 1.18+: the strings follow the header inline
        version_raw, position = _varstring(stream, start + found + _HEADER)
        modinfo, _ = _varstring(stream, position)
        version = version_raw.decode("utf-8", "replace")
    else:
        if pointer_size not in (4, 8):
            return None
        big_endian = bool(flags & 0x1)
        version_text = _pointer_string(stream, header, 16, pointer_size, big_endian)
        modinfo_text = _pointer_string(stream, header, 16 + pointer_size, pointer_size,
                                       big_endian)
        if version_text is None:
            return None
        version = version_text.decode("utf-8", "replace")
        modinfo = modinfo_text or b""
    if len(modinfo) >= 2 * _SENTINEL + 1 and modinfo[-_SENTINEL - 1] == ord("\n"):
        modinfo = modinfo[_SENTINEL:-_SENTINEL]
    else:
        modinfo = b""
    return parse_modinfo(version, modinfo.decode("utf-8", "replace"))


def _varstring(stream: BinaryIO, position: int) -> tuple[bytes, int]:
    """A uvarint length and that many bytes at ``position``; returns the bytes and the end."""
    stream.seek(position)
    length, used = _uvarint(stream.read(10), 0)
    if length > _MAX_STRING:
        raise ValueError(f"a {length}-byte build info string")
    stream.seek(position + used)
    text = stream.read(length)
    if len(text) < length:
        raise ValueError("build info string runs past the end of the file")
    return text, position + used + length


def _first_writable_segment(stream: BinaryIO) -> int | None:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(stream)
        for segment in elf.iter_segments():
            flags = segment["p_flags"]
            if segment["p_type"] == "PT_LOAD" and flags & 0x3 == 0x2:  # W without X
                return int(segment["p_offset"])
    except (ELFError, struct.error, ValueError, OSError):
        return None
    return None


def _pointer_string(stream: BinaryIO, header: bytes, at: int, pointer_size: int,
                    big_endian: bool) -> bytes | None:
    """Pre-1.18 layout: a pointer to a Go string header (pointer, length) in memory."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    order = ">" if big_endian else "<"
    code = "Q" if pointer_size == 8 else "I"
    try:
        elf = ELFFile(stream)
        loads = [(int(s["p_vaddr"]), int(s["p_offset"]), int(s["p_filesz"]))
                 for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    except (ELFError, struct.error, ValueError, OSError):
        return None

    def read_at(address: int, length: int) -> bytes | None:
        for vaddr, offset, filesz in loads:
            if vaddr <= address and address + length <= vaddr + filesz:
                stream.seek(offset + address - vaddr)
                return stream.read(length)
        return None

    pointer, = struct.unpack_from(order + code, header, at)
    string_header = read_at(pointer, 2 * pointer_size)
    if string_header is None:
        return None
    data_pointer, length = struct.unpack(order + code * 2, string_header)
    if length > _MAX_STRING:
        return None
    return read_at(data_pointer, length)


class GoBinaryCataloger(Cataloger):
    name = "golang"
    ecosystem = "golang"

    def interests(self) -> Iterable[Interest]:
        yield Interest(executables=True, delivery=Delivery.RANDOM_ACCESS, max_size=_MAX_BINARY)

    def catalog(self, file: FileInput, warn: Callable[[str], None]) -> Found | None:
        summary = _elf.summarize(file)
        if summary is None or file.stream is None:
            return None
        if summary.sections and ".go.buildinfo" not in summary.sections:
            return None
        try:
            info = read_buildinfo(file.stream, file.size, summary)
        except (ValueError, struct.error, OSError) as error:
            warn(f"golang: /{file.path} has unreadable build info ({error}); skipped")
            return None
        if info is None:
            return None
        return Found(packages=packages_from(info, "/" + file.path, file.layer))

    def finish(self, files: list[FoundFile], context: Context) -> list[Package]:
        return [package for item in files for package in item.found.packages]


def packages_from(info: BuildInfo, path: str, layer: int) -> list[Package]:
    common = {"attest:go:toolchain": info.go_version}
    for key in ("GOOS", "GOARCH"):
        if key in info.settings:
            common[f"attest:go:{key}"] = info.settings[key]
    main = info.main or (Module(info.path, "(devel)") if info.path else None)
    if main is not None:
        common["attest:go:main-module"] = main.path
    packages: list[Package] = []
    for module in info.deps:
        chosen = module.replaced_by if module.replaced_by and module.replaced_by.version \
            else module
        package = _go_package(chosen.path, chosen.version, path, layer, common)
        if module.replaced_by is not None:
            package.properties["attest:go:replaces" if chosen is not module
                               else "attest:go:replaced-by"] = (
                module.path if chosen is not module else module.replaced_by.path)
        if chosen.sum:
            package.properties["attest:go:sum"] = chosen.sum
        packages.append(package)
    toolchain = _TOOLCHAIN.match(info.go_version)
    if toolchain:
        stdlib = _go_package("stdlib", toolchain.group(1), path, layer, common)
        stdlib.display_version = info.go_version.split()[0]
        packages.append(stdlib)
    if main is not None:
        version = main.version or "(devel)"
        if version == "(devel)":
            version = _pseudo_version(info.settings) or version
        root = _go_package(main.path, version, path, layer, common)
        root.depends_on = [p.key for p in packages]
        packages.append(root)
    return packages


def _go_package(module: str, version: str, path: str, layer: int,
                properties: dict[str, str]) -> Package:
    namespace, _, name = module.rpartition("/")
    package = Package(name=module, version=version, ecosystem="golang", purl_type="golang",
                      path=path, layer=layer, cataloger="golang", namespace=namespace or None,
                      properties=dict(properties))
    package.purl_name = name
    return package


def _pseudo_version(settings: dict[str, str]) -> str | None:
    revision, moment = settings.get("vcs.revision"), settings.get("vcs.time")
    if not revision or not moment:
        return None
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
    return f"v0.0.0-{when:%Y%m%d%H%M%S}-{revision[:12]}"
