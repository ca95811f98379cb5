"""`envc ci` on real git repositories: every step in one report, in both modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from compiler.cli import main
from compiler.registry.sqlite import SqliteRegistry
from tests.gitrepos import Git, commit, pip_only


def ci(repo: Path, tmp_path: Path, *args: str) -> tuple[Result, dict[str, object]]:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["ci", "--report", str(report), "--repo", str(repo), *args])
    return result, json.loads(report.read_text())


def steps(report: dict[str, object]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in report["steps"]}  # type: ignore[attr-defined, index]


def change_other(repo: Path, git: Git) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    other = repo / "environments/other/env.yaml"
    other.write_text(other.read_text().replace("other:1", "other:2"))
    commit(git, repo, "other 2")


def test_pull_request_mode_plans_and_renders_what_changed(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    change_other(repo, git)
    summary = tmp_path / "summary.md"
    result, report = ci(repo, tmp_path, "--base", "main", "--summary", str(summary))
    assert result.exit_code == 0, result.output
    assert report["passed"] is True and report["mode"] == "pull-request"
    assert steps(report) == {
        "validate": "passed",
        "locks": "passed",
        "plan": "passed",
        "render": "passed",
    }
    planned = {e["name"]: e["status"] for e in report["plan"]["environments"]}  # type: ignore[index]
    assert planned["other"] == "changed" and planned["base"] == "unchanged"
    assert (repo / "build/other/Dockerfile").is_file() and not (repo / "build/base").exists()
    bake = json.loads((repo / "build/docker-bake.json").read_text())
    assert list(bake["target"]) == ["other"]
    text = summary.read_text()
    assert "## envc ci (pull-request): passed" in text and "| changed | `other` |" in text


def test_a_pull_request_that_changes_no_environment_passes_with_nothing_to_build(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "README.md").write_text("docs only\n")
    commit(git, repo, "docs")
    result, report = ci(repo, tmp_path, "--base", "main")
    assert result.exit_code == 0, result.output
    assert steps(report)["render"] == "passed" and report["passed"] is True
    assert json.loads((repo / "build/docker-bake.json").read_text())["target"] == {}


def test_an_invalid_manifest_fails_the_job_and_skips_what_depends_on_it(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    (repo / "environments/other/env.yaml").write_text(
        "schema_version: 1\nname: other\nconda: [3]\n"
    )
    result, report = ci(repo, tmp_path, "--base", "HEAD")
    assert result.exit_code == 1 and report["passed"] is False
    assert steps(report) == {
        "validate": "failed",
        "locks": "skipped",
        "plan": "skipped",
        "render": "skipped",
    }
    assert "environments/other/env.yaml:3:" in result.output


def test_a_stale_lock_fails_the_job(repo: Path, git: Git, tmp_path: Path) -> None:
    (repo / "environments/slim/env.yaml").write_text(pip_only("slim") + "pip: [alpha]\n")
    result, report = ci(repo, tmp_path, "--base", "HEAD")
    assert result.exit_code == 1
    assert steps(report)["locks"] == "failed" and steps(report)["plan"] == "skipped"
    assert "slim: stale: not locked yet" in result.output


def test_main_mode_registers_what_the_plan_builds_and_reruns_idempotently(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    change_other(repo, git)
    options = ["--main", "--no-build", "--base", "main"]
    result, report = ci(repo, tmp_path, *options)
    assert result.exit_code == 0, result.output
    assert steps(report)["build"] == "skipped" and steps(report)["register"] == "passed"
    registered = {(r["name"], r["version"], r["created"]) for r in report["registered"]}  # type: ignore[index]
    # A registry new to the repository gets every environment, not only what the diff reaches.
    everything = {p.parent.name for p in (repo / "environments").glob("*/env.yaml")}
    assert registered == {(name, 1, True) for name in everything} and "other" in everything
    # Re-run: the plan finds the address registered, so there is nothing to build or register.
    _, again = ci(repo, tmp_path, *options)
    planned = {e["name"]: e["status"] for e in again["plan"]["environments"]}  # type: ignore[index]
    assert planned["other"] == "reuse" and again["registered"] == []


def test_main_mode_with_the_registry_gone_reports_it(repo: Path, git: Git, tmp_path: Path) -> None:
    change_other(repo, git)
    gone = ["--registry", "oci://127.0.0.1:9/envs", "--plain-http"]
    result, report = ci(repo, tmp_path, "--main", "--no-build", "--base", "main", *gone)
    assert result.exit_code == 1
    assert steps(report)["register"] == "failed" and report["registered"] == []
    assert "cannot reach the registry" in result.output


def test_two_jobs_at_once_on_one_repository_register_each_version_once(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    change_other(repo, git)
    base = repo / "environments/base/env.yaml"
    base.write_text(base.read_text().replace("A: '1'", "A: '2'"))
    commit(git, repo, "base A=2")
    envc = str(Path(sys.executable).parent / "envc")
    jobs = [
        subprocess.Popen(
            [
                envc,
                "ci",
                "--main",
                "--no-build",
                "--base",
                "main",
                "--repo",
                str(repo),
                "--report",
                str(tmp_path / f"report-{n}.json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(2)
    ]
    for job in jobs:
        output, _ = job.communicate(timeout=300)
        assert job.returncode == 0, output
    reports = [json.loads((tmp_path / f"report-{n}.json").read_text()) for n in range(2)]
    given = {
        (r["name"], r["version"], r["content_address"])
        for report in reports
        for r in report["registered"]
    }
    # Both jobs planned the same three environments, and found the (new) registry lacking
    # the rest; each environment got exactly one version.
    everything = sorted(p.parent.name for p in (repo / "environments").glob("*/env.yaml"))
    assert sorted((name, version) for name, version, _ in given) == [(n, 1) for n in everything]
    registry = SqliteRegistry(repo / ".envc/registry.db")
    assert len(registry.versions()) == len(everything) == 7
    assert (repo / "build/other/Dockerfile").is_file()  # contexts written whole by one of them


def test_a_registry_committed_by_a_pull_request_is_refused_not_believed(
    repo: Path, git: Git, tmp_path: Path
) -> None:
    """A pull request that commits .envc/registry.db holding its own head's versions would make
    the plan say "reuse" (nothing to build, nothing to review) and, once merged, be the registry
    the main job writes to. A registry is shared state, never source: a tracked one is refused."""
    change_other(repo, git)
    registered = CliRunner().invoke(main, ["register", "--repo", str(repo)])
    assert registered.exit_code == 0, registered.output
    git(repo, "add", "-f", ".envc/registry.db")
    commit(git, repo, "other 2, already registered")
    report = tmp_path / "report.json"
    arguments = ["ci", "--base", "main", "--report", str(report), "--repo", str(repo)]
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, (result.output, report.exists() and report.read_text())
    assert ".envc/registry.db is tracked by git" in result.output
    for command in (["plan", "--base", "main"], ["register"], ["label", "other@1", "prod"]):
        refused = CliRunner().invoke(main, [*command, "--repo", str(repo)])
        assert refused.exit_code == 2 and "is tracked by git" in refused.output, refused.output
    git(repo, "rm", "-q", "--cached", ".envc/registry.db")
    commit(git, repo, "the registry out of git")
    listed = CliRunner().invoke(main, ["list", "--repo", str(repo)])
    assert listed.exit_code == 0 and "other" in listed.output, listed.output
