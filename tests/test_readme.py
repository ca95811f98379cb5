"""README.md starts with the two set-up commands, and CI runs exactly the second one."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT
from tests.gitrepos import Git, commit


def setup_commands() -> list[str]:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block, "README.md opens with a sh block"
    assert readme.index("```sh") < readme.index("## "), "the commands come first"
    return block.group(1).strip().splitlines()


def test_readme_has_exactly_two_setup_commands() -> None:
    main_job, tests = setup_commands()
    assert main_job.startswith("python3 -m venv .venv && .venv/bin/pip install")
    assert "pytest" in tests and "[test]" in tests


def test_ci_runs_the_readme_test_command() -> None:
    ci = (PROJECT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == setup_commands()[1]


def test_main_job_compiles_the_bundled_environments_offline(tmp_path: Path, git: Git) -> None:
    """The README's main job, run on a committed copy of environments/ with every proxy pointing
    at a closed port: it must need nothing but the committed locks."""
    root = tmp_path / "clone"
    shutil.copytree(PROJECT / "environments", root / "environments")
    git(root, "init", "-q", "-b", "main")
    commit(git, root, "environments")
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead}
    env.pop("NO_PROXY", None)
    steps = [step.strip() for step in setup_commands()[0].split("&&")]
    envc_steps = [shlex.split(step)[1:] for step in steps if step.startswith(".venv/bin/envc ")]
    assert [step[0] for step in envc_steps] == ["validate", "render", "register", "list"]
    outputs = []
    for args in envc_steps:
        done = subprocess.run(
            [sys.executable, "-m", "compiler", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        outputs.append(done.stdout)
    names = sorted(path.name for path in (root / "environments").iterdir())
    assert sorted(path.name for path in (root / "build").iterdir()) == names
    for name in names:
        assert f"{name}@1" in outputs[-1]
    # Every Docker environment's build context installs from the committed locks.
    for dockerfile in (root / "build").glob("*/Dockerfile"):
        for source in re.findall(r"^COPY (\S+\.(?:lock|txt)) ", dockerfile.read_text(), re.M):
            assert (dockerfile.parent / source).read_bytes() == (
                root / "environments" / dockerfile.parent.name / source
            ).read_bytes()
