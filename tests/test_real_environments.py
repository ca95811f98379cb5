"""Every public environment definition in tests/data/real-environments, end to end: imported
(or refused with a specific message), validated, locked where the offline conda-forge snapshot
can lock it, and rendered into a build context that BuildKit's parser reads."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dockerfile
from click.testing import CliRunner

from compiler.cli import main
from compiler.interop.sources import REFUSED
from compiler.lock.pip import PipIndex
from compiler.lock.repository import lock_repository
from compiler.render.repository import render_repository
from compiler.validate.repository import validate
from tests.conftest import RepoFactory
from tests.test_lock import MIRRORS

REAL = Path(__file__).resolve().parent / "data" / "real-environments"


def test_every_real_environment_imports_locks_where_it_can_and_renders(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({})
    result = CliRunner().invoke(
        main,
        ["import", "--all", str(REAL), "--python", "3.12", "--keep-invalid", "--repo", str(root)],
    )
    reports = [
        line
        for line in result.output.splitlines()
        if not line.startswith("  ") and ": error: " not in line  # validation's, checked below
    ]
    refused = [line for line in reports if ": not imported: " in line or ": skipped: " in line]
    imported = [line for line in reports if ": imported from " in line]
    # + the two summaries (imports, then validation)
    assert len(imported) + len(refused) + 2 == len(reports), result.output
    reasons = (
        "a conda-lock lockfile",
        "not a conda environment file",
        "an explicit conda lock",
        "exists;",  # a second source for a folder's environment
        *REFUSED.values(),
    )
    for line in refused:  # each refusal says what the file is instead
        assert any(reason in line for reason in reasons), line
    assert len(refused) <= 12, refused
    report = validate(root=root, cwd=root)
    # The only findings: a public folder left out a file its Dockerfile copies, reported at the
    # COPY line (render refuses those environments too, below).
    for diagnostic in report.diagnostics:
        assert diagnostic.rule == "build-context", diagnostic
        assert diagnostic.path.endswith("/Dockerfile.base") and diagnostic.line > 1, diagnostic
        assert diagnostic.message.endswith("does not exist"), diagnostic
    assert len(report.manifests) == len(imported) >= 40

    no_wheels = tmp_path / "no-wheels"  # no pip index: a pip part cannot lock offline
    no_wheels.mkdir()
    # One run over all: an environment that cannot be locked offline is named, with why, and
    # the others are still locked.
    outcomes_ = lock_repository(
        root,
        mirrors=MIRRORS,
        pip_index=PipIndex(find_links=(str(no_wheels),)),
        manifests=report.manifests,
    )
    locked = {o.name for o in outcomes_ if o.status in ("locked", "skipped")}
    unlockable = {o.name: "; ".join(o.reasons) for o in outcomes_ if o.status == "failed"}
    assert len(locked) + len(unlockable) == len(report.manifests)
    offline = (
        "No candidates were found for",  # a package (version) the snapshot does not have
        "was not found in the provided package locations",  # no wheels offline
        "error sending request",  # a channel other than the snapshot's
        "cannot be installed because there are no viable options",
    )
    for name, why in unlockable.items():
        assert any(reason in why for reason in offline), (name, why)
    assert len(locked) >= 15, unlockable

    outcomes = {o.name: o for o in render_repository(root, report.manifests)}
    rendered = {name for name, o in outcomes.items() if o.status == "rendered"}
    for name in sorted(set(outcomes) - rendered):
        error = outcomes[name].error
        if name in unlockable:
            assert "the lock is stale (not locked yet)" in error, (name, error)
        else:  # the public folder left out a file its Dockerfile copies
            assert error.startswith(f"environments/{name}/") and "does not exist" in error
    assert rendered >= locked - {n for n, o in outcomes.items() if "does not exist" in o.error}
    for name in sorted(rendered):
        context = root / "build" / name
        if (context / "Dockerfile").is_file():
            assert dockerfile.parse_file(str(context / "Dockerfile"))
        else:
            for script in context.glob("install-*.sh"):
                assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
