"""``admission.k8s.io/v1`` AdmissionReview in, AdmissionReview out.

The response echoes the request's ``uid`` (the API server matches on it), says ``allowed``,
carries the denial in ``status.message`` (what ``kubectl apply`` prints) with code 403, passes
warn-mode findings as ``warnings`` (kubectl prints each), and for the mutating endpoint a
base64 JSONPatch that pins each verified image to its digest. Anything that is not a
well-formed v1 AdmissionReview is rejected with :class:`MalformedReview` (HTTP 400), never
guessed at.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from oci_attest.admit.engine import Decision

API_VERSION = "admission.k8s.io/v1"
#: Kubernetes caps a warning at 256 characters and a response at a few; keep within that.
_MAX_WARNING = 256
_MAX_WARNINGS = 20


class MalformedReview(ValueError):
    """The body is not an AdmissionReview this webhook can answer (HTTP 400)."""


@dataclass(frozen=True)
class ReviewRequest:
    uid: str
    kind: str
    namespace: str
    operation: str
    obj: Any
    old_obj: Any


def parse_review(body: bytes) -> ReviewRequest:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise MalformedReview(f"body is not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("kind") != "AdmissionReview":
        raise MalformedReview("body is not an AdmissionReview")
    if document.get("apiVersion") != API_VERSION:
        raise MalformedReview(f"only {API_VERSION} AdmissionReview is served "
                              "(set admissionReviewVersions: [v1])")
    request = document.get("request")
    if not isinstance(request, dict):
        raise MalformedReview("AdmissionReview has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise MalformedReview("AdmissionReview request has no uid")
    kind = request.get("kind")
    kind_name = kind.get("kind") if isinstance(kind, dict) else None
    operation = request.get("operation")
    if not isinstance(operation, str):
        raise MalformedReview("AdmissionReview request has no operation")
    namespace = request.get("namespace")
    obj = request.get("object")
    if operation in ("CREATE", "UPDATE") and not isinstance(obj, dict):
        raise MalformedReview("AdmissionReview request has no object")
    return ReviewRequest(uid=uid, kind=str(kind_name or ""),
                         namespace=namespace if isinstance(namespace, str) else "",
                         operation=operation, obj=obj, old_obj=request.get("oldObject"))


def review_response(request: ReviewRequest, decision: Decision, *, mutate: bool) -> bytes:
    response: dict[str, Any] = {"uid": request.uid, "allowed": decision.allowed}
    if not decision.allowed:
        response["status"] = {"code": 403, "reason": "Forbidden",
                              "message": decision.message}
    warnings = [w[:_MAX_WARNING] for w in decision.warnings[:_MAX_WARNINGS]]
    if warnings:
        response["warnings"] = warnings
    if mutate and decision.allowed:
        patches = decision.patches()
        if patches:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patches).encode()).decode()
    return json.dumps({"apiVersion": API_VERSION, "kind": "AdmissionReview",
                       "response": response}).encode()
