"""Scan an image's layers for secrets baked into them, streaming, with bounded memory.

Every layer is read, not just the final filesystem: a key deleted in a later layer is still in
the image for anyone who pulls it, so it is still a finding (reported with the layer that holds
it). Layers are streamed once through the SBOM engine's image sources and tar reader (registry,
``docker-archive:``, ``docker-daemon:``); only small regular files are read, binaries are
skipped on sight, and nothing is unpacked to disk.

A finding names the rule, the file, the line and the layer digest. The secret value is never
returned, printed, logged or stored: it exists only inside :func:`oci_attest.secrets.rules.scan`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oci_attest.secrets import rules
from oci_attest.secrets.rules import RULES_VERSION

#: Files larger than this are not read (credentials files are small; this bounds memory).
MAX_FILE_BYTES = 1024 * 1024
_SNIFF = 8192
SCANNER = "attest-secrets"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Finding:
    """One secret in one file of one layer. Deliberately holds no part of the value."""

    rule: str
    description: str
    path: str
    line: int
    layer_index: int
    layer_digest: str
    layer_diff_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "description": self.description, "path": f"/{self.path}",
                "line": self.line, "layer": self.layer_index, "layerDigest": self.layer_digest,
                "layerDiffId": self.layer_diff_id or self.layer_digest}

    def render(self) -> str:
        where = f"/{self.path}" + (f" line {self.line}" if self.line else "")
        return (f"{self.description} in {where} (layer {self.layer_index}, "
                f"{self.layer_digest})")


@dataclass
class ScanReport:
    """What a scan saw; ``summary()`` is what goes into the provenance."""

    image: str
    findings: list[Finding] = field(default_factory=list)
    layers: int = 0
    files_scanned: int = 0
    skipped_large: int = 0
    skipped_binary: int = 0
    warnings: int = 0

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> dict[str, Any]:
        return {"clean": self.clean, "findings": len(self.findings), "scanner": SCANNER,
                "rulesVersion": RULES_VERSION, "layers": self.layers,
                "filesScanned": self.files_scanned,
                "skipped": {"large": self.skipped_large, "binary": self.skipped_binary}}

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, **self.summary(),
                "results": [f.to_json() for f in self.findings]}


def scan_image(spec: str, *, progress: Progress | None = None,
               warn: Callable[[str], None] | None = None) -> ScanReport:
    """Scan ``spec`` (a registry reference, ``docker-archive:PATH`` or ``docker-daemon:REF``)."""
    from oci_attest.sbom.sources import open_image
    from oci_attest.sbom.tarscan import FILE, TarReader

    say = progress or (lambda _text: None)
    tell = warn or say
    with open_image(spec, progress=say) as image:
        report = ScanReport(image=image.label)
        for layer in image.layers:
            report.layers += 1
            source = layer.opener()
            label = f"layer {layer.index} ({layer.digest[:19]})"  # 0-based, as in JSON and SBOM

            def problem(text: str) -> None:
                # TarReader already prefixes the layer label.
                report.warnings += 1
                tell(f"warning: {text}")

            try:
                reader = TarReader(source, problem, label)
                for entry in reader:
                    if entry.kind != FILE or entry.size == 0:
                        continue
                    if entry.size > MAX_FILE_BYTES:
                        report.skipped_large += 1
                        continue
                    if b"\0" in reader.head(_SNIFF):
                        report.skipped_binary += 1
                        continue
                    data = reader.read_content()
                    report.files_scanned += 1
                    for match in rules.scan(entry.path, data):
                        report.findings.append(Finding(
                            rule=match.rule.id, description=match.rule.description,
                            path=entry.path, line=match.line, layer_index=layer.index,
                            layer_digest=layer.digest, layer_diff_id=layer.diff_id))
                    del data
                source.drain()  # a registry blob is digest-checked only once read to its end
            finally:
                source.close()
    return report
