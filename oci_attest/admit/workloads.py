"""Every image a Kubernetes object would run, with the JSON pointer of its ``image`` field.

The pointer is what the mutating webhook patches and what a denial names, so it is taken from
where the object really holds its pod spec: ``/spec`` for a Pod, ``/spec/template/spec`` for
the workload controllers, ``/spec/jobTemplate/spec/template/spec`` for a CronJob. An object of
any other kind names no images here (the API server only sends the kinds the webhook's rules
select). Every container list counts: an init or ephemeral container runs code too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

#: kind -> path (keys) from the object to its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True)
class ContainerImage:
    container: str   # the container's name
    list_name: str   # containers, initContainers or ephemeralContainers
    image: str       # as written in the object
    pointer: str     # JSON pointer of the image field, for JSONPatch

    @property
    def label(self) -> str:
        kind = {"initContainers": "init container", "ephemeralContainers":
                "ephemeral container"}.get(self.list_name, "container")
        return f'{kind} "{self.container}"'


def container_images(obj: Any) -> list[ContainerImage]:
    """Images of every container of ``obj``; an unknown kind or missing spec gives none."""
    if not isinstance(obj, dict):
        return []
    path = POD_SPEC_PATHS.get(str(obj.get("kind", "")))
    if path is None:
        return []
    spec: Any = obj
    for key in path:
        spec = spec.get(key) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    base = "/" + "/".join(path)
    found: list[ContainerImage] = []
    for list_name in CONTAINER_LISTS:
        containers = spec.get(list_name)
        if not isinstance(containers, list):
            continue
        for index, container in enumerate(containers):
            if not isinstance(container, dict):
                continue
            image = container.get("image")
            name = container.get("name")
            found.append(ContainerImage(
                container=str(name) if isinstance(name, str) else f"#{index}",
                list_name=list_name, image=image if isinstance(image, str) else "",
                pointer=f"{base}/{list_name}/{index}/image"))
    return found


def is_workload(kind: str) -> bool:
    return kind in POD_SPEC_PATHS
