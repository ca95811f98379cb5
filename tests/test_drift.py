"""Drift from the locks with the real solvers: envc outdated (what a relock moves, what a spec
holds back) and envc lock --upgrade --propose (the lock diff classified, the advisories it
fixes, a pull request body)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.audit.drift import Move, bump, classify, lock_diff
from compiler.lock.lockfiles import locked_explicit
from tests.conftest import RepoFactory, run_envc
from tests.test_audit import _advisories, _osv
from tests.test_lock import CHANNELS

WEB = (
    "schema_version: 1\nname: web\npython: '3.12'\nplatforms: [linux-64]\n"
    "conda: [requests <2.33, {spec}]\n"
)
CONFIG = f"config_version: 1\nmirrors:\n  conda-forge: {(CHANNELS / 'conda-forge').as_uri()}\n"


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("1.2.3", "1.2.4", "patch"),
        ("1.2.3", "1.3.0", "minor"),
        ("1.2", "1.2.1", "patch"),
        ("3.6", "3.18", "minor"),
        ("1.9.9", "2.0", "major"),
        ("2024.2.2", "2026.7.22", "major"),
        ("", "1.0", "added"),
        ("1.0", "", "removed"),
    ],
)
def test_classify(old: str, new: str, change: str) -> None:
    assert classify(old, new) == change


def test_bump_is_the_largest_change() -> None:
    assert bump([]) == "none"
    assert bump([Move("a", "1.0.0", "1.0.1", "patch"), Move("b", "", "1", "added")]) == "minor"
    assert bump([Move("a", "1.0.0", "1.0.1", "patch"), Move("b", "1", "", "removed")]) == "major"
    moves = lock_diff({"a": {"1.0"}, "b": {"2.0"}, "c": {"1"}}, {"a": {"1.1"}, "b": {"2.0"}})
    assert [(m.package, m.change) for m in moves] == [("a", "minor"), ("c", "removed")]


@pytest.fixture
def held(make_repo: RepoFactory) -> Path:
    """web locked with idna held at 3.6 by the locked version alone (the spec that pinned it
    is gone: a relock keeps what is locked where it can)."""
    root = make_repo(
        {"environments/web/env.yaml": WEB.format(spec="idna <3.7"), "envc.yaml": CONFIG}
    )
    assert run_envc(root, "lock").returncode == 0
    (root / "environments/web/env.yaml").write_text(WEB.format(spec="pip"))
    locked = run_envc(root, "lock")
    assert locked.returncode == 0, locked.stderr
    return root


def _versions(root: Path) -> dict[str, str]:
    folder = root / "environments" / "web"
    return {name: version for name, version, _ in locked_explicit(folder, "linux-64")}


def test_outdated_says_what_a_relock_moves_and_which_spec_holds_what_back(held: Path) -> None:
    before = {f: f.read_bytes() for f in (held / "environments/web").iterdir()}
    run = run_envc(held, "outdated", "--format", "json")
    assert run.returncode == 0, run.stderr
    found = {item["package"]: item for item in json.loads(run.stdout)["outdated"]}
    assert found["idna"]["locked"] == "3.6"
    assert found["idna"]["allowed"] == "3.18" and found["idna"]["held_by"] == ""
    requests = found["requests"]
    assert requests["allowed"] == requests["locked"] == _versions(held)["requests"]
    assert requests["newest"] == "2.34.2" and requests["held_by"] == "requests <2.33"
    assert "pip" not in found or found["pip"]["held_by"] == ""
    # nothing in the repository changed
    assert {f: f.read_bytes() for f in (held / "environments/web").iterdir()} == before
    text = run_envc(held, "outdated").stdout
    assert "web: idna 3.6 -> 3.18 (envc lock --upgrade web)" in text
    assert "2.34.2 is held back by requests <2.33" in text


def test_upgrade_relocks_and_proposes_with_the_advisories_it_fixes(
    held: Path, tmp_path: Path
) -> None:
    requests_before = _versions(held)["requests"]
    advisories = _advisories(
        tmp_path / "osv",
        [
            _osv(
                "GHSA-jjg7-2v4v-x38h",
                "idna",
                [{"introduced": "0"}, {"fixed": "3.7"}],
                database_specific={"severity": "MODERATE"},
            )
        ],
    )
    body = tmp_path / "pr.md"
    run = run_envc(
        held, "lock", "--upgrade", "--propose", str(body), "--advisories", str(advisories)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert _versions(held)["idna"] == "3.18"
    assert _versions(held)["requests"] == requests_before  # held by its spec
    assert "web: minor (" in run.stdout
    assert "  idna 3.6 -> 3.18 [minor]" in run.stdout
    assert "  fixes GHSA-jjg7-2v4v-x38h (idna)" in run.stdout
    markdown = body.read_text()
    assert "| web | minor |" in markdown and "GHSA-jjg7-2v4v-x38h (idna)" in markdown
    assert "| idna | 3.6 | 3.18 | minor |" in markdown
    assert run_envc(held, "lock", "--check").returncode == 0
    # upgraded already: a second run moves nothing
    again = run_envc(held, "lock", "--upgrade")
    assert "web: already at the newest allowed versions" in again.stdout


def test_upgrade_option_misuse_is_a_usage_error(held: Path) -> None:
    run = run_envc(held, "lock", "--propose", "x.md")
    assert run.returncode == 2 and "go with --upgrade" in run.stderr
    run = run_envc(held, "lock", "--upgrade", "--check")
    assert run.returncode == 2 and "not with --check" in run.stderr
