"""The OCI distribution client: token authentication (the scheme of Docker Hub, GHCR and ACR)
against a token server on 127.0.0.1, and credentials from docker's credential helpers.

Basic authentication, uploads and manifests are exercised against Debian's docker-registry in
test_registry_oci.py."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from compiler.errors import UsageError
from compiler.registry.distribution import Distribution, credentials
from tests.local_http import serving

USER, SECRET, TOKEN = "robot", "s3cret-value", "issued-token-123"


class _TokenRegistry(BaseHTTPRequestHandler):
    """/v2/ demands a Bearer token; /token issues one for the right Basic credentials."""

    seen: ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.path.startswith("/token"):
            expected = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self._answer(401, {})
            else:
                self._answer(200, {"token": TOKEN})
        elif self.headers.get("Authorization") == f"Bearer {TOKEN}":
            self._answer(200, {"repositories": ["envs/base"]})
        else:
            realm = f"http://{self.headers['Host']}/token"
            challenge = f'Bearer realm="{realm}",service="test",scope="registry:catalog:*"'
            self._answer(401, {}, {"WWW-Authenticate": challenge})

    def _answer(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def token_registry() -> Iterator[str]:
    _TokenRegistry.seen = []
    with serving(_TokenRegistry) as host:
        yield host


@pytest.fixture
def no_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials anywhere but where a test puts them."""
    for name in ("ENVC_REGISTRY_USERNAME", "ENVC_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return tmp_path / "docker"


def test_a_bearer_challenge_is_answered_with_a_token_from_its_realm(
    token_registry: str, no_login: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVC_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("ENVC_REGISTRY_PASSWORD", SECRET)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", token_registry)
    client = Distribution(token_registry, plain_http=True)
    try:
        response = client.request("GET", client.url("/v2/_catalog"))
    finally:
        client.close()
    assert response.status_code == 200
    assert response.json() == {"repositories": ["envs/base"]}
    token_request = next(p for p in _TokenRegistry.seen if p.startswith("/token"))
    assert "service=test" in token_request and "scope=registry%3Acatalog%3A%2A" in token_request


def test_the_environments_registry_login_goes_only_to_a_listed_host(
    token_registry: str, no_login: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENVC_REGISTRY_USERNAME/PASSWORD are not bound to a host, and the registry may be the one
    envc.yaml names (a pull request can change it): a host ENVC_CREDENTIAL_HOSTS does not list
    is exit 2, and no request carries them (the docker config's are kept per host)."""
    monkeypatch.setenv("ENVC_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("ENVC_REGISTRY_PASSWORD", SECRET)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "ghcr.io")
    client = Distribution(token_registry, plain_http=True)
    with pytest.raises(UsageError, match="ENVC_CREDENTIAL_HOSTS does not list") as raised:
        client.request("GET", client.url("/v2/_catalog"))
    client.close()
    assert SECRET not in str(raised.value)
    assert not any(path.startswith("/token") for path in _TokenRegistry.seen)


def test_wrong_credentials_for_the_token_are_a_usage_error(
    token_registry: str, no_login: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVC_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("ENVC_REGISTRY_PASSWORD", "wrong")
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "127.0.0.1")
    client = Distribution(token_registry, plain_http=True)
    with pytest.raises(UsageError, match="refused access") as raised:
        client.request("GET", client.url("/v2/_catalog"))
    client.close()
    assert "wrong" not in str(raised.value)


def test_credentials_from_a_docker_credential_helper(
    no_login: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helpers = tmp_path / "bin"
    helpers.mkdir()
    helper = helpers / "docker-credential-envctest"
    # docker's helper protocol: the host on stdin, JSON on stdout.
    helper.write_text(
        "#!/bin/sh\nread host\n"
        f'echo "{{\\"ServerURL\\": \\"$host\\", \\"Username\\": \\"{USER}\\", '
        f'\\"Secret\\": \\"{SECRET}-$host\\"}}"\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    (no_login / "config.json").write_text(
        json.dumps({"credHelpers": {"registry.example": "envctest"}})
    )
    assert credentials("registry.example") == (USER, f"{SECRET}-registry.example")
    assert credentials("other.example") is None  # no helper, no store, no auths entry
    (no_login / "config.json").write_text(json.dumps({"credsStore": "envctest"}))
    assert credentials("other.example") == (USER, f"{SECRET}-other.example")
