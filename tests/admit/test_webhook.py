"""`attest admit serve` over real TLS, judging real signed images in a real registry."""

from __future__ import annotations

import ssl
import subprocess
import sys
import threading
import time

import pytest
import requests

from devstack.faultproxy import Fault, FaultProxy
from tests.admit.conftest import admission_review, kube_object, patch_of, post, running
from tests.fixtures.verify import provenance, statement

pytestmark = pytest.mark.integration


def test_signed_image_by_tag_is_admitted_and_mutate_pins_it(kubectl, signed_image, write_config,
                                                           tls_dir):
    deployment = kube_object(kubectl, "Deployment", signed_image.tagged)
    with running(write_config(), tls_dir) as (url, session, _):
        validated = post(session, f"{url}/validate", admission_review(deployment))
        assert validated["allowed"] is True and "patch" not in validated
        mutated = post(session, f"{url}/mutate", admission_review(deployment))
    assert mutated["allowed"] is True
    assert patch_of(mutated) == [{"op": "replace",
                                  "path": "/spec/template/spec/containers/0/image",
                                  "value": f"{signed_image.tagged}@{signed_image.digest}"}]


def test_unsigned_and_wrongly_signed_images_are_denied_with_reasons(kubectl, make_image, signer,
                                                                    write_config, tls_dir):
    unsigned = make_image("admit/unsigned", tag="1")
    stranger = make_image("admit/stranger", tag="1")
    stranger.attach(signer.sign(statement(stranger.digest, provenance()),
                                repository="evil/other"))
    with running(write_config(), tls_dir) as (url, session, _):
        for image in (unsigned, stranger):
            response = post(session, f"{url}/validate",
                            admission_review(kube_object(kubectl, "Pod", image.tagged)))
            assert response["allowed"] is False
            message = response["status"]["message"]
            assert response["status"]["code"] == 403
            name = image.ref.repository.rsplit("/", 1)[1]  # kubectl names it after the image
            assert message.startswith(f'container "{name}": image {image.tagged} refused by '
                                      "policy prod-images: ")
            assert "\n" not in message  # one line per refused container
            mutated = post(session, f"{url}/mutate",
                           admission_review(kube_object(kubectl, "Pod", image.tagged)))
            assert mutated["allowed"] is False and "patch" not in mutated


def test_one_bad_init_container_denies_a_good_deployment(kubectl, signed_image, make_image,
                                                         write_config, tls_dir):
    unsigned = make_image("admit/init", tag="1")
    deployment = kube_object(kubectl, "Deployment", signed_image.tagged)
    deployment["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "migrate", "image": unsigned.tagged}]
    with running(write_config(), tls_dir) as (url, session, _):
        response = post(session, f"{url}/validate", admission_review(deployment))
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        f'init container "migrate": image {unsigned.tagged} refused by policy prod-images: '
        + response["status"]["message"].split("prod-images: ", 1)[1])
    assert 'container "app"' not in response["status"]["message"]


@pytest.mark.parametrize("kind", ["Job", "CronJob"])
def test_every_workload_kind_is_judged(kubectl, make_image, write_config, tls_dir, kind):
    unsigned = make_image("admit/kinds", tag="1")
    with running(write_config(), tls_dir) as (url, session, _):
        response = post(session, f"{url}/validate",
                        admission_review(kube_object(kubectl, kind, unsigned.tagged)))
    assert response["allowed"] is False


def test_exempt_namespace_and_warn_mode(kubectl, make_image, write_config, tls_dir):
    unsigned = make_image("admit/warn", tag="1")
    pod = kube_object(kubectl, "Pod", unsigned.tagged)
    with running(write_config(), tls_dir) as (url, session, _):
        assert post(session, f"{url}/validate",
                    admission_review(pod, namespace="kube-system"))["allowed"] is True
    with running(write_config(entry={"mode": "warn"}), tls_dir) as (url, session, _):
        response = post(session, f"{url}/validate", admission_review(pod))
    assert response["allowed"] is True
    assert len(response["warnings"]) == 1
    assert response["warnings"][0].startswith(f'container "warn": image {unsigned.tagged} '
                                              "admitted with a warning by policy prod-images: ")


def test_unmatched_images_follow_the_setting(kubectl, registry, write_config, tls_dir):
    pod = kube_object(kubectl, "Pod", f"{registry.host}/elsewhere/app:1")
    with running(write_config(), tls_dir) as (url, session, _):
        denied = post(session, f"{url}/validate", admission_review(pod))
    assert denied["allowed"] is False
    assert "no policy covers" in denied["status"]["message"]
    with running(write_config(unmatchedImages="allow"), tls_dir) as (url, session, _):
        assert post(session, f"{url}/validate", admission_review(pod))["allowed"] is True


def test_a_registry_that_hangs_is_denied_within_the_timeout(kubectl, registry, signer,
                                                            sigstore_trust_config, tls_dir,
                                                            tmp_path, write_config):
    with FaultProxy(f"http://{registry.host}", name="slow-registry") as proxy:
        proxy.add(Fault.stall(20), r"^/v2/admit/", times=None)
        config = write_config(timeoutSeconds=2)
        config.write_text(config.read_text().replace(registry.host, proxy.host))
        pod = kube_object(kubectl, "Pod", f"{proxy.host}/admit/app:1")
        with running(config, tls_dir) as (url, session, _):
            started = time.monotonic()
            response = post(session, f"{url}/validate", admission_review(pod))
            elapsed = time.monotonic() - started
    assert response["allowed"] is False
    assert "did not finish within 2s" in response["status"]["message"]
    assert elapsed < 2.0


def test_malformed_reviews_are_400_and_the_server_keeps_serving(kubectl, signed_image,
                                                               write_config, tls_dir):
    with running(write_config(), tls_dir) as (url, session, _):
        for body in (b"not json", b'{"kind": "AdmissionReview"}',
                     b'{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}'):
            answer = session.post(f"{url}/validate", data=body, timeout=10, verify=session.verify,
                                  headers={"Content-Type": "application/json"})
            assert answer.status_code == 400
        assert session.get(f"{url}/healthz", timeout=10, verify=session.verify).status_code == 200
        response = post(session, f"{url}/validate",
                        admission_review(kube_object(kubectl, "Pod", signed_image.tagged)))
        assert response["allowed"] is True


def test_a_flood_for_one_new_digest_verifies_once(kubectl, signed_image, registry, write_config,
                                                  tls_dir):
    with FaultProxy(f"http://{registry.host}", name="counting") as proxy:
        config = write_config()
        config.write_text(config.read_text().replace(registry.host, proxy.host))
        image = signed_image.tagged.replace(registry.host, proxy.host)
        pod = kube_object(kubectl, "Pod", image)
        with running(config, tls_dir) as (url, session, _engine):
            results: list[bool] = []

            def ask() -> None:
                with requests.Session() as own:
                    own.verify = session.verify
                    results.append(post(own, f"{url}/validate", admission_review(pod))["allowed"])

            threads = [threading.Thread(target=ask) for _ in range(24)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            metrics = session.get(f"{url}/metrics", timeout=10, verify=session.verify).text
    assert results == [True] * 24
    assert 'attest_admission_cache_total{cache="verdict",result="miss"} 1.0' in metrics
    referrer_reads = [e for e in proxy.exchanges if e.method == "GET"
                      and f"sha256-{signed_image.digest.split(':', 1)[1]}" in e.path]
    assert 1 <= len(referrer_reads) <= 2  # the fallback index (and .att): once, not 24 times


def test_an_update_that_keeps_the_images_is_cheap(kubectl, make_image, write_config, tls_dir):
    unsigned = make_image("admit/update", tag="1")
    old = kube_object(kubectl, "Deployment", unsigned.tagged)
    new = kube_object(kubectl, "Deployment", unsigned.tagged)
    new["spec"]["replicas"] = 5
    with running(write_config(), tls_dir) as (url, session, _):
        kept = post(session, f"{url}/validate",
                    admission_review(new, operation="UPDATE", old=old))
        assert kept["allowed"] is True
        changed = kube_object(kubectl, "Deployment", unsigned.tagged + "-other")
        moved = post(session, f"{url}/validate",
                     admission_review(changed, operation="UPDATE", old=old))
    assert moved["allowed"] is False


def test_serve_command_health_readiness_metrics_and_tls_floor(write_config, tls_dir):
    from devstack.services import free_port

    port = free_port()
    log_file = (tls_dir.parent / f"serve-{port}.log").open("wb")  # never a pipe nobody reads
    process = subprocess.Popen(
        [sys.executable, "-m", "oci_attest", "admit", "serve", "--config", str(write_config()),
         "--listen", f"127.0.0.1:{port}", "--tls-cert", str(tls_dir / "tls.crt"),
         "--tls-key", str(tls_dir / "tls.key")], stderr=log_file)
    try:
        url = f"https://127.0.0.1:{port}"
        ca = str(tls_dir / "ca.crt")
        for _ in range(100):
            try:
                if requests.get(f"{url}/healthz", verify=ca, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        ready = requests.get(f"{url}/readyz", verify=ca, timeout=10)
        assert ready.status_code == 200, ready.text
        metrics = requests.get(f"{url}/metrics", verify=ca, timeout=10)
        assert "attest_admission_request_seconds" in metrics.text
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.load_verify_locations(ca)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
        old.minimum_version = ssl.TLSVersion.TLSv1
        with pytest.raises((ssl.SSLError, OSError)):
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                    old.wrap_socket(raw, server_hostname="127.0.0.1"):
                pass
    finally:
        process.terminate()
        process.wait(30)
        log_file.close()
    assert process.returncode == 0, (tls_dir.parent / f"serve-{port}.log").read_text()
