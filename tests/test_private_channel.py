"""A private channel behind HTTP basic auth on 127.0.0.1: credentials come from environment
variables, reach the solver, and never reach a lockfile or an error message."""

from __future__ import annotations

import base64
import functools
import http.server
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler._util.cache import tools_cache
from compiler.cli import main
from compiler.lock.repository import lock_repository
from tests.condapkg import (
    PYTHON_VERSION,
    SITE_PACKAGES,
    index_channel,
    module_package,
    python_package,
)
from tests.conftest import RepoFactory
from tests.local_http import serving
from tests.test_lock import CHANNELS

USER, TOKEN = "alice", "s3cr3t-t0ken"


class _AuthenticatedChannel(http.server.SimpleHTTPRequestHandler):
    """Basic auth, or anaconda.org's token in the path (`/t/<token>/channel/...`)."""

    def do_GET(self) -> None:
        expected = "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()
        if self.path.startswith(f"/t/{TOKEN}/"):
            self.path = self.path[len(f"/t/{TOKEN}") :]
        elif self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="conda"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _serving(folder: Path) -> Iterator[str]:
    """`folder` served behind _AuthenticatedChannel on 127.0.0.1; its host:port."""
    with serving(functools.partial(_AuthenticatedChannel, directory=str(folder))) as host:
        yield host


@pytest.fixture
def private_channel() -> Iterator[str]:
    with _serving(CHANNELS) as host:
        yield host


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

    with serving(_Recording) as other:
        monkeypatch.setenv("CHANNEL_USER", USER)
        monkeypatch.setenv("CHANNEL_TOKEN", TOKEN)
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", private_channel)
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


@pytest.mark.parametrize("given", ["user info", "token in the path", "mirror"])
def test_an_environment_locked_from_a_private_channel_installs_from_it_and_keeps_no_secret(
    make_repo: RepoFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """`envc install` downloads from the channel the lock was solved from, with the same
    credentials (a lock that only CI could install would be half a lock); the prefix it makes
    holds no secret (rattler records each package's URL in conda-meta/)."""
    served = tmp_path / "served"
    channel = served / "private"
    python_package(channel)
    module_package(channel, "numpy", "1.26.4", depends=["python"])
    index_channel(channel)
    with _serving(served) as host:
        monkeypatch.setenv("CHANNEL_USER", USER)
        monkeypatch.setenv("CHANNEL_TOKEN", TOKEN)
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", host)
        with_user = f"http://${{CHANNEL_USER}}:${{CHANNEL_TOKEN}}@{host}/private"
        source = {
            "user info": f"channels: ['{with_user}']\n",
            "token in the path": f"channels: ['http://{host}/t/${{CHANNEL_TOKEN}}/private']\n",
            "mirror": "",
        }[given]
        files = {
            "environments/app/env.yaml": "schema_version: 1\nname: app\n"
            f"python: '{PYTHON_VERSION}'\nplatforms: [linux-64]\n{source}conda: [numpy]\n"
        }
        if given == "mirror":
            files["envc.yaml"] = f"config_version: 1\nmirrors:\n  conda-forge: '{with_user}'\n"
        root = make_repo(files)
        locked = CliRunner().invoke(main, ["lock", "--repo", str(root)])
        assert locked.exit_code == 0, locked.output
        prefix = tmp_path / "prefix"
        arguments = ["install", "app", "--prefix", str(prefix), "--repo", str(root)]
        installed = CliRunner().invoke(main, arguments)
        assert installed.exit_code == 0, installed.output
        assert TOKEN not in installed.output
        assert (prefix / SITE_PACKAGES / "numpy/__init__.py").read_text() == (
            '__version__ = "1.26.4"\n'
        )
        # not in the lock, the prefix's records of where packages came from, or rattler's cache
        for folder in (root, prefix, tools_cache()):
            for file in folder.rglob("*"):
                if file.is_file() and not file.is_symlink():
                    assert TOKEN.encode() not in file.read_bytes(), file
        monkeypatch.setenv("ENVC_CREDENTIAL_HOSTS", "registry.example.com")
        again = CliRunner().invoke(main, [*arguments[:-3], str(tmp_path / "p2"), *arguments[-2:]])
        assert again.exit_code == 2 and "ENVC_CREDENTIAL_HOSTS does not list" in again.output
