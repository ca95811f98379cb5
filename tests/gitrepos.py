"""Real git repositories for the plan and registry tests: manifests that need no lock, and
committing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def user_managed(name: str, image: str = "example.com/runtime:1", extra: str = "") -> str:
    return (
        f"schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
        f"  interpreter_path: /usr/bin/python3\ndocker:\n  base_image: {image}\n{extra}"
    )


def gpu(name: str, cuda: str) -> str:
    # No packages: nothing to lock, but the catalog picks its base image.
    return (
        f"schema_version: 1\nname: {name}\npython: '3.12'\n"
        f"docker:\n  compute: gpu\n  cuda: '{cuda}'\n"
    )


def pip_only(name: str) -> str:
    return f"schema_version: 1\nname: {name}\npython: '3.12'\n"


def host(name: str) -> str:
    return (
        f"schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
        "  interpreter_path: /usr/bin/python3\ndocker:\n  enabled: false\n"
    )


Git = Callable[..., str]


def commit(git: Git, root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")
