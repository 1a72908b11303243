"""The buildType URIs attest writes, in one place for the producer and the verifier.

A buildType says how to read a provenance, and so how far to trust it: ``IMAGE`` is a build
attest ran itself (it pinned every base image before the build and observed what was pushed);
``ARTIFACT`` is provenance for something another tool built, where attest vouches only for the
source and CI run it saw and records the materials as the other builder's claims. The verifier
accepts only ``IMAGE`` for images unless a policy lists others (``provenance.buildTypes``);
``MIRROR`` is a byte-for-byte copy by ``attest mirror`` (a policy that trusts the mirror job
lists it). ``docs/buildtype.md`` documents all three.
"""

from __future__ import annotations

_DOCUMENT = "https://github.com/attest-build/attest/blob/main/docs/buildtype.md"

#: ``attest build``: a container image built and pushed by attest.
IMAGE = f"{_DOCUMENT}#v1"
#: ``attest provenance``: release files, or images built by buildx or another tool.
ARTIFACT = f"{_DOCUMENT}#artifact-v1"
#: ``attest mirror``: an image copied byte for byte from an upstream registry.
MIRROR = f"{_DOCUMENT}#mirror-v1"
