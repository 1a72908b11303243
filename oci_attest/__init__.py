"""attest: signed SLSA provenance and SBOMs for container images, and their verification."""

__version__ = "0.1.0"
