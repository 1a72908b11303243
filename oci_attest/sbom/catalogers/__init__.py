"""One cataloger per ecosystem, all behind :class:`~oci_attest.sbom.catalogers.base.Cataloger`."""

from __future__ import annotations

from oci_attest.sbom.catalogers.apk import ApkCataloger
from oci_attest.sbom.catalogers.base import Cataloger
from oci_attest.sbom.catalogers.dpkg import DpkgCataloger
from oci_attest.sbom.catalogers.golang import GoBinaryCataloger
from oci_attest.sbom.catalogers.java import JavaArchiveCataloger
from oci_attest.sbom.catalogers.npm import NpmCataloger
from oci_attest.sbom.catalogers.python import PythonCataloger
from oci_attest.sbom.catalogers.rpm import RpmCataloger
from oci_attest.sbom.catalogers.rust import RustAuditableCataloger


def default_catalogers() -> list[Cataloger]:
    """Fresh instances (catalogers keep per-scan state), in the order results are listed."""
    return [DpkgCataloger(), ApkCataloger(), RpmCataloger(), PythonCataloger(), NpmCataloger(),
            GoBinaryCataloger(), JavaArchiveCataloger(), RustAuditableCataloger()]


__all__ = ["Cataloger", "default_catalogers"]
