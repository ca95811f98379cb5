"""The rough edges a new user hit (issue 20), each reproduced as it was met: pipes, error
locations, options after the command, --update, references in Azure ML's spelling, git states,
archived content, abandoned render folders, exports and imports that said the wrong thing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler._util.git import FileRef
from compiler._util.git import Git as GitRepo
from compiler.cli import main
from compiler.errors import EXIT_BROKEN_PIPE, UsageError
from compiler.registry.sqlite import SqliteRegistry
from compiler.validate.repository import validate
from tests.conftest import PROJECT, Git, RepoFactory, run_envc
from tests.gitrepos import commit
from tests.test_lock import MIRRORS


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # `envc schema | head -0`: nobody will read
    with os.fdopen(write, "w") as closed:
        run = subprocess.run(
            [sys.executable, "-m", "compiler", "schema"],
            stdout=closed,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
            text=True,
        )
    assert (run.returncode, run.stderr) == (EXIT_BROKEN_PIPE, "")


def test_an_error_inside_python_settings_is_at_the_key_with_its_hint(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {"environments/x/env.yaml": "schema_version: 1\nname: x\npython:\n  version: 3.12\n"}
    )
    [problem] = validate(root=root, cwd=root).diagnostics
    assert (problem.line, problem.col, problem.rule) == (4, 12, "unquoted-value")
    assert problem.json_path == "$.python.version" and 'quote it: "3.12"' in problem.message
    root = make_repo(
        {"environments/x/env.yaml": "schema_version: 1\nname: x\npython:\n  versoin: '3.12'\n"}
    )
    [problem] = validate(root=root, cwd=root).diagnostics
    assert (problem.line, problem.json_path) == (4, "$.python.versoin")
    assert 'did you mean "version"' in problem.message


def test_a_bad_envc_yaml_is_one_located_line_and_exit_two(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/x/env.yaml": "schema_version: 1\nname: x\npython: '3.12'\n",
            "envc.yaml": "config_version: 1\nregistyr: sqlite:r.db\n",
        }
    )
    for command in (["validate"], ["lock", "--check"]):
        run = run_envc(root, *command)
        assert run.returncode == 2, command
        assert run.stderr == (
            'envc.yaml:2:1: error: unknown key "registyr" (did you mean "registry"?)\n'
        )


def test_common_options_go_before_or_after_the_command(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/x/env.yaml": "schema_version: 1\nname: x\npython: '3.12'\n"})
    quiet_after, quiet_before = run_envc(root, "validate", "-q"), run_envc(root, "-q", "validate")
    assert quiet_after.returncode == quiet_before.returncode == 0
    assert quiet_after.stderr == quiet_before.stderr == ""
    assert run_envc(root, "validate").stderr.endswith("1 manifest(s) valid\n")
    version = run_envc(root, "-V")
    assert version.returncode == 0 and version.stdout.startswith("envc, version ")
    for option in ("--no-progress", "--no-color", "--color", "-v"):
        assert run_envc(root, "validate", option).returncode == 0, option
    help_text = run_envc(root, "--help").stdout
    assert "_ENVC_COMPLETE=bash_source envc" in help_text


def test_update_names_what_moved_and_refuses_what_no_lock_pins(
    make_repo: RepoFactory,
) -> None:
    def manifest(numpy: str) -> str:
        return f"schema_version: 1\nname: ml\npython: '3.12'\nconda: ['{numpy}']\n"

    root = make_repo({"environments/ml/env.yaml": manifest("numpy <2.2")})
    mirror = ["--mirror", f"conda-forge={MIRRORS['https://conda.anaconda.org/conda-forge']}"]
    first = run_envc(root, "lock", *mirror)
    assert first.returncode == 0 and first.stdout == "ml: locked (first lock)\n", first.stderr
    old = re.search(r"numpy-([0-9.]+)-", (root / "environments/ml/conda-linux-64.lock").read_text())
    assert old is not None
    # The spec allows newer now; a relock keeps the locked numpy until it is asked to move.
    (root / "environments/ml/env.yaml").write_text(manifest("numpy"))
    kept = run_envc(root, "lock", *mirror)
    assert kept.stdout == "ml: locked (spec added: numpy; spec removed: numpy <2.2)\n"
    unknown = run_envc(root, "lock", "--update", "no-such-package", *mirror)
    assert unknown.returncode == 2
    assert "--update no-such-package: no lock of this repository pins it" in unknown.stderr
    moved = run_envc(root, "lock", "--update", "NumPy", *mirror)
    assert moved.returncode == 0, moved.stderr
    new = re.search(r"numpy-([0-9.]+)-", (root / "environments/ml/conda-linux-64.lock").read_text())
    assert new is not None and new.group(1) != old.group(1)
    assert moved.stdout == f"ml: locked (numpy {old.group(1)} -> {new.group(1)})\n"
    again = run_envc(root, "lock", "--update", "numpy", *mirror)
    assert again.stdout == f"ml: fresh (numpy {new.group(1)} is the newest allowed)\n"
    assert "[1/1] solving ml" in again.stderr  # progress counts what is solved


def test_references_in_azure_mls_spelling(repo: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["register", "--repo", str(repo)]).exit_code == 0
    for reference in ("other@1", "other:1", "azureml:other:1", "other:latest", "other@latest"):
        shown = runner.invoke(main, ["show", reference, "--repo", str(repo), "--format", "json"])
        assert shown.exit_code == 0, (reference, shown.output)
        assert '"version": 1' in shown.output, reference
    wrong = runner.invoke(main, ["show", "other@1x", "--repo", str(repo)])
    assert wrong.exit_code == 2
    assert "a version is a number, a label starts with a letter" in wrong.stderr


def test_listing_another_registry_needs_no_repository(repo: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(main, ["register", "--repo", str(repo)]).exit_code == 0
    elsewhere = tmp_path / "not-a-repository"
    elsewhere.mkdir()
    database = repo / ".envc" / "registry.db"
    listing = run_envc(elsewhere, "list", "--registry", f"sqlite:{database}")
    assert listing.returncode == 0, listing.stderr
    assert "other@1" in listing.stdout


def test_git_states_that_broke_plan_and_register(repo: Path, git: Git) -> None:
    git(repo, "mv", "environments/other", "environments/renamed")
    changed = GitRepo(repo).uncommitted(["environments"])
    assert changed == ["environments/other/env.yaml", "environments/renamed/env.yaml"]
    git(repo, "mv", "environments/renamed", "environments/other")
    # A repository nested in an environment folder (a checkout of a dependency) is not ours.
    nested = repo / "environments" / "slim" / "vendored"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "README").write_text("vendored\n")
    planned = CliRunner().invoke(main, ["plan", "--base", "HEAD", "--repo", str(repo)])
    assert planned.exit_code == 0, planned.output + planned.stderr
    missing = {"x": FileRef("100644", "0123456789abcdef0123456789abcdef01234567")}
    with pytest.raises(UsageError, match="missing from this clone"):
        GitRepo(repo).read(missing)


def test_a_committed_file_too_large_to_read_is_an_error_not_a_load(
    repo: Path, git: Git, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request that commits a huge file where a plan reads (an environment's folder)
    gets a finding that names it before git hands its bytes over, as a working-tree file does."""
    import compiler._util.git as git_module

    monkeypatch.setattr(git_module, "MAX_PLAN_FILE_BYTES", 4096)
    (repo / "environments/slim/data.bin").write_bytes(b"\0" * 5000)
    commit(git, repo, "a large file")
    planned = CliRunner().invoke(
        main, ["plan", "--base", "HEAD~1", "--head", "HEAD", "--repo", str(repo)]
    )
    assert planned.exit_code == 1, planned.output + planned.stderr
    assert "environments/slim/data.bin: file is larger than 4 KiB" in planned.stderr
    (repo / "environments/slim/data.bin").write_bytes(b"\0" * 4000)
    assert (
        CliRunner().invoke(main, ["plan", "--base", "HEAD~1", "--repo", str(repo)]).exit_code == 0
    )
    (repo / "environments/slim/data.bin").write_bytes(b"\0" * 5000)
    planned = CliRunner().invoke(main, ["plan", "--base", "HEAD~1", "--repo", str(repo)])
    assert planned.exit_code == 1 and "data.bin: file is larger than 4 KiB" in planned.stderr
    # A manifest over validation's limit is not parsed to find its name: the head's
    # validation reports it.
    monkeypatch.setattr(git_module, "MAX_PLAN_FILE_BYTES", 4 * 1024 * 1024)
    manifest = repo / "environments/slim/env.yaml"
    manifest.write_text(manifest.read_text() + "#" * (1024 * 1024) + "\n")
    (repo / "environments/slim/data.bin").unlink()
    planned = CliRunner().invoke(main, ["plan", "--base", "HEAD~1", "--repo", str(repo)])
    assert planned.exit_code == 1, planned.output + planned.stderr
    assert "environments/slim/env.yaml:1:1: error: file is larger than 1024 KiB" in planned.stderr


@pytest.mark.parametrize("at", ["", "platform/envs/"])
def test_uncommitted_paths_asked_in_bulk_are_those_asked_one_by_one(
    tmp_path: Path, git: Git, monkeypatch: pytest.MonkeyPatch, at: str
) -> None:
    """Registering many environments asks git about the whole root and filters (git matches
    every file against every path it is given); the answer is the one per-path asking gives,
    also when the envc root is a folder inside the work tree."""
    import compiler._util.git as git_module

    top = tmp_path / "work"
    root = top / at
    for name in ("a", "ab", "b", "c"):
        (root / "environments" / name).mkdir(parents=True)
        (root / "environments" / name / "env.yaml").write_text(f"name: {name}\n")
    (top / "elsewhere.txt").write_text("x\n")
    git(top, "init", "-q")
    commit(git, top, "environments")
    (root / "environments/a/env.yaml").write_text("name: a2\n")  # asked
    (root / "environments/ab/new.txt").write_text("new\n")  # untracked, not asked
    (root / "environments/b/env.yaml").unlink()  # asked
    (root / "environments/c/env.yaml").write_text("name: c2\n")  # not asked
    (root / "templates").mkdir()
    (root / "templates/Dockerfile.conda.j2").write_text("FROM x\n")  # asked
    (top / "elsewhere.txt").write_text("y\n")  # outside the root
    asked = ["environments/a", "environments/b", "templates", "envc.yaml"]
    one_by_one = GitRepo(root).uncommitted(asked)
    monkeypatch.setattr(git_module, "MAX_PATHSPECS", 1)
    assert (
        GitRepo(root).uncommitted(asked)
        == one_by_one
        == [
            f"{at}environments/a/env.yaml",
            f"{at}environments/b/env.yaml",
            f"{at}templates/Dockerfile.conda.j2",
        ]
    )


def test_archived_content_is_not_registered_again(repo: Path, git: Git) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["register", "other", "--repo", str(repo)]).exit_code == 0
    manifest = repo / "environments/other/env.yaml"
    original = manifest.read_text()
    manifest.write_text(original + "variables:\n  B: '2'\n")
    commit(git, repo, "other 2")
    assert runner.invoke(main, ["register", "other", "--repo", str(repo)]).exit_code == 0
    assert runner.invoke(main, ["archive", "other@2", "--repo", str(repo)]).exit_code == 0
    manifest.write_text(original)  # back to version 1's content: fine, it is live
    commit(git, repo, "back to 1")
    again = runner.invoke(main, ["register", "other", "--repo", str(repo)])
    assert again.exit_code == 0 and "other@1: already registered" in again.output
    manifest.write_text(original + "variables:\n  B: '2'\n")  # version 2's content: archived
    commit(git, repo, "back to 2")
    planned = runner.invoke(main, ["plan", "--base", "HEAD~1", "--repo", str(repo)])
    assert planned.exit_code == 1
    assert "which is archived: an archived version is never registered again" in (
        planned.output + planned.stderr
    )
    refused = runner.invoke(main, ["register", "--repo", str(repo)])
    assert refused.exit_code == 1 and "other@2, which is archived" in refused.stderr
    registry = SqliteRegistry(repo / ".envc" / "registry.db")
    assert {r.name for r in registry.versions()} == {"other"}  # all or nothing: none added
    registry.close()


def test_render_clears_what_a_killed_render_left(repo: Path) -> None:
    build = repo / "build"
    dead = 2**22 + 12345  # above pid_max on common kernels: no such process
    for leftover in (f".onhost.{dead}.new", f".onhost.{dead}.old"):
        (build / leftover).mkdir(parents=True)
        (build / leftover / "Dockerfile").write_text("FROM half-written\n")
    rendered = CliRunner().invoke(main, ["render", "onhost", "--repo", str(repo)])
    assert rendered.exit_code == 0, rendered.output
    assert sorted(p.name for p in build.iterdir()) == ["onhost"]


def test_build_says_what_it_did_for_an_environment_without_an_image(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # nothing to build: buildah is not needed
    built = CliRunner().invoke(main, ["build", "onhost", "--repo", str(repo)])
    assert built.exit_code == 0
    assert built.output == (
        "onhost: skipped: docker.enabled is false: no image; its install script is in "
        "build/onhost/\n"
    )


def test_exports_say_what_they_cannot_carry(repo: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for output_format in ("requirements", "conda-env"):
        exported = runner.invoke(
            main, ["export", "base", "--format", output_format, "--repo", str(repo)]
        )
        assert exported.exit_code == 1, output_format
        assert "base: has no packages to export (its dependencies are user-managed" in (
            exported.stderr
        )
    (repo / "environments/plain").mkdir()
    (repo / "environments/plain/env.yaml").write_text(
        "schema_version: 1\nname: plain\npython:\n  user_managed_dependencies: true\n"
        "docker:\n  base_image: example.com/runtime:1\n"
    )
    out = str(tmp_path / "v2")
    v2 = runner.invoke(
        main, ["export", "plain", "--format", "azureml-v2", "--out", out, "--repo", str(repo)]
    )
    assert v2.exit_code == 0, v2.output + v2.stderr
    assert "None" not in v2.stderr and "Azure ML v2 uses the image as it is" in v2.stderr


def test_an_asset_dockerfile_that_sets_conda_prefix_in_either_form(tmp_path: Path) -> None:
    from compiler.interop.azureml import import_azureml_asset

    for form in ("ENV CONDA_PREFIX /azureml-envs/x", "ENV A=1 CONDA_PREFIX=/azureml-envs/x"):
        folder = tmp_path / str(abs(hash(form)))
        (folder / "context").mkdir(parents=True)
        (folder / "asset.yaml").write_text("name: x\ntype: environment\n")
        (folder / "context" / "Dockerfile").write_text(f"FROM ubuntu:22.04\n{form}\n")
        imported = import_azureml_asset(folder)
        assert imported.manifest["python"]["interpreter_path"] == "/azureml-envs/x/bin/python"
        assert not any("CONDA_PREFIX" in note for note in imported.notes)


def test_import_all_skips_what_is_not_an_environment(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({})
    tree = tmp_path / "assets"
    (tree / "component").mkdir(parents=True)
    (tree / "component" / "asset.yaml").write_text("name: c\ntype: component\n")
    (tree / "locked").mkdir()
    (tree / "locked" / "conda-lock.yml").write_text("version: 1\nmetadata: {}\npackage: []\n")
    (tree / "env").mkdir()
    (tree / "env" / "environment.yml").write_text(
        "name: good\ndependencies:\n  - python=3.12\n  - numpy\n"
    )
    run = run_envc(root, "import", "--all", str(tree))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "good: imported from" in run.stdout
    assert "component: skipped: an azureml-assets component, not an environment" in run.stdout
    assert "conda-lock.yml: skipped: a conda-lock lockfile" in run.stdout
    assert "1 environment(s) imported, 0 not imported, 2 source(s) skipped" in run.stderr


def test_the_lock_check_hook_runs_when_envc_yaml_changes() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    [lock_check] = [hook for hook in hooks if hook["id"] == "envc-lock-check"]
    assert re.search(lock_check["files"], "envc.yaml")
    assert re.search(lock_check["files"], "environments/ml/env.yaml")
    assert not re.search(lock_check["files"], "README.md")


def test_every_outcome_command_prints_text_or_json(repo: Path) -> None:
    runner = CliRunner()
    for command in (["lock", "--check"], ["render"], ["plan", "--base", "HEAD"], ["list"]):
        args = [*command, "--repo", str(repo)]
        text = runner.invoke(main, [*args, "--format", "text"])
        assert text.exit_code == 0, (command, text.output)
        machine = runner.invoke(main, [*args, "--format", "json"])
        assert machine.exit_code == 0, (command, machine.output)
        assert isinstance(json.loads(machine.stdout), (list, dict)), command
    rendered = json.loads(
        runner.invoke(main, ["render", "--format", "json", "--repo", str(repo)]).stdout
    )
    assert {r["name"]: r["status"] for r in rendered}["other"] == "unchanged"
    assert all(r["address"].startswith("sha256:") for r in rendered)


def test_an_import_that_does_not_validate_leaves_nothing(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({})
    source = tmp_path / "environment.yml"
    source.write_text("name: broken\ndependencies:\n  - python=3.12\n  - numpy >=>1\n")
    refused = run_envc(root, "import", str(source))
    assert refused.returncode == 1 and "does not validate" in refused.stderr
    assert not (root / "environments" / "broken").exists()
    kept = run_envc(root, "import", str(source), "--keep-invalid")
    assert kept.returncode == 1 and (root / "environments/broken/env.yaml").is_file()


def test_lock_and_render_go_on_past_an_invalid_environment(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {
            "environments/good/env.yaml": (
                "schema_version: 1\nname: good\npython: '3.12'\nconda: [numpy]\n"
            ),
            "environments/bad/env.yaml": "schema_version: 1\nname: bad\npython: 3.12\n",
            "environments/child/env.yaml": "schema_version: 1\nname: child\nextends: bad\n",
        }
    )
    mirror = f"conda-forge={MIRRORS['https://conda.anaconda.org/conda-forge']}"
    locked = run_envc(root, "lock", "--mirror", mirror)
    assert locked.returncode == 1  # the invalid one is reported, and the rest is done
    assert "environments/bad/env.yaml:3:9: error:" in locked.stdout
    assert "good: locked (first lock)" in locked.stdout and "child" not in locked.stdout
    rendered = run_envc(root, "render")
    assert rendered.returncode == 1 and "good: rendered" in rendered.stdout
    named = run_envc(root, "lock", "bad", "--mirror", mirror)
    assert named.returncode == 1 and "good" not in named.stdout
