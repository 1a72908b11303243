"""``attest admit check``: the webhook's judgement over manifests, without a cluster.

GitOps repositories and ``helm template`` output are judged before merge by the very engine
the webhook runs, so a Pod the cluster would refuse is refused in review first. Objects come
from YAML or JSON files (multi-document, ``kind: List`` flattened), directories, or stdin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from oci_attest._internal.yaml_errors import yaml_problem
from oci_attest.admit.engine import AdmissionEngine, Decision
from oci_attest.admit.workloads import is_workload
from oci_attest.errors import InputError

_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class CheckedObject:
    source: str
    kind: str
    name: str
    namespace: str
    decision: Decision

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "name": self.name,
                "namespace": self.namespace, "allowed": self.decision.allowed,
                "note": self.decision.note,
                "images": [d.to_json() for d in self.decision.images]}


def load_objects(paths: Sequence[str], stdin_text: str | None) -> Iterator[tuple[str, Any]]:
    for raw in paths:
        if raw == "-":
            yield from _documents("<stdin>", stdin_text or "")
            continue
        path = Path(raw)
        if path.is_dir():
            for directory, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.lower().endswith(_SUFFIXES):
                        found = Path(directory) / name
                        yield from _documents(str(found), _read(found))
        elif path.is_file():
            yield from _documents(raw, _read(path))
        else:
            raise InputError(f"{raw} does not exist", hint="check the path")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}"
                         ) from None


def _documents(source: str, text: str) -> Iterator[tuple[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InputError(f"{source} is not valid YAML or JSON: "
                         f"{yaml_problem(error)}") from None
    for document in documents:
        if isinstance(document, dict) and document.get("kind") == "List" \
                and isinstance(document.get("items"), list):
            for item in document["items"]:
                yield source, item
        elif document is not None:
            yield source, document


def check_objects(engine: AdmissionEngine, objects: Iterator[tuple[str, Any]], *,
                  namespace: str | None) -> list[CheckedObject]:
    checked: list[CheckedObject] = []
    for source, obj in objects:
        if not isinstance(obj, dict) or not is_workload(str(obj.get("kind", ""))):
            continue
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        assert isinstance(metadata, dict)
        object_namespace = namespace or str(metadata.get("namespace") or "default")
        decision = engine.review(namespace=object_namespace, operation="CREATE", obj=obj)
        checked.append(CheckedObject(source=source, kind=str(obj["kind"]),
                                     name=str(metadata.get("name", "")),
                                     namespace=object_namespace, decision=decision))
    return checked


def render_text(checked: list[CheckedObject]) -> str:
    lines: list[str] = []
    for item in checked:
        verdict = "admitted" if item.decision.allowed else "REFUSED"
        lines.append(f"{item.kind}/{item.name} in {item.namespace} ({item.source}): {verdict}"
                     + (f" ({item.decision.note})" if item.decision.note else ""))
        lines.extend(f"  {d.line()}" for d in item.decision.images)
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(checked: list[CheckedObject]) -> str:
    return json.dumps({"allowed": all(c.decision.allowed for c in checked),
                       "objects": [c.to_json() for c in checked]}, indent=2) + "\n"
