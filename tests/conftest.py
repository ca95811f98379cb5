from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

PROJECT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "cases"

RepoFactory = Callable[[dict[str, str | bytes]], Path]


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


# CI runs the property tests with a fixed seed, so a landing never hangs on a lucky draw;
# local runs keep exploring new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
