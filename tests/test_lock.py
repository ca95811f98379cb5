"""Locking with the real solver against real conda-forge metadata copied into tests/data/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.errors import UsageError
from compiler.lock import repository as lock_stage
from compiler.lock.inputs import CONDA_LOCK_FILE
from compiler.lock.repository import lock_repository
from tests.conftest import RepoFactory

CHANNELS = Path(__file__).resolve().parent / "data" / "channels"
MIRRORS = {
    "https://conda.anaconda.org/conda-forge": (CHANNELS / "conda-forge").as_uri(),
    "https://conda.anaconda.org/pytorch": (CHANNELS / "pytorch").as_uri(),
}
ML = (
    "schema_version: 1\nname: ml\npython: '3.12'\n"
    "conda: [numpy, pandas, scikit-learn, pip]\nplatforms: [linux-64, osx-arm64]\n"
)


@pytest.fixture
def ml_repo(make_repo: RepoFactory) -> Path:
    return make_repo({"environments/ml/env.yaml": ML})


def folder(root: Path) -> Path:
    return root / "environments" / "ml"


def test_lock_writes_conda_lock_and_explicit_files_readable_by_conda_lock(ml_repo: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    (outcome,) = lock_repository(ml_repo, mirrors=MIRRORS)
    assert outcome.status == "locked"
    parsed = parse_conda_lock_file(folder(ml_repo) / CONDA_LOCK_FILE)
    names = {(p.name, p.platform) for p in parsed.package}
    for name in ("python", "numpy", "pandas", "scikit-learn", "pip"):
        assert (name, "linux-64") in names and (name, "osx-arm64") in names
    python = next(p for p in parsed.package if p.name == "python" and p.platform == "linux-64")
    assert python.version.startswith("3.12.")
    assert python.url.startswith("https://conda.anaconda.org/conda-forge/linux-64/python-3.12")
    assert python.hash.md5 and python.hash.sha256
    explicit = (folder(ml_repo) / "conda-linux-64.lock").read_text()
    lines = explicit.splitlines()
    assert "@EXPLICIT" in lines
    urls = lines[lines.index("@EXPLICIT") + 1 :]
    assert urls and all(u.startswith("https://conda.anaconda.org/conda-forge/") for u in urls)
    assert all("#" in u and len(u.rsplit("#", 1)[1]) == 32 for u in urls)
    # the mirror the solve read from is never recorded
    for file in folder(ml_repo).iterdir():
        assert "file://" not in file.read_text()


def test_fresh_lock_is_neither_solved_nor_rewritten(
    ml_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock_repository(ml_repo, mirrors=MIRRORS)
    before = {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in folder(ml_repo).iterdir()}

    def no_solve(*args: object, **kwargs: object) -> object:
        raise AssertionError("a fresh lock must not be solved")

    monkeypatch.setattr(lock_stage, "solve_in_child", no_solve)
    # a comment and key order do not change the inputs
    manifest = folder(ml_repo) / "env.yaml"
    lines = manifest.read_text().splitlines()
    manifest.write_text("# reordered\n" + "\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    (outcome,) = lock_repository(ml_repo, mirrors=MIRRORS)
    assert outcome.status == "fresh"
    after = {
        f.name: (f.read_bytes(), f.stat().st_mtime_ns)
        for f in folder(ml_repo).iterdir()
        if f.name != "env.yaml"
    }
    assert after == {k: v for k, v in before.items() if k != "env.yaml"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            (
                "conda: [numpy, pandas, scikit-learn, pip]",
                "conda: [numpy, pandas, scikit-learn, pip, scipy]",
            ),
            "spec added: scipy",
        ),
        (("python: '3.12'", "python: '3.11'"), "spec added: python 3.11.*"),
        (
            ("platforms: [linux-64, osx-arm64]", "platforms: [linux-64, osx-arm64, win-64]"),
            "platform added: win-64",
        ),
        (
            ("name: ml\n", "name: ml\nchannels: [conda-forge, pytorch]\n"),
            "channel added: https://conda.anaconda.org/pytorch",
        ),
    ],
)
def test_check_names_why_a_lock_is_stale_without_solving(
    ml_repo: Path, monkeypatch: pytest.MonkeyPatch, change: tuple[str, str], reason: str
) -> None:
    lock_repository(ml_repo, mirrors=MIRRORS)
    manifest = folder(ml_repo) / "env.yaml"
    manifest.write_text(manifest.read_text().replace(*change))
    monkeypatch.setattr(lock_stage, "solve_in_child", None)  # calling it would fail
    (outcome,) = lock_repository(ml_repo, check=True)
    assert outcome.status == "stale"
    assert reason in outcome.reasons


def test_check_catches_a_hand_edited_lock(ml_repo: Path) -> None:
    lock_repository(ml_repo, mirrors=MIRRORS)
    manifest = folder(ml_repo) / "env.yaml"
    manifest.write_text(manifest.read_text().replace("numpy,", "numpy >=2,"))
    lock_repository(ml_repo, mirrors=MIRRORS)
    lock_file = folder(ml_repo) / CONDA_LOCK_FILE
    text = lock_file.read_text()
    lock_file.write_text(_downgrade_numpy(text))
    (outcome,) = lock_repository(ml_repo, check=True)
    assert outcome.status == "stale"
    assert any("no locked package satisfies 'numpy >=2'" in r for r in outcome.reasons)


def _downgrade_numpy(text: str) -> str:
    """Set every locked numpy's version to 1.0 (what a careless hand edit does)."""
    out, in_numpy = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("- "):
            in_numpy = False
        if line.strip() == "name: numpy":
            in_numpy = True
        if in_numpy and line.startswith("  version: "):
            line = "  version: 1.0.0\n"
        out.append(line)
    return "".join(out)


def test_unsatisfiable_specs_explain_and_write_nothing(make_repo: RepoFactory) -> None:
    root = make_repo(
        {
            "environments/ml/env.yaml": ML.replace("numpy,", "numpy <1,"),
            "environments/zz/env.yaml": ML.replace("name: ml", "name: zz"),
        }
    )
    failed, locked = lock_repository(root, mirrors=MIRRORS)
    assert failed.status == "failed" and "numpy <1" in failed.reasons[0]
    assert sorted(p.name for p in folder(root).iterdir()) == ["env.yaml"]
    assert locked.status == "locked"  # one environment's failure does not stop the others


def test_pytorch_channel_alone_is_unsatisfiable_with_the_solvers_reason(
    make_repo: RepoFactory,
) -> None:
    root = make_repo(
        {
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\n"
            "channels: [pytorch]\nconda: [pytorch 2.1.*]\n"
        }
    )
    (outcome,) = lock_repository(root, mirrors=MIRRORS)
    assert outcome.status == "failed"
    assert "pytorch" in outcome.reasons[0]


def test_gpu_environments_solve_with_the_cuda_virtual_package(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/ml/env.yaml": ML + "docker:\n  compute: gpu\n  cuda: '12.4'\n"})
    lock_repository(root, mirrors=MIRRORS)
    text = (folder(root) / CONDA_LOCK_FILE).read_text()
    assert '["__cuda","12.4","0"]' in text


def envc_lock(
    root: Path, *args: str, seed: str = "0", options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PYTHONHASHSEED=seed,
        ENVC_MIRRORS=" ".join(f"{k}={v}" for k, v in MIRRORS.items()),
    )
    envc = str(Path(sys.executable).parent / "envc")
    return subprocess.run(
        [envc, *options, "lock", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_lock_is_byte_stable_and_never_crashes_at_exit(ml_repo: Path) -> None:
    """py-rattler can crash while the interpreter exits; the solve runs in a child process that
    leaves with os._exit, so repeated runs always exit 0 with identical files."""
    outputs = set()
    for run in range(8):
        result = envc_lock(ml_repo, "--force", seed=str(run))
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.add(tuple(f.read_bytes() for f in sorted(folder(ml_repo).iterdir())))
    assert len(outputs) == 1


def test_cli_check_exit_codes(ml_repo: Path) -> None:
    assert envc_lock(ml_repo, "--check").returncode == 1
    assert envc_lock(ml_repo).returncode == 0
    fresh = envc_lock(ml_repo, "--check")
    assert (fresh.returncode, fresh.stdout) == (0, "ml: fresh\n")
    unknown = envc_lock(ml_repo, "nope")
    assert unknown.returncode == 2 and "no environment named nope" in unknown.stderr


def test_progress_lines_in_logs_and_quiet_and_verbose_output(ml_repo: Path) -> None:
    plain = envc_lock(ml_repo, "--force")
    assert plain.returncode == 0
    line = r"^envc lock: \[1/1\] solving ml \(started at \d+\.\d s\)$"
    assert re.search(line, plain.stderr, re.M)
    assert plain.stdout.startswith("ml: locked")
    quiet = envc_lock(ml_repo, "--force", options=("--quiet",))
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    verbose = envc_lock(ml_repo, "--force", options=("--verbose",))
    assert "envc: compiler.lock.repository: ml: locked in " in verbose.stderr
    manifest = ml_repo / "environments/ml/env.yaml"
    manifest.write_text(manifest.read_text().replace("numpy", "numpy, scipy"))
    stale = envc_lock(ml_repo, "--check", options=("-q",))
    assert (stale.returncode, stale.stdout) == (1, "ml: stale: spec added: scipy\n")


def test_a_terminal_gets_a_progress_bar() -> None:
    import io

    from compiler._util.progress import Reporter

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    with Reporter("build", stream=screen) as progress:
        progress("alpha", 0, 2)
        progress("beta", 1, 2)
    drawn = screen.getvalue()
    assert "build: beta" in drawn and "1/2" in drawn
    assert "\x1b[" in drawn  # drawn with terminal control sequences, then cleared
    assert "envc build: [" not in drawn  # not the plain log lines


def test_unreachable_channel_is_an_environment_error(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo({"environments/ml/env.yaml": ML})
    env = dict(os.environ, ENVC_MIRRORS=f"conda-forge={(tmp_path / 'gone').as_uri()}")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "envc"), "lock"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    # The environment is named, with why; the run goes on to the others (exit 1 at the end).
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("ml: failed: solving for linux-64 failed")
    assert sorted(p.name for p in folder(root).iterdir()) == ["env.yaml"]


def test_repodata_with_null_depends_loads(make_repo: RepoFactory) -> None:
    nulls = CHANNELS / "numpy-with-nulls"
    assert b'"depends": null' in (nulls / "linux-64" / "repodata.json").read_bytes()
    root = make_repo(
        {
            "environments/ml/env.yaml": "schema_version: 1\nname: ml\n"
            "conda: [python 3.12.*, numpy 1.26.*]\n"
        }
    )
    (outcome,) = lock_repository(
        root, mirrors={"https://conda.anaconda.org/conda-forge": nulls.as_uri()}
    )
    assert outcome.status == "locked"
    explicit = (folder(root) / "conda-linux-64.lock").read_text()
    assert "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.4-" in explicit
    assert "file://" not in explicit


def test_check_catches_edited_and_missing_explicit_files(ml_repo: Path) -> None:
    lock_repository(ml_repo, mirrors=MIRRORS)
    explicit = folder(ml_repo) / "conda-linux-64.lock"
    text = explicit.read_text()
    md5 = text.split("#")[-1].strip()
    explicit.write_text(text.replace(md5, "0" * 32))
    (outcome,) = lock_repository(ml_repo, check=True)
    assert outcome.reasons[-1] == "conda-linux-64.lock was edited by hand"
    # what changed is read off the files: the two conda formats now disagree
    assert any(
        r.startswith("environments/ml/conda-lock.yml:1: linux-64: disagrees")
        for r in outcome.reasons
    )
    (folder(ml_repo) / "conda-osx-arm64.lock").unlink()
    (outcome,) = lock_repository(ml_repo, check=True)
    assert "conda-osx-arm64.lock is missing" in outcome.reasons
    (outcome,) = lock_repository(ml_repo, mirrors=MIRRORS)  # relocking repairs both
    assert outcome.status == "locked"
    assert lock_repository(ml_repo, check=True)[0].status == "fresh"


def test_killed_lock_leaves_every_lockfile_whole(ml_repo: Path) -> None:
    """kill -9 at random moments while relocking: each file is the old or the new one, whole;
    afterwards --check tells the truth and a rerun completes."""
    import random
    import signal
    import time

    lock_repository(ml_repo, mirrors=MIRRORS)
    manifest = folder(ml_repo) / "env.yaml"
    rng = random.Random(7)
    envc = str(Path(sys.executable).parent / "envc")
    env = dict(os.environ, ENVC_MIRRORS=" ".join(f"{k}={v}" for k, v in MIRRORS.items()))
    for attempt in range(6):
        manifest.write_text(ML.replace("pip]", f"pip, python-dateutil >=2.{attempt}]"))
        process = subprocess.Popen(
            [envc, "lock"],
            cwd=ml_repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        for file in folder(ml_repo).glob("conda*"):
            text = file.read_text()
            assert text.startswith("# Generated by envc") and text.endswith("\n"), file
        (outcome,) = lock_repository(ml_repo, check=True)
        assert outcome.status in ("fresh", "stale")
    lock_repository(ml_repo, mirrors=MIRRORS)
    assert lock_repository(ml_repo, check=True)[0].status == "fresh"
    assert not list(folder(ml_repo).glob(".*.tmp"))  # what the killed runs left is gone


def locked_version(root: Path, package: str) -> str:
    text = (folder(root) / "conda-linux-64.lock").read_text()
    line = next(u for u in text.splitlines() if f"/{package}-" in u)
    return line.rsplit("/", 1)[1].split("-")[1]


def test_relocking_keeps_locked_versions_and_update_moves_one_package(
    make_repo: RepoFactory,
) -> None:
    pinned = "schema_version: 1\nname: ml\nconda: [python 3.12.*, numpy <2, pip]\n"
    root = make_repo({"environments/ml/env.yaml": pinned})
    lock_repository(root, mirrors=MIRRORS)
    first_numpy, first_pip = locked_version(root, "numpy"), locked_version(root, "pip")
    assert first_numpy.startswith("1.")
    # the bound goes away: the lock is stale, but relocking keeps what was locked
    (folder(root) / "env.yaml").write_text(pinned.replace("numpy <2", "numpy"))
    (outcome,) = lock_repository(root, mirrors=MIRRORS)
    assert outcome.status == "locked"
    assert locked_version(root, "numpy") == first_numpy
    # --update moves just that package
    (outcome,) = lock_repository(root, update=["numpy"], mirrors=MIRRORS)
    assert locked_version(root, "numpy").startswith("2.")
    assert outcome.reasons == (f"numpy {first_numpy} -> {locked_version(root, 'numpy')}",)
    assert locked_version(root, "pip") == first_pip
    # an update of a package no lock pins is a mistake worth saying (a typo, a wrong name)
    with pytest.raises(UsageError, match="--update scipy: no lock of this repository pins it"):
        lock_repository(root, update=["scipy"], mirrors=MIRRORS)


def test_validate_locks_fails_on_stale_locks(ml_repo: Path) -> None:
    envc = str(Path(sys.executable).parent / "envc")
    stale = subprocess.run(
        [envc, "validate", "--locks"], cwd=ml_repo, capture_output=True, text=True, check=False
    )
    assert (stale.returncode, stale.stdout) == (1, "ml: stale: not locked yet\n")
    lock_repository(ml_repo, mirrors=MIRRORS)
    fresh = subprocess.run(
        [envc, "validate", "--locks"], cwd=ml_repo, capture_output=True, text=True, check=False
    )
    assert (fresh.returncode, fresh.stdout) == (0, "")


def test_one_unreachable_channel_fails_its_environment_only(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    root = make_repo(
        {
            "environments/ml/env.yaml": ML,
            "environments/private/env.yaml": (
                "schema_version: 1\nname: private\npython: '3.12'\nchannels: [internal]\n"
                "conda: [numpy]\n"
            ),
        }
    )
    mirrors = {**MIRRORS, "https://conda.anaconda.org/internal": (tmp_path / "gone").as_uri()}
    outcomes = {o.name: o for o in lock_repository(root, mirrors=mirrors)}
    assert outcomes["ml"].status == "locked"
    assert outcomes["private"].status == "failed"
    assert "solving for linux-64 failed" in outcomes["private"].reasons[0]
