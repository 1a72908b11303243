"""Reading verified payloads: in-toto statements, SLSA provenance and SBOM components.

Only payloads whose signature already verified reach the policy checks, but they are still
untrusted *input*: every field is type-checked as it is read, and a provenance that does not
say something a policy asks about ("was the tree clean?") yields ``None`` so that the check can
fail closed and say so, instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from packageurl import PackageURL

from oci_attest.reference import DEFAULT_REGISTRY
from oci_attest.statements import ParsedStatement as Statement
from oci_attest.statements import StatementError, parse_statement

__all__ = ["Statement", "StatementError", "parse_statement"]

SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
_DOCKER_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io",
                       "registry.hub.docker.com"}


# ------------------------------------------------------------------------------ provenance
@dataclass(frozen=True)
class SourceClaim:
    repository: str
    ref: str | None
    commit: str | None
    where: str


@dataclass(frozen=True)
class ImageDependency:
    uri: str
    name: str
    registry: str | None
    digest: str | None
    written: str | None


@dataclass(frozen=True)
class Provenance:
    builder_id: str | None
    build_type: str | None
    sources: tuple[SourceClaim, ...]
    dirty: bool | None
    images: tuple[ImageDependency, ...]
    started: datetime | None
    finished: datetime | None
    runner_environment: str | None = None
    notes: tuple[str, ...] = field(default=())
    #: ``internalParameters.secretScan`` of attest's buildType, when the build ran one.
    secret_scan: Mapping[str, Any] | None = None
    #: Downloads of the build (``ADD <url>``/``<git repo>``), with their digest when recorded.
    remote_inputs: tuple[RemoteInput, ...] = ()


@dataclass(frozen=True)
class RemoteInput:
    uri: str
    digest: str | None
    uses: str | None


def _remote_input(dep: Mapping[str, Any]) -> RemoteInput | None:
    """attest marks each download with ``annotations.kind`` (``http``/``git``); older
    provenance only with an ``ADD`` use."""
    annotations = _mapping(dep.get("annotations"))
    uses = annotations.get("uses")
    uses_text = uses if isinstance(uses, str) else None
    if annotations.get("kind") not in ("http", "git") and not (
            uses_text and uses_text.startswith("ADD")):
        return None
    digests = {k: v for k, v in _mapping(dep.get("digest")).items()
               if isinstance(v, str) and v}
    digest = next((f"{k}:{v}" for k, v in sorted(digests.items())), None)
    return RemoteInput(uri=_str(dep.get("uri")) or "", digest=digest, uses=uses_text)


def read_provenance(statement: Statement) -> Provenance:
    """The facts policies ask about, from SLSA v1 (or v0.2) provenance."""
    predicate = statement.predicate
    if statement.predicate_type == SLSA_V02:
        return _read_v02(predicate)
    definition = _mapping(predicate.get("buildDefinition"))
    run = _mapping(predicate.get("runDetails"))
    builder = _mapping(run.get("builder"))
    metadata = _mapping(run.get("metadata"))
    external = _mapping(definition.get("externalParameters"))
    internal = _mapping(definition.get("internalParameters"))
    dependencies = [d for d in _list(definition.get("resolvedDependencies"))
                    if isinstance(d, dict)]
    sources: list[SourceClaim] = []
    workflow = external.get("workflow")
    if isinstance(workflow, dict) and isinstance(workflow.get("repository"), str):
        sources.append(SourceClaim(repository=workflow["repository"],
                                   ref=_str(workflow.get("ref")), commit=None,
                                   where="externalParameters.workflow"))
    source = external.get("source")
    if isinstance(source, str) and source:
        repository, ref = _split_git_uri(source)
        sources.append(SourceClaim(repository, ref, None, "externalParameters.source"))
    elif isinstance(source, dict):
        uri = _str(source.get("uri")) or _str(source.get("repository"))
        if uri:
            repository, ref = _split_git_uri(uri)
            sources.append(SourceClaim(repository, _str(source.get("ref")) or ref,
                                       _str(source.get("commit")), "externalParameters.source"))
    remote_inputs = tuple(r for dep in dependencies if (r := _remote_input(dep)) is not None)
    for index, dep in enumerate(dependencies):
        uri = _str(dep.get("uri")) or ""
        digests = _mapping(dep.get("digest"))
        if _remote_input(dep) is not None:
            continue  # a download of the build, not a claim about its source
        if uri[:4].lower() == "git+" or "gitCommit" in digests:
            repository, ref = _split_git_uri(uri)
            if repository:
                sources.append(SourceClaim(repository, ref, _str(digests.get("gitCommit"))
                                           or _str(digests.get("sha1")),
                                           f"resolvedDependencies[{index}]"))
    git = _mapping(internal.get("git"))
    dirty = git.get("dirty") if isinstance(git.get("dirty"), bool) else None
    images = tuple(image for index, dep in enumerate(dependencies)
                   if (image := _image_dependency(dep)) is not None)
    ci = _mapping(internal.get("ci"))
    return Provenance(
        builder_id=_str(builder.get("id")),
        build_type=_str(definition.get("buildType")),
        sources=tuple(sources),
        dirty=dirty,
        images=images,
        started=_time(metadata.get("startedOn")),
        finished=_time(metadata.get("finishedOn")),
        runner_environment=_str(ci.get("runnerEnvironment")),
        secret_scan=internal["secretScan"] if isinstance(internal.get("secretScan"), dict)
        else None,
        remote_inputs=remote_inputs,
    )


def _read_v02(predicate: Mapping[str, Any]) -> Provenance:
    builder = _mapping(predicate.get("builder"))
    invocation = _mapping(predicate.get("invocation"))
    config = _mapping(invocation.get("configSource"))
    metadata = _mapping(predicate.get("metadata"))
    sources = []
    uri = _str(config.get("uri"))
    if uri:
        repository, ref = _split_git_uri(uri)
        sources.append(SourceClaim(repository, ref,
                                   _str(_mapping(config.get("digest")).get("sha1")),
                                   "invocation.configSource"))
    images = []
    for material in _list(predicate.get("materials")):
        if isinstance(material, dict):
            image = _image_dependency(material)
            if image is not None:
                images.append(image)
    return Provenance(builder_id=_str(builder.get("id")),
                      build_type=_str(predicate.get("buildType")), sources=tuple(sources),
                      dirty=None, images=tuple(images),
                      started=_time(metadata.get("buildStartedOn")),
                      finished=_time(metadata.get("buildFinishedOn")))


def _image_dependency(dep: Mapping[str, Any]) -> ImageDependency | None:
    """An image material, recognised by its *parsed* purl type: ``pkg:Docker/…``,
    ``pkg://docker/…`` and ``pkg:/oci/…`` are images too, and base-image rules must see
    them. A ``pkg:`` URI that does not parse may be an image: it is kept as one of unknown
    origin and without digest, so those rules fail on it rather than never looking."""
    uri = _str(dep.get("uri")) or ""
    if uri[:4].lower() != "pkg:":
        return None
    try:
        purl = PackageURL.from_string("pkg:" + uri[4:])
    except ValueError:
        return ImageDependency(uri=uri, name=uri, registry=None, digest=None,
                               written=_str(dep.get("name")))
    if purl.type.lower() not in ("docker", "oci"):
        return None
    registry, name = _image_registry(purl)
    digests = _mapping(dep.get("digest"))
    digest = _str(digests.get("sha256"))
    return ImageDependency(uri=uri, name=name, registry=registry,
                           digest=f"sha256:{digest}" if digest else None,
                           written=_str(dep.get("name")))


def _image_registry(purl: PackageURL) -> tuple[str, str]:
    """Where a ``pkg:docker``/``pkg:oci`` image comes from, and its name without registry."""
    path = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    repository_url = qualifiers.get("repository_url")
    if repository_url:
        host = str(repository_url).split("://", 1)[-1].split("/", 1)[0]
        return _registry_alias(host), path
    first, _, rest = path.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return _registry_alias(first), rest
    if purl.type == "oci":
        return "unknown", path
    return DEFAULT_REGISTRY, path


def _registry_alias(host: str) -> str:
    host = host.lower()
    return DEFAULT_REGISTRY if host in _DOCKER_HUB_ALIASES else host


def registry_matches(allowed: str, registry: str) -> bool:
    """``docker.io`` also covers its aliases; ``host:port`` must match exactly."""
    return _registry_alias(allowed.strip().rstrip("/")) == _registry_alias(registry)


def _split_git_uri(uri: str) -> tuple[str, str | None]:
    """``git+https://host/org/repo@refs/heads/main`` -> (``https://host/org/repo``, ref)."""
    value = uri[4:] if uri[:4].lower() == "git+" else uri
    scheme, sep, rest = value.partition("://")
    body = rest if sep else value
    host_end = body.find("/")
    at = body.find("@", host_end if host_end != -1 else 0)
    if at == -1:
        return value, None
    repository = (scheme + sep if sep else "") + body[:at]
    return repository, body[at + 1:] or None


# ------------------------------------------------------------------------------------ SBOM
#: SBOM properties that name the Debian source package a binary package was built from.
SOURCE_PACKAGE_PROPERTIES = ("attest:deb:source", "syft:metadata:source")


@dataclass(frozen=True)
class Component:
    """An SBOM component by its purl text (parsed once, on first use), the name the SBOM gives
    it, and the source package it was built from when the SBOM records one."""

    text: str
    name: str
    source: str | None = None

    @cached_property
    def purl(self) -> PackageURL | None:
        try:
            return PackageURL.from_string(self.text)
        except ValueError:
            return None


def sbom_format(statement: Statement) -> str | None:
    """``CycloneDX`` or ``SPDX`` when the predicate is one attest can read, else None (a deny
    rule cannot be evaluated on it, and must not pass as "nothing denied")."""
    predicate = statement.predicate
    if isinstance(predicate.get("components"), list) or predicate.get("bomFormat") == "CycloneDX":
        return "CycloneDX"
    if isinstance(predicate.get("packages"), list) or isinstance(predicate.get("spdxVersion"),
                                                                 str):
        return "SPDX"
    return None


def sbom_components(statement: Statement) -> Iterator[Component]:
    """Components with a purl, from a CycloneDX or SPDX JSON predicate (nested included)."""
    predicate = statement.predicate
    if "components" in predicate or predicate.get("bomFormat") == "CycloneDX":
        metadata_component = _mapping(predicate.get("metadata")).get("component")
        roots = [metadata_component] if isinstance(metadata_component, dict) else []
        yield from _cyclonedx([*roots, *_list(predicate.get("components"))])
    if "packages" in predicate or "spdxVersion" in predicate:
        for package in _list(predicate.get("packages")):
            if not isinstance(package, dict):
                continue
            for ref in _list(package.get("externalRefs")):
                if (isinstance(ref, dict) and ref.get("referenceType") == "purl"
                        and isinstance(ref.get("referenceLocator"), str)):
                    yield _component(ref["referenceLocator"], package.get("name"), None)


def _cyclonedx(items: list[Any]) -> Iterator[Component]:
    """Depth-first over nested ``components``, without a depth limit: a cut-off would let a
    denied package hide one level below it (the JSON parser already bounds the nesting)."""
    stack = list(reversed(items))
    while stack:
        item = stack.pop()
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("purl"), str):
            yield _component(item["purl"], item.get("name"), _source_property(item))
        stack.extend(reversed(_list(item.get("components"))))


def _component(text: str, name: Any, source: str | None) -> Component:
    """Every purl the SBOM states, well-formed or not: one that does not parse is reported
    by the deny check (and matched by name), never dropped unseen."""
    return Component(text=text, name=str(name) if name else text, source=source)


def _source_property(item: Mapping[str, Any]) -> str | None:
    for prop in _list(item.get("properties")):
        if (isinstance(prop, dict) and prop.get("name") in SOURCE_PACKAGE_PROPERTIES
                and isinstance(prop.get("value"), str) and prop["value"].strip()):
            return str(prop["value"]).strip()
    return None


# --------------------------------------------------------------------------------- helpers
def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
