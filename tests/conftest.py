from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.gitrepos import Git, commit, gpu, host, pip_only, user_managed

PROJECT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"

RepoFactory = Callable[[dict[str, str | bytes]], Path]


@pytest.fixture(autouse=True, scope="session")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tests' own user cache folder (XDG_CACHE_HOME), not the one of whoever runs them:
    envc keeps downloads, the plan's caches and the verified locks there."""
    folder = tmp_path_factory.mktemp("user-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


def run_envc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """envc in a process of its own, as a user starts it in `cwd`: this checkout's code, and
    none of the caller's ENVC_* or colour settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ENVC_", "NO_COLOR", "FORCE_COLOR"))
    }
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args],
        cwd=cwd,
        env={**environment, "PYTHONPATH": str(PROJECT)},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def make_repo(tmp_path: Path) -> RepoFactory:
    """Write {relative path: content} under a fresh repository root (with environments/)."""

    def make(files: dict[str, str | bytes]) -> Path:
        root = tmp_path / "repo"
        (root / "environments").mkdir(parents=True, exist_ok=True)
        for relative, content in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return root

    return make


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    """Environment for real git runs: pinned identity, no user or system configuration."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
            "GIT_AUTHOR_NAME": "envc tests",
            "GIT_AUTHOR_EMAIL": "tests@envc.invalid",
            "GIT_COMMITTER_NAME": "envc tests",
            "GIT_COMMITTER_EMAIL": "tests@envc.invalid",
            "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
            "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
        }
    )
    return env


@pytest.fixture
def git(monkeypatch: pytest.MonkeyPatch, git_env: dict[str, str]) -> Git:
    """Run git in a repository with a pinned identity; envc's own git calls see it too."""
    for key, value in git_env.items():
        monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("GIT_") and k not in git_env]:
        monkeypatch.delenv(key)

    def run(root: Path, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=root, check=True, capture_output=True, text=True
        ).stdout.strip()

    return run


@pytest.fixture
def repo(make_repo: RepoFactory, git: Git) -> Path:
    """A committed repository of environments that need no lock, one of each kind."""
    root = make_repo(
        {
            "environments/base/env.yaml": user_managed("base", extra="variables:\n  A: '1'\n"),
            "environments/child/env.yaml": "schema_version: 1\nname: child\nextends: base\n",
            "environments/other/env.yaml": user_managed("other", "example.com/other:1"),
            "environments/gpu-old/env.yaml": gpu("gpu-old", "11.8"),
            "environments/gpu-new/env.yaml": gpu("gpu-new", "12.4"),
            "environments/slim/env.yaml": pip_only("slim"),
            "environments/onhost/env.yaml": host("onhost"),
        }
    )
    git(root, "init", "-q", "-b", "main")
    commit(git, root, "environments")
    return root


# CI runs the property tests with a fixed seed, so a landing never hangs on a lucky draw;
# local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
