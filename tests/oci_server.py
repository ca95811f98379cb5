"""A real OCI registry for the tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1
with throwaway storage."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    def __init__(self, folder: Path, htpasswd: str | None = None) -> None:
        binary = shutil.which("docker-registry")
        assert binary, "docker-registry is not installed: apt-get install docker-registry"
        self.binary, self.folder, self.htpasswd = binary, folder, htpasswd
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.folder / "config.yml"
        auth = ""
        if self.htpasswd is not None:
            (self.folder / "htpasswd").write_text(self.htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: envc\n    path: {self.folder / 'htpasswd'}\n"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.folder / 'data'}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n{auth}"
        )
        self.process = subprocess.Popen(
            [self.binary, "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{self.host}/v2/", timeout=1).status_code in (200, 401):
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@contextmanager
def guarded_registry(folder: Path, user: str, secret: str) -> Iterator[Server]:
    """A registry that wants `user` / `secret` (an htpasswd file with a bcrypt hash)."""
    import bcrypt

    hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=4)).decode()
    server = Server(folder, htpasswd=f"{user}:{hashed}\n")
    folder.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()
