"""Scan an image for secrets baked into it: every layer's files and the image config.

Every layer is read, not just the final filesystem: a key deleted in a later layer is still in
the image for anyone who pulls it, so it is still a finding (reported with the layer that holds
it). Layers are streamed once through the SBOM engine's image sources and tar reader (registry,
``docker-archive:``, ``docker-daemon:``); nothing is unpacked to disk.

Nothing is skipped for being inconvenient: binary files get the rules that recognise a
credential by its shape (a key after a NUL byte is still a key), files over
:data:`MAX_FILE_BYTES` are streamed through overlapping windows, and the config (``Env``,
``Cmd``, ``Entrypoint``, labels, history) is scanned too. What could not be read at all (a
truncated layer, a sparse file, a credentials file too large to parse) is listed as skipped,
and a scan that skipped anything is never called clean.

A finding names the rule, the file or config field, the line and the layer digest. The secret
value is never returned, printed, logged or stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oci_attest.redact import redact_text
from oci_attest.secrets import rules
from oci_attest.secrets.config import scan_config
from oci_attest.secrets.rules import RULES_VERSION
from oci_attest.secrets.window import CHUNK_BYTES, scan_chunks

#: Files up to this size are read whole and get every rule (credentials files are small);
#: larger ones are streamed through the content rules in windows.
MAX_FILE_BYTES = 1024 * 1024
#: How many skipped items the provenance lists by name (all are counted).
MAX_LISTED_SKIPS = 20
SCANNER = "attest-secrets"
#: ``layer_index`` of a finding in the image config rather than in a layer.
CONFIG = -1

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Finding:
    """One secret in one file of one layer, or in one field of the image config
    (``layer_index`` is :data:`CONFIG`, ``path`` the field). Holds no part of the value."""

    rule: str
    description: str
    path: str
    line: int
    layer_index: int
    layer_digest: str
    layer_diff_id: str = ""

    @property
    def in_config(self) -> bool:
        return self.layer_index == CONFIG

    @property
    def shown_path(self) -> str:
        """The path or field, minus anything credential-shaped: a label *named* by a token
        must not print the token as the finding's location."""
        return redact_text(self.path, ())

    def to_json(self) -> dict[str, Any]:
        if self.in_config:
            return {"rule": self.rule, "description": self.description, "location": "config",
                    "field": self.shown_path, "configDigest": self.layer_digest}
        return {"rule": self.rule, "description": self.description, "location": "layer",
                "path": f"/{self.shown_path}", "line": self.line, "layer": self.layer_index,
                "layerDigest": self.layer_digest,
                "layerDiffId": self.layer_diff_id or self.layer_digest}

    def render(self) -> str:
        if self.in_config:
            return f"{self.description} in the image config ({self.shown_path})"
        where = f"/{self.shown_path}" + (f" line {self.line}" if self.line else "")
        return (f"{self.description} in {where} (layer {self.layer_index}, "
                f"{self.layer_digest})")


@dataclass(frozen=True)
class Skipped:
    """Something of the image that was not (fully) scanned, and why."""

    layer_index: int
    reason: str
    path: str = ""

    def to_json(self) -> dict[str, Any]:
        path = redact_text(self.path, ())
        if self.layer_index == CONFIG:
            return {"location": "config", "field": path, "reason": self.reason}
        item: dict[str, Any] = {"layer": self.layer_index, "reason": self.reason}
        if path:
            item["path"] = f"/{path}"
        return item


@dataclass
class ScanReport:
    """What a scan saw; ``summary()`` is what goes into the provenance."""

    image: str
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    layers: int = 0
    files_scanned: int = 0
    files_streamed: int = 0
    binary_files: int = 0
    bytes_scanned: int = 0
    config_fields: int = 0
    config_scanned: bool = False

    @property
    def complete(self) -> bool:
        return self.config_scanned and not self.skipped

    @property
    def clean(self) -> bool:
        """No finding *and* nothing left unread: "clean" is a claim about the whole image."""
        return not self.findings and self.complete

    def summary(self) -> dict[str, Any]:
        return {"clean": self.clean, "complete": self.complete, "findings": len(self.findings),
                "scanner": SCANNER, "rulesVersion": RULES_VERSION,
                "scanned": {"layers": self.layers, "files": self.files_scanned,
                            "binaryFiles": self.binary_files,
                            "largeFilesStreamed": self.files_streamed,
                            "bytes": self.bytes_scanned, "config": self.config_scanned,
                            "configFields": self.config_fields},
                "layers": self.layers, "filesScanned": self.files_scanned,
                "skipped": {"count": len(self.skipped),
                            "items": [s.to_json() for s in self.skipped[:MAX_LISTED_SKIPS]]}}

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, **self.summary(),
                "results": [f.to_json() for f in self.findings]}


def scan_image(spec: str, *, progress: Progress | None = None,
               warn: Callable[[str], None] | None = None) -> ScanReport:
    """Scan ``spec`` (a registry reference, ``docker-archive:PATH`` or ``docker-daemon:REF``)."""
    from oci_attest.sbom.sources import open_image

    say = progress or (lambda _text: None)
    tell = warn or say
    with open_image(spec, progress=say) as image:
        report = ScanReport(image=image.label)
        _scan_config(report, image.config, image.digest)
        for layer in image.layers:
            _scan_layer(report, layer, tell)
    return report


def _scan_config(report: ScanReport, config: dict[str, Any], digest: str) -> None:
    from oci_attest.secrets.config import strings

    report.config_fields = sum(1 for _, text in strings(config) if text is not None)
    found, too_deep = scan_config(config)
    report.skipped.extend(Skipped(CONFIG, "the image config is nested too deeply here", where)
                          for where in too_deep)
    for where, match in found:
        report.findings.append(Finding(rule=match.rule.id, description=match.rule.description,
                                       path=where, line=0, layer_index=CONFIG,
                                       layer_digest=digest))
    report.config_scanned = True


def _scan_layer(report: ScanReport, layer: Any, tell: Callable[[str], None]) -> None:
    from oci_attest.sbom.tarscan import FILE, TarReader

    report.layers += 1
    source = layer.opener()
    label = f"layer {layer.index} ({layer.digest[:19]})"  # 0-based, as in JSON and SBOM

    def problem(text: str) -> None:
        # TarReader already prefixes the layer label. Whatever it could not read was not
        # scanned, so it is a skip on the record, not just a line on stderr.
        report.skipped.append(Skipped(layer.index, text.removeprefix(label).strip()))
        tell(f"warning: {text}")

    def found(path: str, matches: list[rules.Match]) -> None:
        for match in matches:
            report.findings.append(Finding(
                rule=match.rule.id, description=match.rule.description, path=path,
                line=match.line, layer_index=layer.index, layer_digest=layer.digest,
                layer_diff_id=layer.diff_id))

    try:
        reader = TarReader(source, problem, label)
        for entry in reader:
            if entry.kind != FILE or entry.size == 0:
                continue
            if entry.size > MAX_FILE_BYTES:
                report.files_streamed += 1
                found(entry.path, scan_chunks(reader.iter_content(CHUNK_BYTES)))
                if rules.needs_whole_file(entry.path):
                    report.skipped.append(Skipped(
                        layer.index, f"a {entry.size}-byte credentials file is too large to "
                        "parse (only the content rules ran)", entry.path))
            else:
                data = reader.read_content()
                if b"\0" in data:
                    report.binary_files += 1
                found(entry.path, rules.scan(entry.path, data))
                del data
            report.files_scanned += 1
            report.bytes_scanned += entry.size
        source.drain()  # a registry blob is digest-checked only once read to its end
    finally:
        source.close()
