"""A private channel behind HTTP basic auth on 127.0.0.1: credentials come from environment
variables, reach the solver, and never reach a lockfile or an error message."""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.lock.repository import lock_repository
from tests.conftest import RepoFactory
from tests.test_lock import CHANNELS

USER, TOKEN = "alice", "s3cr3t-t0ken"


class _AuthenticatedChannel(http.server.SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="conda"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def private_channel() -> Iterator[str]:
    handler = functools.partial(_AuthenticatedChannel, directory=str(CHANNELS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def repo_using(make_repo: RepoFactory, host: str) -> Path:
    channel = f"http://${{CHANNEL_USER}}:${{CHANNEL_TOKEN}}@{host}/conda-forge"
    return make_repo(
        {
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\n"
            f"channels: ['{channel}']\nconda: [python 3.12.*, numpy]\n"
        }
    )


def test_credentials_from_the_environment_are_used_and_never_written(
    make_repo: RepoFactory, private_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANNEL_USER", USER)
    monkeypatch.setenv("CHANNEL_TOKEN", TOKEN)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", private_channel)
    root = repo_using(make_repo, private_channel)
    (outcome,) = lock_repository(root)
    assert outcome.status == "locked"
    folder = root / "environments" / "ml"
    explicit = (folder / "conda-linux-64.lock").read_text()
    assert f"http://{private_channel}/conda-forge/linux-64/numpy-" in explicit
    for file in folder.iterdir():
        text = file.read_text()
        assert TOKEN not in text and f"{USER}:" not in text, file.name
    assert (
        "used_env_vars:\n    - CHANNEL_USER\n    - CHANNEL_TOKEN"
        in (folder / "conda-lock.yml").read_text()
    )


def test_a_wrong_token_fails_without_showing_it(
    make_repo: RepoFactory, private_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANNEL_USER", USER)
    monkeypatch.setenv("CHANNEL_TOKEN", "wrong-" + TOKEN)
    monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "127.0.0.1")  # (any port)
    root = repo_using(make_repo, private_channel)
    [outcome] = lock_repository(root)
    why = "; ".join(outcome.reasons)
    assert outcome.status == "failed" and "401" in why and TOKEN not in why


def test_a_missing_variable_is_named(
    make_repo: RepoFactory, private_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANNEL_USER", USER)
    monkeypatch.delenv("CHANNEL_TOKEN", raising=False)
    root = repo_using(make_repo, private_channel)
    [outcome] = lock_repository(root)
    assert outcome.status == "failed" and "needs the environment variable" in outcome.reasons[0]


def test_a_channel_a_pull_request_points_elsewhere_gets_no_credential(
    make_repo: RepoFactory, private_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository names the channel's host, and a pull request can change it: the token
    goes only to a host ENVC_CREDENTIAL_HOSTS (set where the token is) lists. Another server
    on this machine, named by the manifest, is never contacted with it."""
    elsewhere: list[str | None] = []

    class _Recording(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            elsewhere.append(self.headers.get("Authorization"))
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CHANNEL_USER", USER)
        monkeypatch.setenv("CHANNEL_TOKEN", TOKEN)
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", private_channel)
        other = f"127.0.0.1:{server.server_address[1]}"
        for channel in (
            f"http://${{CHANNEL_USER}}:${{CHANNEL_TOKEN}}@{other}/conda-forge",
            f"http://{other}/t/${{CHANNEL_TOKEN}}/conda-forge",
            # a host hidden in the user info: the filled URL's host is what is checked
            f"http://${{CHANNEL_USER}}:${{CHANNEL_TOKEN}}@{other}/@{private_channel}/x",
        ):
            manifest = f"schema_version: 1\nname: ml\nchannels: ['{channel}']\nconda: [numpy]\n"
            root = make_repo({"environments/ml/env.yaml": manifest})
            [outcome] = lock_repository(root)
            why = "; ".join(outcome.reasons)
            assert outcome.status == "failed", channel
            assert f"would be sent to {other}, which ENVC_CREDENTIAL_HOSTS does not list" in why
            assert TOKEN not in why
        assert elsewhere == []
    finally:
        server.shutdown()
        server.server_close()
