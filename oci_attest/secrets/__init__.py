"""Secrets baked into image layers: rules (what a credential looks like) and the scanner."""

from oci_attest.secrets.scanner import Finding, ScanReport, scan_image

__all__ = ["Finding", "ScanReport", "scan_image"]
