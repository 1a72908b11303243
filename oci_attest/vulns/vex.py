"""OpenVEX statements and ``--ignore``: findings someone has judged, shown with their reason.

A VEX statement says a product is ``not_affected`` by (or has ``fixed``) a vulnerability, with a
justification. It is applied to a finding when the vulnerability matches the finding's id or
any alias and the statement's products (if it names any) include the finding's purl, by purl
without version or with it. The finding is kept, marked, and no longer counts for
``--fail-on``: people need to see what was waived, and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci_attest.errors import InputError
from oci_attest.vulns.match import Finding

_STATUSES = ("not_affected", "fixed", "affected", "under_investigation")


@dataclass(frozen=True)
class VexStatement:
    vulnerability: frozenset[str]
    products: frozenset[str]
    status: str
    justification: str


def load_openvex(path: Path) -> list[VexStatement]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read VEX document {path}: "
                         f"{getattr(error, 'strerror', None) or error}") from None
    if not isinstance(document, dict) or not str(document.get("@context", "")).startswith(
            "https://openvex.dev/ns"):
        raise InputError(f"{path} is not an OpenVEX document (@context https://openvex.dev/ns)")
    statements: list[VexStatement] = []
    for number, item in enumerate(document.get("statements") or []):
        if not isinstance(item, dict) or item.get("status") not in _STATUSES:
            raise InputError(f"{path}: statements[{number}] needs a status "
                             f"({', '.join(_STATUSES)})")
        names = _vulnerability_names(item.get("vulnerability"))
        if not names:
            raise InputError(f"{path}: statements[{number}] names no vulnerability")
        products = frozenset(_product_ids(item.get("products")))
        reason = item.get("justification") or item.get("impact_statement") or item.get(
            "status_notes") or ""
        statements.append(VexStatement(names, products, item["status"], str(reason)))
    return statements


def _vulnerability_names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, dict):
        names = {value.get("name"), value.get("@id"), *(value.get("aliases") or [])}
        return frozenset(str(n) for n in names if n)
    return frozenset()


def _product_ids(value: Any) -> list[str]:
    products: list[str] = []
    for product in value or []:
        if isinstance(product, str):
            products.append(product)
        elif isinstance(product, dict):
            products += [str(product.get("@id") or "")]
            identifiers = product.get("identifiers") or {}
            if isinstance(identifiers, dict) and identifiers.get("purl"):
                products.append(str(identifiers["purl"]))
            products += _product_ids(product.get("subcomponents"))
    return [p for p in products if p]


def apply_vex(findings: list[Finding], statements: list[VexStatement]) -> None:
    for finding in findings:
        names = {finding.id, *finding.aliases}
        bare = finding.purl.split("?", 1)[0]
        unversioned = bare.rsplit("@", 1)[0]
        for statement in statements:
            if not names & statement.vulnerability:
                continue
            if statement.products and not statement.products & {finding.purl, bare,
                                                                unversioned}:
                continue
            if statement.status in ("not_affected", "fixed"):
                finding.status = statement.status
                finding.justification = statement.justification or statement.status


def apply_ignores(findings: list[Finding], ignores: dict[str, str]) -> None:
    """``--ignore ID=REASON``: the id may be the finding's or any alias."""
    for finding in findings:
        for name in (finding.id, *finding.aliases):
            if name in ignores:
                finding.status = "ignored"
                finding.justification = ignores[name]
                break
