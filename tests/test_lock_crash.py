"""A lock set is written as one: `envc lock --force` is killed (SIGKILL, from inside the process,
right after its k-th lockfile lands) at every write in turn; afterwards `lock --check` never calls
a mix of two runs fresh, and a rerun completes.

The kill comes from a sitecustomize module on PYTHONPATH that wraps os.replace in the `envc`
process: the real program, the real writes, a real kill -9.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.lock.pip import write_wheel
from tests.test_lock import MIRRORS

MANIFEST = (
    "schema_version: 1\nname: ml\npython: '3.12'\nconda: [python 3.12.*, pip]\npip: [alpha]\n"
    "platforms: [linux-64]\n"
)
LOCKFILES = ("conda-linux-64.lock", "requirements-linux-64.txt", "pylock.linux-64.toml")
KILLER = """
import os, signal
_replace = os.replace
_count = [0]
_names = {names!r}
_after = int(os.environ["ENVC_TEST_KILL_AFTER"])
def replace(source, target, *args, **kwargs):
    _replace(source, target, *args, **kwargs)
    if os.path.basename(str(target)) in _names:
        _count[0] += 1
        if _count[0] == _after:
            os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace
"""


def envc(root: Path, *args: str, kill_after: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVC_")}
    env["ENVC_MIRRORS"] = " ".join(f"{k}={v}" for k, v in MIRRORS.items())
    if kill_after is not None:
        env["ENVC_TEST_KILL_AFTER"] = str(kill_after)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(root.parent / "killer"), env.get("PYTHONPATH")])
        )
    return subprocess.run(
        [str(Path(sys.executable).parent / "envc"), *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def relocking(tmp_path: Path) -> Path:
    """A repository locked against alpha 1.0, with alpha 1.1 published since: a forced relock
    writes a different set for the same inputs (the case fingerprints cannot tell apart)."""
    root = tmp_path / "repo"
    (root / "environments" / "ml").mkdir(parents=True)
    (root / "environments" / "ml" / "env.yaml").write_text(MANIFEST)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0")
    (tmp_path / "killer").mkdir()
    (tmp_path / "killer" / "sitecustomize.py").write_text(
        KILLER.format(names={*LOCKFILES, "conda-lock.yml"})
    )
    result = envc(root, "lock", "--pip-find-links", str(wheels))
    assert result.returncode == 0, result.stderr
    write_wheel(wheels, "alpha", "1.1")
    return root


@pytest.mark.parametrize("kill_after", [1, 2, 3])
def test_a_lock_killed_after_any_write_is_never_called_fresh(
    relocking: Path, kill_after: int
) -> None:
    folder = relocking / "environments" / "ml"
    before = {name: (folder / name).read_text() for name in LOCKFILES}
    wheels = str(relocking.parent / "wheels")
    killed = envc(relocking, "lock", "--force", "--pip-find-links", wheels, kill_after=kill_after)
    assert killed.returncode == -9, killed.stderr
    after = {name: (folder / name).read_text() for name in LOCKFILES}
    assert sum(before[n] != after[n] for n in LOCKFILES) == kill_after  # a real mix on disk

    check = envc(relocking, "lock", "--check")
    assert check.returncode == 1, check.stdout
    assert "from another lock run" in check.stdout
    rendered = envc(relocking, "render")
    assert rendered.returncode == 1 and not (relocking / "build" / "ml").exists()

    rerun = envc(relocking, "lock", "--force", "--pip-find-links", wheels)
    assert rerun.returncode == 0, rerun.stderr
    assert envc(relocking, "lock", "--check").returncode == 0
    assert "alpha==1.1" in (folder / "requirements-linux-64.txt").read_text()


def test_a_run_killed_before_its_first_write_leaves_the_old_set_fresh(relocking: Path) -> None:
    wheels = str(relocking.parent / "wheels")
    killed = envc(relocking, "lock", "--force", "--pip-find-links", wheels, kill_after=4)
    assert killed.returncode == -9  # killed after the last write: the new set, whole
    assert envc(relocking, "lock", "--check").returncode == 0
