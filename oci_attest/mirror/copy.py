"""The byte-for-byte copy of an image and everything attached to it upstream.

This is the same copier ``attest promote`` uses (one implementation of "copy by digest":
children before the index, blobs before manifests, blobs already present skipped, large blobs
streamed in bounded chunks), driven over every manifest of the image so that attestations
attached to a platform manifest come along too.
"""

from __future__ import annotations

from oci_attest.promote import Copier
from oci_attest.registry.client import RegistryClient


def copy_with_attestations(src: RegistryClient, src_repo: str, dst: RegistryClient,
                           dst_repo: str, digest: str) -> tuple[list[str], dict[str, int]]:
    """Copy ``digest`` (and, for an index, every child) with their referrers and ``.att``;
    returns every manifest digest of the image (the index first) and the copy counts."""
    copier = Copier(src, src_repo, dst, dst_repo)
    tree = copier.copy_image(digest)
    for manifest_digest in tree:
        copier.copy_all_attached(manifest_digest)
    return tree, copier.stats.to_json()
