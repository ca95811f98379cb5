"""The README's quick start, from an empty directory: envc init, an environment, lock (offline,
from the channel snapshot), render, commit, register, list; and init keeps what exists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import Git, run_envc
from tests.test_lock import MIRRORS


def _envc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = run_envc(cwd, *args)
    assert run.returncode == 0, (args, run.stdout, run.stderr)
    return run


def test_the_quick_start_from_an_empty_directory(tmp_path: Path, git: Git) -> None:
    root = tmp_path / "platform-envs"
    created = _envc(tmp_path, "init", str(root)).stdout
    assert "created envc.yaml" in created and "created a git repository" in created
    mirror = MIRRORS["https://conda.anaconda.org/conda-forge"]
    with open(root / "envc.yaml", "a", encoding="utf-8") as config:
        config.write(f"mirrors:\n  conda-forge: {mirror}\n")
    (root / "environments/demo").mkdir()
    (root / "environments/demo/env.yaml").write_text(
        "schema_version: 1\nname: demo\npython: '3.12'\nconda: [numpy]\n"
    )
    _envc(root, "validate")
    assert _envc(root, "lock").stdout == "demo: locked (first lock)\n"
    assert "demo: rendered" in _envc(root, "render").stdout
    assert (root / "build/demo/Dockerfile").is_file()
    git(root, "add", "-A")
    assert "build/" not in git(root, "status", "--porcelain")  # ignored, as init said
    git(root, "commit", "-qm", "demo")
    assert "demo@1: registered" in _envc(root, "register").stdout
    assert _envc(root, "list").stdout.splitlines()[1].startswith("demo@1 ")
    hooks = subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "validate-config"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    # Run again: everything is kept as it is.
    again = _envc(root, "init").stdout
    assert "kept envc.yaml (already there)" in again and "created" not in again
    assert "mirrors:" in (root / "envc.yaml").read_text()
