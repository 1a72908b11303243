"""`attest admit check` (the webhook's judgement without a cluster), pull secrets, certs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from devstack.kubeapi import FakeKubeApi
from devstack.services import free_port
from oci_attest.promote import Copier
from oci_attest.reference import parse_reference
from oci_attest.registry import layouts
from oci_attest.registry.auth import Credentials
from oci_attest.registry.client import RegistryClient
from tests.admit.conftest import admission_review, kube_object, post, running
from tests.fixtures.verify import SLSA, provenance, statement
from tests.secrets.test_registry_credentials import USER, auth_registry, password  # noqa: F401

pytestmark = pytest.mark.integration


def attest(*args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "oci_attest", *args], capture_output=True,
                          text=True, input=stdin, timeout=300)


def test_check_gives_the_webhooks_verdicts_on_manifests(kubectl, signed_image, make_image,
                                                        write_config, tls_dir, tmp_path):
    unsigned = make_image("admit/check", tag="1")
    good = kube_object(kubectl, "Deployment", signed_image.tagged, name="good")
    bad = kube_object(kubectl, "Pod", unsigned.tagged, name="bad")
    manifests = tmp_path / "k8s"
    manifests.mkdir()
    (manifests / "good.yaml").write_text(yaml.safe_dump(good))
    (manifests / "bad.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": [bad]}))
    config = write_config()
    done = attest("admit", "check", "--config", str(config), str(manifests),
                  "--namespace", "prod", "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    verdicts = {o["name"]: o["allowed"] for o in report["objects"]}
    assert verdicts == {"good": True, "bad": False}
    with running(config, tls_dir) as (url, session, _):
        served = {name: post(session, f"{url}/validate", admission_review(obj))["allowed"]
                  for name, obj in (("good", good), ("bad", bad))}
    assert served == verdicts  # one engine, one answer

    only_good = attest("admit", "check", "--config", str(config), "-",
                       stdin=yaml.safe_dump(good))
    assert only_good.returncode == 0, only_good.stdout + only_good.stderr
    assert f"admitted by policy prod-images ({signed_image.tagged}@{signed_image.digest})" \
        in only_good.stdout


def test_check_exits_5_when_the_registry_is_down(kubectl, signer, sigstore_trust_config,
                                                 tmp_path):
    dead = f"127.0.0.1:{free_port()}"  # nothing listens here
    config = tmp_path / "admit.yaml"
    config.write_text(yaml.safe_dump({"policies": [{
        "name": "p", "images": [f"{dead}/*"], "policy": {
            "identities": [{"issuer": signer.issuer, "subject": signer.identity()}],
            "trust": {"trustConfig": str(sigstore_trust_config)}}}], "timeoutSeconds": 3}))
    done = attest("admit", "check", "--config", str(config), "-",
                  stdin=yaml.safe_dump(kube_object(kubectl, "Pod", f"{dead}/app:1")))
    assert done.returncode == 5, done.stdout + done.stderr
    assert "registry" in done.stdout


def test_pull_secrets_are_read_through_the_kubernetes_api(kubectl, make_image, signer,
                                                          sigstore_trust_config, auth_registry,  # noqa: F811
                                                          password, tls_dir, tmp_path):  # noqa: F811
    host = auth_registry.removeprefix("http://")
    source = make_image("admit/private", tag="1")
    private = RegistryClient(host, credentials=Credentials(username=USER, password=password))
    copier = Copier(source.client, "admit/private", private, "admit/private")
    copier.copy_image(source.digest)
    manifest = source.client.get_manifest("admit/private", source.digest)
    private.put_manifest("admit/private", "1", manifest.raw, manifest.media_type)
    ref = parse_reference(f"{host}/admit/private@{source.digest}")
    layouts.attach_referrer(private, ref, signer.sign(statement(source.digest, provenance())),
                            SLSA)

    api = FakeKubeApi(token="webhook-sa-token").start()
    try:
        api.add_docker_config_secret("prod", "regcred", {host: {"username": USER,
                                                                "password": password}})
        config = tmp_path / "admit.yaml"
        config.write_text(yaml.safe_dump({
            "policies": [{"name": "private", "images": [f"{host}/admit/*"], "policy": {
                "identities": [{"issuer": signer.issuer, "subject": signer.identity()}],
                "trust": {"trustConfig": str(sigstore_trust_config)}}}],
            "kubernetes": {"imagePullSecrets": True,
                           "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig"))}}))
        pod = kube_object(kubectl, "Pod", f"{host}/admit/private:1")
        with running(config, tls_dir) as (url, session, _):
            anonymous = post(session, f"{url}/validate", admission_review(pod))
            pod["spec"]["imagePullSecrets"] = [{"name": "regcred"}]
            with_secret = post(session, f"{url}/validate", admission_review(pod))
        assert anonymous["allowed"] is False
        assert with_secret["allowed"] is True, with_secret
        assert ("GET", "/api/v1/namespaces/prod/secrets/regcred",
                "Bearer webhook-sa-token") in api.requests
        assert password not in json.dumps(anonymous) + json.dumps(with_secret)
    finally:
        api.stop()


def test_certs_command_writes_a_usable_pair_and_prints_the_ca_bundle(tmp_path):
    import base64

    from cryptography import x509

    done = attest("admit", "certs", "--service", "attest-admit", "--namespace", "attest-system",
                  "--out", str(tmp_path / "tls"))
    assert done.returncode == 0, done.stderr
    ca_pem = (tmp_path / "tls" / "ca.crt").read_bytes()
    assert base64.b64decode(done.stdout.strip()) == ca_pem
    assert (tmp_path / "tls" / "tls.key").stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" not in done.stdout.encode() + done.stderr.encode()
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "tls.crt").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "attest-admit.attest-system.svc" in names.get_values_for_type(x509.DNSName)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))


@pytest.mark.parametrize(("document", "message"), [
    ({"policies": [{"name": "p", "images": ["x/*"], "policy": {}, "namespace": ["a"]}]},
     "unknown key 'namespace'"),
    ({"policies": []}, "policies must be a non-empty list"),
    ({"policies": [{"name": "p", "images": ["x/*"], "policy": {}, "mode": "audit"}]},
     "mode must be enforce or warn"),
    ({"policies": [{"name": "p", "images": ["x/*"], "policy": {}}]}, "no trusted signer"),
])
def test_bad_configs_are_refused_with_one_line(tmp_path, document, message):
    config = tmp_path / "admit.yaml"
    config.write_text(yaml.safe_dump(document))
    done = attest("admit", "check", "--config", str(config), "-", stdin="")
    assert done.returncode in (2, 3), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
