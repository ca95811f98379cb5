"""`envc register`, `list`, `show`, `label`, `archive` on real git repositories, and the plan's
`reuse` of what is registered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from compiler.cli import main
from compiler.plan.plan import plan
from compiler.registry.sqlite import SqliteRegistry
from tests.conftest import RepoFactory
from tests.gitrepos import Git, commit, user_managed
from tests.test_plan import entry

runner = CliRunner()


def envc(root: Path, *args: str) -> Result:
    return runner.invoke(main, [*args, "--repo", str(root)])


def registered(root: Path, *args: str) -> dict[str, dict[str, object]]:
    result = envc(root, "register", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.output)}


def test_register_is_idempotent_and_records_the_commit(repo: Path, git: Git) -> None:
    first = registered(repo, "--image-prefix", "registry.example.com/envs/")
    assert set(first) == {"base", "child", "other", "gpu-old", "gpu-new", "slim", "onhost"}
    assert {r["version"] for r in first.values()} == {1} and all(
        r["created"] for r in first.values()
    )
    head = git(repo, "rev-parse", "HEAD")
    assert first["other"]["commit"] == head and first["other"]["author_time"].startswith("2026-")
    assert first["other"]["image"] == "registry.example.com/envs/other:1"
    assert first["onhost"]["image"] is None  # docker.enabled: false: no image
    again = registered(repo)
    assert not any(r["created"] for r in again.values())
    assert {n: r["content_address"] for n, r in again.items()} == {
        n: r["content_address"] for n, r in first.items()
    }


def test_a_changed_environment_gets_the_next_version_and_shows_with_its_manifest(
    repo: Path, git: Git
) -> None:
    registered(repo)
    manifest = repo / "environments/base/env.yaml"
    manifest.write_text(manifest.read_text().replace("A: '1'", "A: '2'"))
    dirty = envc(repo, "register", "base")
    assert dirty.exit_code == 2 and "uncommitted changes in" in dirty.output
    # --allow-dirty registers, but records no commit: HEAD does not hold what it registers.
    draft = registered(repo, "base", "--allow-dirty")
    assert draft["base"]["version"] == 2 and draft["base"]["commit"] is None
    commit(git, repo, "A=2")
    second = registered(repo, "base", "child", "--image-digest", "child=sha256:" + "ab" * 32)
    assert {n: (r["version"], r["created"]) for n, r in second.items()} == {
        "base": (2, False),  # the draft's content: the same version
        "child": (2, True),  # its parent changed
    }
    assert second["child"]["image_digest"] == "sha256:" + "ab" * 32
    shown = json.loads(envc(repo, "show", "child@2", "--format", "json").output)
    assert shown["manifest"]["variables"] == {"A": "2"} and shown["labels"] == ["latest"]
    text = envc(repo, "show", "child:latest").output
    assert "version: 2" in text and '"variables": {"A": "2"}' in text


def test_labels_archive_and_list(repo: Path) -> None:
    registered(repo)
    assert envc(repo, "label", "other@1", "prod").exit_code == 0
    listed = envc(repo, "list", "other").output.splitlines()
    assert listed[0].split()[:2] == ["VERSION", "LABELS"]
    assert listed[1].split()[:2] == ["other@1", "latest,prod"]
    assert envc(repo, "archive", "other@1").exit_code == 0
    assert envc(repo, "list", "other", "--format", "json").output.strip() == "[]"
    archived = json.loads(envc(repo, "list", "other", "--archived", "--format", "json").output)
    assert archived[0]["archived"] is True and "manifest" not in archived[0]
    missing = envc(repo, "show", "other@7")
    assert missing.exit_code == 1 and "other@7 is not registered" in missing.output
    assert envc(repo, "label", "other", "prod").exit_code == 2  # no version given


def test_register_takes_a_saved_plan(repo: Path, git: Git, tmp_path: Path) -> None:
    registered(repo)
    (repo / "environments/new").mkdir()
    (repo / "environments/new/env.yaml").write_text(user_managed("new"))
    commit(git, repo, "new")
    saved = tmp_path / "plan.json"
    saved.write_text(envc(repo, "plan", "--base", "HEAD~1", "--format", "json").output)
    assert set(registered(repo, "--plan", str(saved))) == {"new"}
    other = repo / "environments/other/env.yaml"
    other.write_text(other.read_text().replace("other:1", "other:2"))
    saved.write_text(envc(repo, "plan", "--base", "HEAD", "--format", "json").output)
    commit(git, repo, "other 2")
    other.write_text(other.read_text().replace("other:2", "other:3"))
    commit(git, repo, "other 3")
    moved = envc(repo, "register", "--plan", str(saved))
    assert moved.exit_code == 2 and "not the plan's head (other differ)" in moved.output


def test_plan_reuses_what_is_registered(repo: Path, git: Git) -> None:
    registered(repo)
    other = repo / "environments/other/env.yaml"
    original = other.read_text()
    other.write_text(original.replace("other:1", "other:2"))
    commit(git, repo, "other 2")
    registered(repo, "other")
    other.write_text(original)  # back to what version 1 was built from
    commit(git, repo, "revert")
    database = repo / ".envc/registry.db"
    reused = entry(plan(repo, "HEAD~1", registered=_lookup(database)), "other")
    assert (reused.status, reused.rebuild) == ("reuse", False)
    assert reused.notes[-1] == "registered as other@1"
    table = envc(repo, "plan", "--base", "HEAD~1").output
    assert table.splitlines()[1].split()[:2] == ["reuse", "other"]
    elsewhere = envc(repo, "plan", "--base", "HEAD~1", "--registry", "sqlite:empty.db")
    assert elsewhere.output.splitlines()[1].split()[:2] == ["changed", "other"]


def _lookup(database: Path) -> Callable[[list[tuple[str, str]]], list[tuple[int, bool] | None]]:
    registry = SqliteRegistry(database)

    def find(wanted: list[tuple[str, str]]) -> list[tuple[int, bool] | None]:
        found = registry.find_all(wanted)
        return [None if record is None else (record.version, record.archived) for record in found]

    return find


@pytest.fixture
def locked(make_repo: RepoFactory, git: Git) -> Path:
    """Two locked environments: an image, and one without Docker for two platforms."""
    from compiler.lock.repository import lock_repository
    from tests.test_lock import MIRRORS

    root = make_repo(
        {
            "environments/img/env.yaml": (
                "schema_version: 1\nname: img\npython: '3.12'\nconda: [numpy]\n"
                "platforms: [linux-64]\n"
            ),
            "environments/host/env.yaml": (
                "schema_version: 1\nname: host\npython: '3.12'\nconda: [numpy]\n"
                "platforms: [linux-64, osx-arm64]\ndocker:\n  enabled: false\n"
            ),
        }
    )
    assert {o.status for o in lock_repository(root, mirrors=MIRRORS)} == {"locked"}
    git(root, "init", "-q", "-b", "main")
    commit(git, root, "locked")
    return root


def test_the_sbom_is_kept_with_the_version_and_shown(locked: Path) -> None:
    registered(locked)
    assert envc(locked, "render").exit_code == 0
    shown = envc(locked, "show", "img@1", "--sbom")
    assert shown.exit_code == 0, shown.output
    assert shown.output == (locked / "build/img/sbom.cdx.json").read_text()
    assert json.loads(shown.output)["metadata"]["component"]["name"] == "img"
    several = envc(locked, "show", "host", "--sbom")
    assert several.exit_code == 2 and "pick one" in several.output
    picked = envc(locked, "show", "host", "--sbom", "sbom-osx-arm64.cdx.json")
    assert picked.exit_code == 0, picked.output
    assert picked.output == (locked / "build/host/sbom-osx-arm64.cdx.json").read_text()
    missing = envc(locked, "show", "host", "--sbom", "sbom-nope.cdx.json")
    assert missing.exit_code == 2 and "has no sbom-nope.cdx.json" in missing.output


def test_a_registry_of_the_first_schema_is_migrated_and_filled_in(locked: Path) -> None:
    import sqlite3

    from compiler.registry.sqlite import _SCHEMA

    database = locked / ".envc" / "registry.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(database)
    for statement in _SCHEMA:
        connection.execute(statement)
    connection.execute("PRAGMA user_version = 1")
    connection.commit()
    connection.close()
    registered(locked)
    # what envc registered before it kept SBOMs: a version, and no SBOM
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM sboms WHERE name = 'img'")
    assert envc(locked, "show", "img", "--sbom").exit_code == 1
    again = registered(locked)
    assert not again["img"]["created"]
    assert envc(locked, "show", "img", "--sbom").exit_code == 0
    registry = SqliteRegistry(database)
    assert list(registry.sboms("img", 1)) == ["sbom.cdx.json"]
    registry.close()


# The heads of a repository rendered by two forked workers, in a process of its own (this one
# may hold threads): each environment's address and every file of its build context.
HEADS_IN_WORKERS = """
import hashlib, json, sys
from pathlib import Path
import compiler._util.processes as processes
from compiler.registry.register import render_heads
from compiler.validate.repository import validate

root = Path(sys.argv[1])
if sys.argv[2] == "workers":
    processes.FORKED_FROM = 2
    processes.worker_count = lambda: 2
manifests = validate(root=root).manifests
heads = render_heads(root, manifests, sorted(manifests))

def digest(content):
    return hashlib.sha256(content if isinstance(content, bytes) else content.encode()).hexdigest()

contexts = {
    name: [head.address.digest, {file: digest(c) for file, c in head.files.items()}]
    for name, head in heads.items()
}
print(json.dumps(contexts, sort_keys=True))
"""


def test_heads_rendered_by_workers_are_what_one_process_renders(locked: Path) -> None:
    """register renders many environments in worker processes: the same addresses and build
    contexts (SBOMs included, which registries keep) as one process."""
    import os
    import subprocess
    import sys

    from tests.conftest import PROJECT

    def heads(mode: str) -> object:
        result = subprocess.run(
            [sys.executable, "-c", HEADS_IN_WORKERS, locked, mode],
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout)

    alone = heads("alone")
    assert set(alone) == {"img", "host"}  # type: ignore[arg-type]
    assert "sbom-osx-arm64.cdx.json" in alone["host"][1]  # type: ignore[index]
    assert heads("workers") == alone
