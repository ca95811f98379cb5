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


def user_repo(
    tmp_path: Path, git_env: dict[str, str], hook_ids: set[str]
) -> tuple[Path, dict[str, str]]:
    """A git repository whose pre-commit configuration runs our hooks `hook_ids`."""
    env = dict(git_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    repo = tmp_path / "user-repo"
    repo.mkdir()
    hooks = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    hooks = [dict(hook, language="system") for hook in hooks if hook["id"] in hook_ids]
    assert {hook["id"] for hook in hooks} == hook_ids
    with (repo / ".pre-commit-config.yaml").open("w") as handle:
        YAML().dump({"repos": [{"repo": "local", "hooks": hooks}]}, handle)
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
    return repo, env


def test_precommit_rejects_a_bad_manifest_and_accepts_the_fix(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    repo, env = user_repo(tmp_path, git_env, {"envc-validate"})
    shutil.copytree(PROJECT / "environments", repo / "environments")
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
    # A draft left untracked, claiming the same name, is not part of the commit: the hook
    # judges the commit (git's index), so it does not block it.
    draft = repo / "environments" / "draft" / "env.yaml"
    draft.parent.mkdir()
    draft.write_text("schema_version: 1\nname: sklearn-cpu\n")
    git(repo, env, "add", "environments/sklearn-cpu")
    fixed = git(repo, env, "commit", "-q", "-m", "fix parent")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert git(repo, env, "log", "-1", "--format=%s").stdout.strip() == "fix parent"


def test_precommit_lock_check_rejects_a_stale_lock(tmp_path: Path, git_env: dict[str, str]) -> None:
    repo, env = user_repo(tmp_path, git_env, {"envc-validate", "envc-lock-check"})
    channel = (PROJECT / "tests" / "data" / "channels" / "conda-forge").as_uri()
    env["ENVC_MIRRORS"] = f"conda-forge={channel}"
    manifest = repo / "environments" / "ml" / "env.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("schema_version: 1\nname: ml\npython: '3.12'\nconda: [numpy, pip]\n")
    envc = [str(Path(sys.executable).parent / "envc"), "lock"]
    assert subprocess.run(envc, cwd=repo, env=env, check=False).returncode == 0
    git(repo, env, "add", "-A")
    assert git(repo, env, "commit", "-q", "-m", "locked").returncode == 0

    manifest.write_text(manifest.read_text().replace("pip]", "pip, pandas]"))
    git(repo, env, "add", "-A")
    rejected = git(repo, env, "commit", "-q", "-m", "unlocked change")
    assert rejected.returncode != 0
    assert "ml: stale: spec added: pandas" in rejected.stdout + rejected.stderr

    assert subprocess.run(envc, cwd=repo, env=env, check=False).returncode == 0
    git(repo, env, "add", "-A")
    accepted = git(repo, env, "commit", "-q", "-m", "relocked")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_precommit_render_check_rejects_an_outdated_build_context(
    tmp_path: Path, git_env: dict[str, str]
) -> None:
    repo, env = user_repo(tmp_path, git_env, {"envc-render-check"})
    manifest = repo / "environments" / "serve" / "env.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(
        "schema_version: 1\nname: serve\npython:\n  user_managed_dependencies: true\n"
        "  interpreter_path: /usr/bin/python3\ndocker:\n  base_image: example.com/serve:1\n"
    )
    render = [str(Path(sys.executable).parent / "envc"), "render"]
    assert subprocess.run(render, cwd=repo, env=env, check=False).returncode == 0
    git(repo, env, "add", "-A")
    first = git(repo, env, "commit", "-q", "-m", "rendered")
    assert first.returncode == 0, first.stdout + first.stderr

    manifest.write_text(manifest.read_text().replace("serve:1", "serve:2"))
    git(repo, env, "add", "-A")
    rejected = git(repo, env, "commit", "-q", "-m", "not rendered again")
    assert rejected.returncode != 0
    assert "+FROM example.com/serve:2" in rejected.stdout + rejected.stderr

    assert subprocess.run(render, cwd=repo, env=env, check=False).returncode == 0
    git(repo, env, "add", "-A")
    accepted = git(repo, env, "commit", "-q", "-m", "rendered again")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
