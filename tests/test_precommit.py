"""End to end with the real pre-commit framework and real git: bad manifests block the commit.

The hook definitions come from our .pre-commit-hooks.yaml; they run as `language: system` against
the envc installed in this environment, so the test needs no network to build a hook environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import PROJECT


def git(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )


def test_precommit_rejects_a_bad_manifest_and_accepts_the_fix(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    env = dict(git_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    repo = tmp_path / "user-repo"
    shutil.copytree(PROJECT / "environments", repo / "environments")
    hooks = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        hook["language"] = "system"
    config = {"repos": [{"repo": "local", "hooks": hooks}]}
    with (repo / ".pre-commit-config.yaml").open("w") as handle:
        YAML().dump(config, handle)
    assert git(repo, env, "init", "-q", "-b", "main").returncode == 0
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    git(repo, env, "add", "-A")
    first = git(repo, env, "commit", "-q", "-m", "add environments")
    assert first.returncode == 0, first.stdout + first.stderr

    manifest = repo / "environments" / "sklearn-cpu" / "env.yaml"
    manifest.write_text(manifest.read_text().replace("extends: base-python", "extends: base-pyton"))
    git(repo, env, "add", "-A")
    rejected = git(repo, env, "commit", "-q", "-m", "typo in parent")
    assert rejected.returncode != 0
    output = rejected.stdout + rejected.stderr
    assert (
        "environments/sklearn-cpu/env.yaml:9:10: error: no environment is named "
        "'base-pyton' (did you mean 'base-python'?) [$.extends] (unknown-parent)"
    ) in output
    assert "typo in parent" not in git(repo, env, "log", "--format=%s").stdout

    manifest.write_text(manifest.read_text().replace("base-pyton", "base-python") + "# fixed\n")
    git(repo, env, "add", "-A")
    fixed = git(repo, env, "commit", "-q", "-m", "fix parent")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert git(repo, env, "log", "-1", "--format=%s").stdout.strip() == "fix parent"
