"""The shipped Kubernetes manifests: what the README promises about them holds.

No API server can run here, so the manifests are checked structurally (and the shipped admission
config is loaded by the real config loader, as the webhook would at startup).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from oci_attest.admit.config import load_config

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "kubernetes"


def _objects() -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(TEMPLATES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found[(document["kind"], document["metadata"]["name"])] = document
    return found


def test_webhook_configurations_fail_closed_and_exempt_their_own_namespace():
    objects = _objects()
    for kind, path in (("MutatingWebhookConfiguration", "/mutate"),
                       ("ValidatingWebhookConfiguration", "/validate")):
        (webhook,) = objects[(kind, "attest-admit")]["webhooks"]
        assert webhook["admissionReviewVersions"] == ["v1"]
        assert webhook["sideEffects"] == "None" and webhook["failurePolicy"] == "Fail"
        assert 1 <= webhook["timeoutSeconds"] <= 30
        assert webhook["clientConfig"]["service"]["path"] == path
        expressions = webhook["namespaceSelector"]["matchExpressions"]
        assert {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                "values": ["attest-system"]} in expressions
        resources = {r for rule in webhook["rules"] for r in rule["resources"]}
        assert {"pods", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs",
                "cronjobs", "replicationcontrollers"} <= resources


def test_deployment_is_hardened_and_probed():
    deployment = _objects()[("Deployment", "attest-admit")]
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert _objects()[("PodDisruptionBudget", "attest-admit")]["spec"]["minAvailable"] == 1


def test_rbac_reads_secrets_only():
    role = _objects()[("ClusterRole", "attest-admit-read-pull-secrets")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]


def test_the_shipped_admission_config_loads(tmp_path):
    data = _objects()[("ConfigMap", "attest-admit-config")]["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    config = load_config(tmp_path / "admit.yaml")
    assert [p.name for p in config.policies] == ["prod-images", "everything-else"]
    assert config.deny_unmatched and config.pull_secrets and config.exempt("kube-system")
