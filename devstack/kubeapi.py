"""A Kubernetes API server stand-in for Secret reads, speaking the real REST protocol.

No kube-apiserver can run on these machines, but the admission webhook reads Pods'
imagePullSecrets through the official ``kubernetes`` client. This serves exactly the calls that
client makes for that (``GET /api/v1/namespaces/{ns}/secrets/{name}``) with real ``v1.Secret``
and ``v1.Status`` bodies, checks the bearer token as the API server would (401 otherwise), and
logs each request, so the real client code runs end to end and tests can see what it sent.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_SECRET_PATH = re.compile(r"^/api/v1/namespaces/([a-z0-9-]+)/secrets/([a-z0-9.-]+)$")


class FakeKubeApi:
    def __init__(self, token: str) -> None:
        self.token = token
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Authorization
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeKubeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_docker_config_secret(self, namespace: str, name: str,
                                 auths: dict[str, Any]) -> None:
        payload = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
        self.secrets[(namespace, name)] = {
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "namespace": namespace},
            "data": {".dockerconfigjson": payload}}

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "webhook", "user": {"token": self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "webhook"}}]}))
        return path

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                authorization = self.headers.get("Authorization")
                api.requests.append(("GET", self.path.split("?", 1)[0], authorization))
                if authorization != f"Bearer {api.token}":
                    self._status(401, "Unauthorized", "Unauthorized")
                    return
                match = _SECRET_PATH.match(self.path.split("?", 1)[0])
                secret = api.secrets.get((match.group(1), match.group(2))) if match else None
                if secret is None:
                    self._status(404, "NotFound", "secrets not found")
                    return
                self._json(200, secret)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._json(code, {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                                  "message": message, "reason": reason, "code": code})

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
