"""Admission tests: real images signed with the local Sigstore stack, a real TLS server, and
AdmissionReviews around objects that kubectl itself makes (`--dry-run=client`)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from oci_attest.admit.certs import make_serving_certificate, write_certificate
from oci_attest.admit.config import load_config
from oci_attest.admit.engine import AdmissionEngine
from oci_attest.admit.server import serve
from tests.fixtures.verify import provenance, statement


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl is missing: scripts/setup installs it (apt package kubectl)")
    return path


def kube_object(kubectl: str, kind: str, image: str, name: str = "web") -> dict:
    """A real object as kubectl writes it; a Pod is a Deployment's template (see env notes)."""
    if kind == "Pod":
        deployment = kube_object(kubectl, "Deployment", image, name)
        template = deployment["spec"]["template"]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, **template["metadata"]}, "spec": template["spec"]}
    command = {"Deployment": ["create", "deployment", name, f"--image={image}"],
               "Job": ["create", "job", name, f"--image={image}"],
               "CronJob": ["create", "cronjob", name, f"--image={image}",
                           "--schedule=*/5 * * * *"]}[kind]
    done = subprocess.run([kubectl, *command, "--dry-run=client", "-o", "json"],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


def admission_review(obj: dict, *, namespace: str = "prod", operation: str = "CREATE",
                     old: dict | None = None) -> dict:
    kind = obj["kind"]
    group, _, version = obj["apiVersion"].rpartition("/")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": str(uuid.uuid4()),
                        "kind": {"group": group, "version": version, "kind": kind},
                        "resource": {"group": group, "version": version,
                                     "resource": kind.lower() + "s"},
                        "namespace": namespace, "operation": operation,
                        "userInfo": {"username": "tester"},
                        "object": obj, "oldObject": old, "dryRun": False}}


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("admit-tls")
    write_certificate(make_serving_certificate("attest-admit", "attest-system",
                                               extra_names=("127.0.0.1",)), directory)
    return directory


@pytest.fixture()
def signed_image(make_image, signer):
    image = make_image("admit/app", tag="1.0")
    image.attach(signer.sign(statement(image.digest, provenance())))
    return image


@pytest.fixture()
def write_config(tmp_path, registry, signer, sigstore_trust_config):
    """An admission config trusting the signer's workflow for images under admit/."""

    def write(**top) -> Path:
        policy = {"identities": [{"issuer": signer.issuer, "subject": signer.identity()}],
                  "trust": {"trustConfig": str(sigstore_trust_config)}}
        entry = {"name": "prod-images", "images": [f"{registry.host}/admit/*"],
                 "policy": policy, **top.pop("entry", {})}
        document = {"policies": [entry], "exemptNamespaces": ["kube-system"], **top}
        path = tmp_path / f"admit-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(document))
        return path

    return write


@contextmanager
def running(config: Path, tls_dir: Path):
    engine = AdmissionEngine(load_config(config))
    server = serve(engine, "127.0.0.1", 0, tls_cert=tls_dir / "tls.crt",
                   tls_key=tls_dir / "tls.key")
    session = requests.Session()
    session.verify = str(tls_dir / "ca.crt")
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", session, engine
    finally:
        server.shutdown()
        server.server_close()
        engine.close()


def post(session, url: str, review: dict) -> dict:
    answer = session.post(url, json=review, timeout=30, verify=session.verify)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    assert document["apiVersion"] == "admission.k8s.io/v1"
    assert document["response"]["uid"] == review["request"]["uid"]
    return document["response"]


def patch_of(response: dict) -> list[dict]:
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))
