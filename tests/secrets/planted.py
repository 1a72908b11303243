"""Secrets made up at test time (never committed in secret shape) and where to plant them."""

from __future__ import annotations

import base64
import json
import secrets
import string

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def openssh_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def pkcs8_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def planted() -> dict[str, tuple[str, str, str]]:
    """rule id -> (image path, file content, the secret value that must never be printed)."""
    aws_id = "AK" + "IA" + rand(UPPER, 16)
    aws_secret = rand(ALNUM + "/+", 40)
    gh = "gh" + "p_" + rand(ALNUM, 36)
    gl = "gl" + "pat-" + rand(ALNUM, 20)
    npm = "np" + "m_" + rand(ALNUM, 36)
    pypi = "py" + "pi-AgEIcHlwaS5vcmc" + rand(ALNUM, 60)
    slack = "xo" + "xb-" + rand(string.digits, 12) + "-" + rand(ALNUM, 24)
    rsa_key = rsa_pem()
    ssh_key = openssh_pem()
    sa_key = pkcs8_pem()
    docker_auth = base64.b64encode(f"ci:{rand(ALNUM, 24)}".encode()).decode()
    kube_token = rand(ALNUM, 48)
    pypirc_password = rand(ALNUM, 20)
    sa = {"type": "service_account", "project_id": "p", "private_key_id": rand(ALNUM, 40),
          "private_key": sa_key, "client_email": "ci@p.iam.gserviceaccount.example"}
    return {
        "private-key": ("root/.ssh/id_rsa", rsa_key, rsa_key.splitlines()[1]),
        "aws-access-key": ("home/app/.aws/credentials",
                           f"[default]\naws_access_key_id = {aws_id}\n"
                           f"aws_secret_access_key = {aws_secret}\n", aws_secret),
        "github-token": ("app/.env", f"DEBUG=1\nGITHUB_TOKEN={gh}\n", gh),
        "gitlab-token": ("app/deploy.sh", f"#!/bin/sh\ncurl -H 'PRIVATE-TOKEN: {gl}' x\n", gl),
        "npm-token": ("app/token.txt", f"{npm}\n", npm),
        "pypi-token": ("app/upload.cfg", f"[upload]\ntoken = {pypi}\n", pypi),
        "slack-token": ("app/notify.py", f"SLACK = '{slack}'\n", slack),
        "gcp-service-account": ("app/sa.json", json.dumps(sa, indent=2), sa_key.splitlines()[1]),
        "docker-config-auth": ("root/.docker/config.json",
                               json.dumps({"auths": {"registry.example": {"auth": docker_auth}}}),
                               docker_auth),
        "npmrc-auth": ("home/node/.npmrc",
                       f"registry=https://npm.example/\n//npm.example/:_authToken={npm}x\n",
                       npm + "x"),
        "pypirc-password": ("root/.pypirc",
                            f"[distutils]\nindex-servers = pypi\n[pypi]\nusername = ci\n"
                            f"password = {pypirc_password}\n", pypirc_password),
        "kubeconfig-credentials": ("root/.kube/config",
                                   "apiVersion: v1\nkind: Config\nclusters: []\nusers:\n"
                                   f"- name: ci\n  user:\n    token: {kube_token}\n", kube_token),
        "private-key (openssh)": ("home/app/.ssh/id_ecdsa", ssh_key, ssh_key.splitlines()[1]),
    }


#: Files that look a little like secrets and are not: none of them may be reported.
DECOYS = {
    "usr/share/doc/aws/README": "Example: aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
                                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "app/.npmrc": "//npm.registry.example.test/:_authToken=${NPM_TOKEN}\n",
    "app/docs/key.md": "-----BEGIN PRIVATE KEY-----\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
                       "XXXX\n-----END PRIVATE KEY-----\n",
    "root/.docker/config.json.example": json.dumps({"auths": {"r.example": {"auth": ""}}}),
    "home/app/.docker/config.json": json.dumps({"auths": {"r.example": {}},
                                                "credsStore": "desktop"}),
    "app/.pypirc": "[pypi]\nusername = __token__\npassword = ${PYPI_TOKEN}\n",
    "etc/kube/config": "apiVersion: v1\nkind: Config\nusers:\n- name: x\n  user:\n    exec: {}\n",
    "app/tokens.md": "GitHub tokens start with ghp_ and GitLab ones with glpat-.\n",
}
