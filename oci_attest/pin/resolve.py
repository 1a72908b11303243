"""Tag to digest for ``attest pin``: each distinct reference once, a few at a time.

A repository of manifests names the same few images hundreds of times; each distinct
(reference, platform) pair is asked of its registry once, with a small pool so a slow registry
does not serialise the run. A registry failure is raised with the file and line that named the
reference, before any file is written: pinning is all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from oci_attest.errors import AttestError
from oci_attest.pin.sites import Site
from oci_attest.reference import ImageReference
from oci_attest.registry.client import RegistryClient

#: How many registry lookups run at once; registries rate-limit bursts, so keep it small.
PARALLEL_LOOKUPS = 4


@dataclass(frozen=True)
class Lookup:
    """What a tag points at now: the digest to pin (a platform's manifest when asked for)."""

    reference: ImageReference
    platform: str | None


def resolve_all(lookups: Iterable[tuple[Lookup, Site]],
                resolve_one: Callable[[Lookup], str]) -> dict[Lookup, str]:
    """Digest per distinct lookup; the first failure is re-raised naming where it was found."""
    first_site: dict[Lookup, Site] = {}
    for lookup, site in lookups:
        first_site.setdefault(lookup, site)
    results: dict[Lookup, str] = {}
    with ThreadPoolExecutor(max_workers=PARALLEL_LOOKUPS) as pool:
        futures = {lookup: pool.submit(resolve_one, lookup) for lookup in first_site}
        for lookup, future in futures.items():
            try:
                results[lookup] = future.result()
            except AttestError as error:
                site = first_site[lookup]
                error.message = f"{site.path}:{site.line}: {site.text}: {error.message}"
                error.args = (error.message,)
                raise
    return results


class RegistryResolver:
    """Resolves lookups through one client per registry, reusing connections and tokens."""

    def __init__(self) -> None:
        self._clients: dict[str, RegistryClient] = {}

    def client(self, ref: ImageReference) -> RegistryClient:
        client = self._clients.get(ref.registry)
        if client is None:
            client = self._clients[ref.registry] = RegistryClient.for_reference(ref)
        return client

    def __call__(self, lookup: Lookup) -> str:
        from oci_attest.verify.image import resolve_platform

        client = self.client(lookup.reference)
        resolved = client.resolve(lookup.reference)
        if lookup.platform:
            manifest = client.get_manifest(resolved.repository, resolved.reference)
            if manifest.is_index:
                resolved = resolve_platform(client, resolved, lookup.platform)
        assert resolved.digest is not None
        return resolved.digest
