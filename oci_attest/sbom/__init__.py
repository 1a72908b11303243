"""SBOMs read straight from an image's layers: no daemon needed, no container run.

:func:`generate_sbom` is the whole engine for callers (``attest sbom`` and the build pipeline):
open the image from wherever it is (:mod:`~oci_attest.sbom.sources`), stream each layer once in
order applying whiteouts (:mod:`~oci_attest.sbom.layers`), let the ecosystem catalogers
(:mod:`~oci_attest.sbom.catalogers`) read only the files they asked for, then serialize to
CycloneDX 1.6 (validated against the schema before it is returned) or SPDX 2.3.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from oci_attest.errors import UsageError
from oci_attest.sbom.model import ImageInfo, Package, ScanResult

FORMATS = ("cyclonedx-json", "spdx-json")


class SbomValidationError(RuntimeError):
    """The generated document does not satisfy its schema: a bug in attest, never written."""


@dataclass(frozen=True)
class SbomResult:
    document: dict[str, Any]
    text: str
    image_digest: str
    image_name: str
    component_count: int
    warnings: list[str] = field(default_factory=list)
    digest_is_image_id: bool = False


def scan_image(image: str, *, platform: str | None = None,
               progress: Callable[[str], None] | None = None) -> ScanResult:
    """Walk the image and return what every cataloger found, before serialization."""
    from oci_attest.sbom.catalogers import default_catalogers
    from oci_attest.sbom.catalogers.base import Context
    from oci_attest.sbom.layers import finish, walk_image
    from oci_attest.sbom.osrelease import OsReleaseCataloger
    from oci_attest.sbom.sources import open_image

    say = progress or (lambda _text: None)
    warnings: list[str] = []
    with open_image(image, platform=platform, progress=say) as opened:
        os_release = OsReleaseCataloger()
        catalogers = [os_release, *default_catalogers()]
        walker = walk_image(opened, catalogers, warnings.append, say)
        os_release.finish(walker.surviving(0), Context(distro=None, warn=warnings.append))
        packages = _unique(finish(walker, os_release.distro, skip=(0,)))
        info = ImageInfo(name=opened.name, digest=opened.digest,
                         repository_url=opened.repository_url, tag=opened.tag,
                         platform=opened.platform,
                         layer_digests=tuple(layer.diff_id for layer in opened.layers),
                         digest_is_image_id=opened.digest_is_image_id)
    return ScanResult(image=info, distro=os_release.distro, packages=packages, warnings=warnings)


def _unique(packages: list[Package]) -> list[Package]:
    seen: set[str] = set()
    unique = []
    for package in packages:
        if package.key not in seen:
            seen.add(package.key)
            unique.append(package)
    return unique


def generate_sbom(image: str, *, platform: str | None = None, format: str = "cyclonedx-json",
                  progress: Callable[[str], None] | None = None) -> SbomResult:
    """The SBOM of ``image``: ``REGISTRY/REPO[:TAG|@DIGEST]``, ``docker-archive:PATH``,
    ``oci-layout:PATH[:TAG]`` or ``docker-daemon:REF``.

    Raises :class:`~oci_attest.errors.InputError` (unreadable input),
    :class:`~oci_attest.errors.RegistryError` (registry trouble) or
    :class:`~oci_attest.errors.UsageError` (unknown format).
    """
    return generate_sboms(image, [format], platform=platform, progress=progress)[format]


def generate_sboms(image: str, formats: list[str], *, platform: str | None = None,
                   progress: Callable[[str], None] | None = None) -> dict[str, SbomResult]:
    """Several formats from one read of the image (``attest sbom -o A -o B=FILE``)."""
    for format in formats:
        if format not in FORMATS:
            raise UsageError(f"unknown SBOM format {format!r}",
                             hint=f"use one of {', '.join(FORMATS)}")
    say = progress or (lambda _text: None)
    schema_ready: Callable[[], None] = lambda: None  # noqa: E731
    if "cyclonedx-json" in formats:
        from oci_attest.sbom.schema import prepare_in_background

        schema_ready = prepare_in_background()
    result = scan_image(image, platform=platform, progress=say)
    results = {}
    for format in dict.fromkeys(formats):
        if format == "cyclonedx-json":
            from oci_attest.sbom import cyclonedx
            from oci_attest.sbom.schema import validation_errors

            document = cyclonedx.build_document(result)
            schema_ready()
            errors = validation_errors(document)
            count = len(document["components"])
        else:
            from oci_attest.sbom import spdx

            document = spdx.build_document(result)
            errors = spdx.validation_errors(document)
            count = len(document["packages"]) - 1
        if errors:
            raise SbomValidationError(f"the generated {format} document is invalid: "
                                      f"{errors[0]}")
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        results[format] = SbomResult(document=document, text=text,
                                     image_digest=result.image.digest,
                                     image_name=result.image.name, component_count=count,
                                     warnings=list(result.warnings),
                                     digest_is_image_id=result.image.digest_is_image_id)
    return results


__all__ = ["FORMATS", "SbomResult", "SbomValidationError", "generate_sbom", "generate_sboms",
           "scan_image"]
