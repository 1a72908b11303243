"""One cataloger per ecosystem, all behind :class:`~attest.sbom.catalogers.base.Cataloger`."""

from __future__ import annotations

from attest.sbom.catalogers.apk import ApkCataloger
from attest.sbom.catalogers.base import Cataloger
from attest.sbom.catalogers.dpkg import DpkgCataloger
from attest.sbom.catalogers.golang import GoBinaryCataloger
from attest.sbom.catalogers.java import JavaArchiveCataloger
from attest.sbom.catalogers.npm import NpmCataloger
from attest.sbom.catalogers.python import PythonCataloger
from attest.sbom.catalogers.rpm import RpmCataloger
from attest.sbom.catalogers.rust import RustAuditableCataloger


def default_catalogers() -> list[Cataloger]:
    """Fresh instances (catalogers keep per-scan state), in the order results are listed."""
    return [DpkgCataloger(), ApkCataloger(), RpmCataloger(), PythonCataloger(), NpmCataloger(),
            GoBinaryCataloger(), JavaArchiveCataloger(), RustAuditableCataloger()]


__all__ = ["Cataloger", "default_catalogers"]
