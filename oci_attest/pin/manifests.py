"""Image references in YAML: Kubernetes objects, docker compose files, GitHub Actions workflows.

Documents are read with ruamel.yaml's round-trip loader only to learn *where* each image
scalar stands (its line and column in the original stream); nothing is re-serialised, so
comments, key order, quoting and indentation survive byte for byte. One walk serves every
kind of file, because the shapes do not collide: any mapping with a ``containers``,
``initContainers`` or ``ephemeralContainers`` list is a pod spec (Pods, every workload's pod
template, CronJobs, and custom resources that embed one); a top-level ``services`` mapping is
compose; a top-level ``jobs`` mapping is a workflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from oci_attest._internal.yaml_errors import yaml_problem
from oci_attest.errors import InputError
from oci_attest.pin.sites import Site, SiteKind, Skipped, line_starts

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_DOCKER_SCHEME = "docker://"


@dataclass
class YamlScan:
    sites: list[Site] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def scan_yaml(path: str, content: str) -> YamlScan:
    """Every image reference in a (multi-document) YAML stream, with its exact span."""
    yaml = YAML(typ="rt")
    try:
        documents = list(yaml.load_all(content))
    except YAMLError as error:
        problem = yaml_problem(error)
        raise InputError(f"{path} is not valid YAML: {problem}",
                         hint="fix the file, or render templates first (helm template ... | "
                              "attest pin -)") from None
    scan = YamlScan()
    finder = _Finder(path, content, scan)
    for document in documents:
        if isinstance(document, CommentedMap):
            finder.document(document)
    return scan


class _Finder:
    def __init__(self, path: str, content: str, scan: YamlScan) -> None:
        self.path = path
        self.content = content
        self.starts = line_starts(content)
        self.scan = scan

    def document(self, document: CommentedMap) -> None:
        for container, holder in _containers(document):
            name = container.get("name")
            self._scalar(holder, "image", SiteKind.K8S_CONTAINER,
                         f"container {name}" if isinstance(name, str) else "")
        services = document.get("services")
        if isinstance(services, CommentedMap) and not isinstance(document.get("jobs"),
                                                                 CommentedMap):
            for name, service in services.items():
                if isinstance(service, CommentedMap):
                    self._scalar(service, "image", SiteKind.COMPOSE_SERVICE, f"service {name}")
        jobs = document.get("jobs")
        if isinstance(jobs, CommentedMap):
            for job_name, job in jobs.items():
                if isinstance(job, CommentedMap):
                    self._job(str(job_name), job)

    def _job(self, name: str, job: CommentedMap) -> None:
        container = job.get("container")
        if isinstance(container, CommentedMap):
            self._scalar(container, "image", SiteKind.ACTIONS_CONTAINER, f"job {name}")
        else:
            self._scalar(job, "container", SiteKind.ACTIONS_CONTAINER, f"job {name}")
        services = job.get("services")
        if isinstance(services, CommentedMap):
            for service_name, service in services.items():
                if isinstance(service, CommentedMap):
                    self._scalar(service, "image", SiteKind.ACTIONS_SERVICE,
                                 f"job {name} service {service_name}")
        steps = job.get("steps")
        if isinstance(steps, CommentedSeq):
            for number, step in enumerate(steps, start=1):
                uses = step.get("uses") if isinstance(step, CommentedMap) else None
                if isinstance(uses, str) and uses.startswith(_DOCKER_SCHEME):
                    self._scalar(step, "uses", SiteKind.ACTIONS_STEP,
                                 f"job {name} step {number}", skip=len(_DOCKER_SCHEME))

    def _scalar(self, holder: CommentedMap, key: str, kind: SiteKind, context: str,
                skip: int = 0) -> None:
        value = holder.get(key)
        if not isinstance(value, str) or not value.strip():
            return
        line, column = holder.lc.value(key)
        offset = self.starts[line] + column if line < len(self.starts) else len(self.content)
        quote = self.content[offset:offset + 1]
        start = offset + 1 if quote in ("'", '"') else offset
        text = value[skip:]
        start += skip
        if "${{" in value or "{{" in value or "$" in text:
            self.scan.skipped.append(Skipped(self.path, line + 1, text,
                                             "is built from an expression or variable"))
            return
        if self.content[start:start + len(text)] != text:
            self.scan.skipped.append(Skipped(self.path, line + 1, text,
                                             "is written in a YAML form that cannot be "
                                             "rewritten in place (escapes or folding)"))
            return
        self.scan.sites.append(Site(self.path, line + 1, start, start + len(text), text, kind,
                                    context))


def _containers(node: Any) -> Iterator[tuple[CommentedMap, CommentedMap]]:
    """Every container mapping under any pod spec in ``node`` (depth-first, in order)."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key in _CONTAINER_LISTS and isinstance(value, CommentedSeq):
                for item in value:
                    if isinstance(item, CommentedMap):
                        yield item, item
            else:
                yield from _containers(value)
    elif isinstance(node, CommentedSeq):
        for item in node:
            yield from _containers(item)
