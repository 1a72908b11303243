"""SLSA v1 provenance from the collected facts: what was built, from what, by whom.

The predicate's fields follow the buildType this project publishes in
``docs/buildtype.md``; a verifier reads ``externalParameters`` as "what the user asked for"
and ``resolvedDependencies`` as "what the build actually consumed, by digest". Secrets never
reach this module: build arguments arrive already redacted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from packageurl import PackageURL

from oci_attest import __version__
from oci_attest.collect.builder import CiFacts
from oci_attest.collect.materials import ExternalImage, RemoteFile
from oci_attest.collect.source import SourceFacts
from oci_attest.reference import DEFAULT_REGISTRY, ImageReference

#: The buildType URI; docs/buildtype.md is the document it names.
BUILD_TYPE = "https://github.com/attest-build/attest/blob/main/docs/buildtype.md#v1"
DEFAULT_PLATFORM = "linux/amd64"


@dataclass(frozen=True)
class BuildParameters:
    """The user-controlled inputs of one build, as they go into ``externalParameters``."""

    context: str
    dockerfile: str
    dockerfile_sha256: str
    tags: list[str]
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    platform: str = DEFAULT_PLATFORM
    #: Build secrets by id (``{"id", "mountedBy"}``); never a value or a path.
    secrets: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunFacts:
    """How the build ran: the backend's versions and the timestamps."""

    backend: str
    backend_version: Mapping[str, str]
    started: datetime
    finished: datetime
    secret_scan: Mapping[str, Any] | None = None


def image_purl(image: ImageReference, platform: str | None = DEFAULT_PLATFORM) -> str:
    """BuildKit's convention: ``pkg:docker/<name>@<tag>?platform=...``.

    Images on Docker Hub are named as users write them (``debian``, ``org/app``); others keep
    their registry in the name so the purl says where the bytes came from.
    """
    name = image.repository
    if image.registry == DEFAULT_REGISTRY:
        name = name.removeprefix("library/")
    else:
        name = f"{image.registry}/{name}"
    namespace, _, short = name.rpartition("/")
    qualifiers = {"platform": platform} if platform else {}
    return str(PackageURL(type="docker", namespace=namespace or None, name=short,
                          version=image.tag or image.digest, qualifiers=qualifiers).to_string())


def _digest_map(digest: str) -> dict[str, str]:
    algorithm, _, hexdigest = digest.partition(":")
    return {algorithm: hexdigest}


def _git_facts(source: SourceFacts) -> dict[str, Any]:
    return {"commit": source.commit, "ref": source.ref, "tag": source.tag, "dirty": source.dirty,
            "dirtyFiles": list(source.dirty_files), "untrackedFiles": source.untracked_files}


def _source_dependency(source: SourceFacts) -> dict[str, Any] | None:
    if not source.uri or not source.commit:
        return None
    return {"uri": source.uri, "digest": {"gitCommit": source.commit}, "name": "source"}


def _use(instruction: str, line: int, via: str | None) -> str:
    return f"{instruction} (line {line})" + (f" via {via}" if via else "")


def _image_dependencies(images: list[ExternalImage], platform: str) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for image in images:
        resolved = image.resolved
        assert resolved is not None and resolved.digest is not None
        key = resolved.pinned()
        use = _use(image.instruction, image.line, image.via)
        if key in seen:
            seen[key]["annotations"]["uses"].append(use)
            continue
        annotations: dict[str, Any] = {"uses": [use], "pinned": key}
        if image.platform:
            annotations["platform"] = image.platform
        if image.manifest:
            # A multi-platform index: the digest is the index's, this the manifest built from.
            annotations["platformManifest"] = image.manifest
        seen[key] = {
            "uri": image_purl(image.reference, image.platform or platform),
            "digest": _digest_map(resolved.digest),
            "name": image.written,
            "annotations": annotations,
        }
    return list(seen.values())


def _remote_dependencies(files: list[RemoteFile]) -> list[dict[str, Any]]:
    return [
        {"uri": f.url,
         **({"digest": _digest_map(f.digest)} if f.digest else {}),
         "annotations": {"uses": _use("ADD", f.line, f.via), "pinned": f.digest is not None,
                         "kind": f.kind}}
        for f in files
    ]


def build_predicate(
    *,
    source: SourceFacts,
    ci: CiFacts,
    params: BuildParameters,
    images: list[ExternalImage],
    remote_files: list[RemoteFile],
    run: RunFacts,
    onbuild: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The SLSA v1 predicate (see docs/buildtype.md for every field's meaning)."""
    external: dict[str, Any] = {
        "source": source.uri,
        "context": params.context,
        "dockerfile": params.dockerfile,
        "tags": list(params.tags),
        "platform": params.platform,
    }
    if params.build_args:
        external["buildArgs"] = dict(sorted(params.build_args.items()))
    if params.target:
        external["target"] = params.target
    if params.labels:
        external["labels"] = dict(sorted(params.labels.items()))
    if params.network:
        external["network"] = params.network
    if params.secrets:
        external["secrets"] = [dict(s) for s in params.secrets]
    internal: dict[str, Any] = {
        "git": _git_facts(source),
        "ci": {"platform": ci.platform, "runnerEnvironment": ci.runner_environment,
               **({"workflow": ci.workflow} if ci.workflow else {}),
               **({"details": dict(sorted(ci.details.items()))} if ci.details else {})},
        "backend": run.backend,
    }
    if run.secret_scan is not None:
        internal["secretScan"] = dict(run.secret_scan)
    if onbuild:
        internal["onbuild"] = [{"base": t["base"], "trigger": t["trigger"], "line": t["line"]}
                               for t in onbuild]
    dependencies: list[dict[str, Any]] = []
    source_dep = _source_dependency(source)
    if source_dep:
        dependencies.append(source_dep)
    dependencies.append({"uri": f"file:{params.dockerfile}",
                         "digest": {"sha256": params.dockerfile_sha256}, "name": "Dockerfile"})
    dependencies += _image_dependencies(images, params.platform)
    dependencies += _remote_dependencies(remote_files)
    metadata: dict[str, Any] = {
        "startedOn": _timestamp(run.started),
        "finishedOn": _timestamp(run.finished),
    }
    if ci.invocation_id:
        metadata["invocationId"] = ci.invocation_id
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": ci.builder_id,
                        "version": {"attest": __version__, **dict(run.backend_version)}},
            "metadata": metadata,
        },
    }


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


#: The buildType of provenance written by ``attest provenance`` for builds attest did not run.
ARTIFACT_BUILD_TYPE = "https://github.com/attest-build/attest/blob/main/docs/buildtype.md#artifact-v1"
#: ``annotations.claimedBy`` of a material attest resolved itself when signing.
CLAIMED_AT_SIGNING = "attest-provenance-at-signing-time"


@dataclass(frozen=True)
class OtherBuilder:
    """What another builder recorded about its own build (buildx's provenance in its
    metadata file): recorded as that builder's claims, never as attest's observations."""

    tool: str
    materials: list[dict[str, Any]]
    builder_id: str | None = None
    build_type: str | None = None
    recorded_in: str | None = None


def artifact_predicate(
    *,
    source: SourceFacts,
    ci: CiFacts,
    artifacts: list[str],
    images: list[ExternalImage],
    dockerfile: tuple[str, str] | None,
    finished: datetime,
    extra: Mapping[str, Any] | None = None,
    other_builder: OtherBuilder | None = None,
) -> dict[str, Any]:
    """Provenance for artifacts built by something else in the same job (release files, or an
    image built by buildx): attest vouches for the source and the CI run it ran in, not for
    the build steps, and the buildType says so.

    Every other material is a claim, and says whose (``annotations.claimedBy``): the other
    builder's own record when it has one (buildx's provenance), else what attest resolved
    from the Dockerfile when signing, which the build may or may not have used.
    """
    external: dict[str, Any] = {"source": source.uri, "artifacts": list(artifacts)}
    if extra:
        external.update(extra)
    dependencies: list[dict[str, Any]] = []
    source_dep = _source_dependency(source)
    if source_dep:
        dependencies.append(source_dep)
    claimed: list[dict[str, Any]] = []
    if dockerfile:
        claimed.append({"uri": f"file:{dockerfile[0]}", "digest": {"sha256": dockerfile[1]},
                        "name": "Dockerfile"})
    if other_builder is not None and other_builder.materials:
        claimed += [dict(m, annotations={**m.get("annotations", {}),
                                         "claimedBy": other_builder.tool})
                    for m in other_builder.materials]
    else:
        claimed += _image_dependencies(images, DEFAULT_PLATFORM)
    for dependency in claimed:
        dependency.setdefault("annotations", {}).setdefault("claimedBy", CLAIMED_AT_SIGNING)
    dependencies += claimed
    metadata: dict[str, Any] = {"finishedOn": _timestamp(finished)}
    if ci.invocation_id:
        metadata["invocationId"] = ci.invocation_id
    internal: dict[str, Any] = {
        "git": _git_facts(source),
        "ci": {"platform": ci.platform, "runnerEnvironment": ci.runner_environment},
    }
    if other_builder is not None:
        internal["otherBuilder"] = {k: v for k, v in {
            "tool": other_builder.tool, "builderId": other_builder.builder_id,
            "buildType": other_builder.build_type,
            "recordedIn": other_builder.recorded_in}.items() if v is not None}
    return {
        "buildDefinition": {
            "buildType": ARTIFACT_BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": ci.builder_id, "version": {"attest": __version__}},
            "metadata": metadata,
        },
    }
