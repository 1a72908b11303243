"""Validate CycloneDX 1.6 JSON against the official schema, fast enough to do on every run.

The schema files are the ones cyclonedx-python-lib ships (``cyclonedx.schema._res``), checked
by the same jsonschema Draft 7 validator its ``JsonStrictValidator`` uses. Used as is, that
validator cost 2.4 s to import and 0.4 s per 220-component SBOM, more than the whole image scan;
this module removes the causes without weakening the check:

* importing jsonschema imports ``rfc3987_syntax``, which compiles a Lark grammar at import time
  (2.4 s here). It only serves the ``iri``/``iri-reference`` formats, which attest never emits
  (no component carries a URL), so that one import is suppressed while jsonschema loads.
* ``uniqueItems`` compares every pair of array items (quadratic in the number of components);
  here each item is compared by its canonical JSON text in a set, which is the same equality
  for the objects and strings CycloneDX arrays hold.
* ``enum`` compares the ~700 SPDX license ids one by one in Python; here a string is looked up
  with one ``in`` on the list.
* ``$ref`` is resolved through ``referencing`` at every instance node; here references are
  replaced by the schemas they name once, when the validator is built.

The test suite runs the library's own ``JsonStrictValidator`` on the same documents, so the
two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any


def _import_jsonschema() -> Any:
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    blocked = "rfc3987_syntax" not in sys.modules
    if blocked:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    try:
        import jsonschema  # type: ignore[import-untyped]
    finally:
        if blocked:
            del sys.modules["rfc3987_syntax"]
    return jsonschema


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _inline_references(root: dict[str, Any], others: dict[str, dict[str, Any]]) -> None:
    """Replace every ``{"$ref": ...}`` by the schema it names, in place.

    In Draft 7 the siblings of ``$ref`` are ignored, so the replacement validates the same
    instances; recursive definitions become cyclic dicts, which the validator only follows as
    deep as the instance goes. Without references, no lookup through ``referencing`` happens
    per instance node (a third of the validation time).
    """
    seen: set[int] = set()

    def target(reference: str, base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        document_name, _, fragment = reference.partition("#")
        document = others[document_name.rsplit("/", 1)[-1]] if document_name else base
        node: Any = document
        for part in (p for p in fragment.split("/") if p):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, document

    def visit(node: Any, base: dict[str, Any]) -> None:
        if isinstance(node, dict):
            if id(node) in seen:
                return
            seen.add(id(node))
            items: list[tuple[Any, Any]] = list(node.items())
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            return
        for key, value in items:
            if isinstance(value, dict) and isinstance(value.get("$ref"), str):
                resolved, document = target(value["$ref"], base)
                visit(resolved, document)
                node[key] = resolved
            else:
                visit(value, base)

    visit(root, root)


@lru_cache(maxsize=1)
def _validator() -> Any:
    jsonschema = _import_jsonschema()
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON_STRICT, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON

    schema_path = BOM_JSON_STRICT[SchemaVersion.V1_6]
    if schema_path is None:  # pragma: no cover - the library ships it
        raise RuntimeError("cyclonedx-python-lib has no CycloneDX 1.6 JSON schema")
    root = _load(schema_path)
    others = {"spdx.SNAPSHOT.schema.json": _load(SPDX_JSON),
              "jsf-0.82.SNAPSHOT.schema.json": _load(JSF),
              "cryptography-defs.SNAPSHOT.schema.json": _load(CRYPTOGRAPHY_DEFS)}
    _inline_references(root, others)
    for document in (root, *others.values()):
        # Without "$schema"/"$id" jsonschema keeps this validator class for every subschema
        # (the dialect is fixed by the class: Draft 7).
        document.pop("$schema", None)
        document.pop("$id", None)
    base = jsonschema.Draft7Validator
    original_enum = base.VALIDATORS["enum"]
    original_unique = base.VALIDATORS["uniqueItems"]

    def enum(validator: Any, enums: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, str) and isinstance(enums, list):
            if instance not in enums:  # a C-level scan; strings never equal non-strings
                yield jsonschema.ValidationError(f"{instance!r} is not one of the allowed values")
            return
        yield from original_enum(validator, enums, instance, schema)

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if unique and isinstance(instance, list) and all(
                isinstance(item, (dict, str)) for item in instance):
            seen: set[str] = set()
            for item in instance:
                key = json.dumps(item, sort_keys=True) if isinstance(item, dict) else "s" + item
                if key in seen:
                    yield jsonschema.ValidationError(f"{instance!r:.200} has non-unique elements")
                    return
                seen.add(key)
            return
        yield from original_unique(validator, unique, instance, schema)

    cls = jsonschema.validators.extend(base, {"enum": enum, "uniqueItems": unique_items})
    return cls(root, format_checker=base.FORMAT_CHECKER)


def prepare_in_background() -> Callable[[], None]:
    """Import jsonschema and build the validator on a helper thread; returns a ``wait``.

    A registry scan spends much of its time waiting for downloads and inflating (which release
    the GIL), so the 0.3 s of imports and schema loading come nearly free when they overlap it.
    """
    # The cyclonedx package is imported here first: the scan imports cyclonedx.spdx too, and
    # two threads importing one package's modules at once is best avoided.
    import cyclonedx.schema._res
    import cyclonedx.spdx  # noqa: F401

    thread = threading.Thread(target=_validator, name="attest-schema", daemon=True)
    thread.start()
    return thread.join


def validation_errors(document: dict[str, Any], limit: int = 5) -> list[str]:
    """Up to ``limit`` schema violations, each as ``path: message``; empty when valid."""
    errors = []
    for error in _validator().iter_errors(document):
        where = "/".join(str(p) for p in error.absolute_path) or "(document)"
        errors.append(f"{where}: {error.message[:300]}")
        if len(errors) >= limit:
            break
    return errors
