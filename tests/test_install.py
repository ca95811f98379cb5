"""envc install / run / shell: an environment created from its committed lock with py-rattler's
installer and uv, from a local channel of packages built and indexed here and a local folder of
wheels; hashes checked, stale locks refused, a second install does nothing."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from compiler._util.cache import tools_cache
from compiler.lock.lockfiles import locked_explicit, locked_pip
from compiler.lock.pip import write_wheel
from tests.condapkg import (
    PYTHON_VERSION,
    SITE_PACKAGES,
    build_package,
    index_channel,
    module_package,
    python_package,
)
from tests.conftest import RepoFactory, run_envc
from tests.local_http import serving

MANIFEST = (
    "schema_version: 1\nname: app\n"
    f"python: '{PYTHON_VERSION}'\n"
    "platforms: [linux-64]\nconda: [numpy <2]\npip: [alpha]\n"
    "variables:\n  GREETING: hello $USER; world\n"
)
PROBE = (
    "import importlib.metadata as m, os, sys, numpy; "
    "print(sys.prefix, numpy.__version__, m.version('alpha'), os.environ['GREETING'])"
)


@pytest.fixture
def repo(make_repo: RepoFactory, tmp_path: Path) -> Path:
    channel = tmp_path / "channel"
    python_package(channel)
    module_package(channel, "numpy", "1.26.4", depends=["python"])
    module_package(channel, "numpy", "2.0.1", depends=["python"])
    index_channel(channel)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    write_wheel(wheels, "alpha", "1.0")
    root = make_repo(
        {
            "environments/app/env.yaml": MANIFEST,
            "envc.yaml": (
                f"config_version: 1\nmirrors:\n  conda-forge: {channel.as_uri()}\n"
                f"pip:\n  find_links: [{wheels}]\n"
            ),
        }
    )
    locked = run_envc(root, "lock")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    return root


def _locked_versions(root: Path) -> tuple[str, str]:
    folder = root / "environments" / "app"
    numpy = next(v for n, v, _ in locked_explicit(folder, "linux-64") if n == "numpy")
    body, _ = locked_pip(folder, "linux-64")
    alpha = next(line for line in body.splitlines() if line.startswith("alpha=="))
    return numpy, alpha.split("==")[1].split()[0]


def test_install_then_run_gives_the_locked_versions_and_variables(
    repo: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    installed = run_envc(repo, "install", "app", "--prefix", str(prefix))
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert f"app: installed (2 conda, 1 pip package(s)) in {prefix}" in installed.stdout
    ran = run_envc(repo, "run", "app", "--prefix", str(prefix), "--", "python", "-c", PROBE)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    numpy, alpha = _locked_versions(repo)
    assert ran.stdout.split() == [str(prefix), numpy, alpha, "hello", "$USER;", "world"]
    assert numpy == "1.26.4"
    # where conda activate finds the variables
    state = json.loads((prefix / "conda-meta/state").read_text())
    assert state["env_vars"] == {"GREETING": "hello $USER; world"}
    script = (prefix / "etc/conda/activate.d/envc-variables.sh").read_text()
    assert "export GREETING='hello $USER; world'" in script
    # the exit code is passed through
    failing = run_envc(
        repo, "run", "app", "--prefix", str(prefix), "--", "python", "-c", "raise SystemExit(7)"
    )
    assert failing.returncode == 7


def test_a_second_install_does_nothing(repo: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    assert run_envc(repo, "install", "app", "--prefix", str(prefix)).returncode == 0
    record = prefix / "conda-meta/envc-install.json"
    before = {p: p.stat().st_mtime_ns for p in prefix.rglob("*") if p.is_file()}
    time.sleep(0.01)
    again = run_envc(repo, "install", "app", "--prefix", str(prefix))
    assert again.returncode == 0 and "app: unchanged" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in prefix.rglob("*") if p.is_file()} == before
    # a changed lock installs again; a removed record means "not installed"
    record.unlink()
    redo = run_envc(repo, "install", "app", "--prefix", str(prefix))
    assert "app: installed" in redo.stdout and record.is_file()


def test_the_default_prefix_and_run_installs_first(repo: Path) -> None:
    ran = run_envc(repo, "run", "app", "--", "python", "-c", PROBE)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split()[0] == str(repo / ".envc/envs/app")


def _tamper(archive: Path, tmp_path: Path) -> None:
    """Put a package of the same name and version, other bytes, in place of `archive` (a
    compromised mirror)."""
    build_package(
        tmp_path / "evil",
        "numpy",
        "1.26.4",
        {f"{SITE_PACKAGES}/numpy/__init__.py": "import os  # anything at all\n"},
        depends=["python"],
    )
    shutil.copy(next((tmp_path / "evil/linux-64").glob("*.tar.bz2")), archive)


def test_a_tampered_package_or_wheel_is_refused(repo: Path, tmp_path: Path) -> None:
    config = (repo / "envc.yaml").read_text()
    channel = Path(config.split("file://")[1].split("\n")[0])
    archive = next((channel / "linux-64").glob("numpy-1.26.4-*.tar.bz2"))
    good = archive.read_bytes()
    # Same name, other bytes (a compromised mirror): the lock's SHA-256 refuses it.
    _tamper(archive, tmp_path)
    assert archive.read_bytes() != good
    shutil.rmtree(tools_cache() / "pkgs", ignore_errors=True)  # downloaded again
    refused = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p1"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "app: cannot install the conda packages" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "p1" / "conda-meta/envc-install.json").exists()
    archive.write_bytes(good)
    wheels = Path(config.split("find_links: [")[1].split("]")[0])
    wheel = next(wheels.glob("alpha-*.whl"))
    other = tmp_path / "other"
    other.mkdir()
    write_wheel(other, "alpha", "1.0", ("colorama",))  # same file name, other bytes
    shutil.copy(next(other.glob("*.whl")), wheel)
    shutil.rmtree(tools_cache() / "uv", ignore_errors=True)  # read again, not the good one
    refused = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p2"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "hash" in refused.stderr.lower() and "alpha" in refused.stderr


def test_a_stale_lock_or_unknown_platform_is_refused(repo: Path, tmp_path: Path) -> None:
    manifest = repo / "environments/app/env.yaml"
    manifest.write_text(MANIFEST.replace("numpy <2", "numpy <2, pip"))
    stale = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p"))
    assert stale.returncode == 1
    assert "app: the lock is stale" in stale.stderr and "run envc lock app" in stale.stderr
    manifest.write_text(MANIFEST)
    other = run_envc(repo, "install", "app", "--platform", "osx-arm64")
    assert other.returncode == 1 and "not locked for osx-arm64" in other.stderr
    usage = run_envc(repo, "install")
    assert usage.returncode == 2 and "or --all" in usage.stderr
    assert not os.path.exists(tmp_path / "p" / "conda-meta")


def test_a_package_tampered_on_a_served_channel_is_refused(repo: Path, tmp_path: Path) -> None:
    """Over HTTP, py-rattler's download checks the lock's SHA-256 itself."""
    import functools
    import http.server

    config = (repo / "envc.yaml").read_text()
    channel = Path(config.split("file://")[1].split("\n")[0])

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    with serving(functools.partial(Quiet, directory=str(channel))) as host:
        served = f"http://{host}"
        (repo / "envc.yaml").write_text(config.replace(channel.as_uri(), served))
        archive = next((channel / "linux-64").glob("numpy-1.26.4-*.tar.bz2"))
        _tamper(archive, tmp_path)
        shutil.rmtree(tools_cache() / "pkgs", ignore_errors=True)  # downloaded again
        refused = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p"))
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "hash mismatch" in refused.stderr and "numpy-1.26.4" in refused.stderr


def test_shell_and_install_all(repo: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import PROJECT

    (repo / "environments/um/env.yaml").parent.mkdir()
    (repo / "environments/um/env.yaml").write_text(
        "schema_version: 1\nname: um\npython:\n  user_managed_dependencies: true\n"
        "docker:\n  base_image: example.com/runtime:1\n"
    )
    every = run_envc(repo, "install", "--all")
    assert every.returncode == 1, every.stdout + every.stderr  # um has nothing to install
    assert "app: installed" in every.stdout
    assert "um: failed: um: user-managed" in every.stdout
    shell = subprocess.run(
        [sys.executable, "-m", "compiler", "shell", "app"],
        cwd=repo,
        input='echo "$GREETING|$CONDA_PREFIX"; exit 3\n',
        capture_output=True,
        text=True,
        env={**os.environ, "SHELL": "/bin/sh", "PYTHONPATH": str(PROJECT)},
    )
    assert shell.returncode == 3, shell.stderr
    assert shell.stdout.strip() == f"hello $USER; world|{repo / '.envc/envs/app'}"


def test_a_forged_lock_whose_url_leaves_its_channel_is_refused(repo: Path, tmp_path: Path) -> None:
    """Both conda files forged alike, resealed and re-set as one lock (what a pull request can
    do): a URL climbing out of its channel (and so out of a file:// mirror) is refused before
    anything is read from it."""
    from compiler.lock.lockfiles import seal_lock_set
    from tests.test_hostile_locks import _reseal

    folder = repo / "environments" / "app"
    names = ["conda-lock.yml", "conda-linux-64.lock", "requirements-linux-64.txt"]
    names += ["pylock.linux-64.toml"]
    contents = {}
    for name in names:
        text = (folder / name).read_text()
        text = "".join(line for line in text.splitlines(True) if not line.startswith("# lock-set:"))
        text = text.replace("/linux-64/numpy-1.26.4", "/linux-64/../../../linux-64/numpy-1.26.4")
        contents[name] = _reseal(text)
    for name, text in seal_lock_set(contents).items():
        (folder / name).write_text(text)
    refused = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p"))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    # lock verification reads the URL as py-rattler does (normalized): the files disagree
    assert "app: the lock is stale (environments/app/conda-linux-64.lock:" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "p" / "conda-meta" / "envc-install.json").exists()


def test_a_mirror_the_policy_does_not_allow_is_refused(repo: Path, tmp_path: Path) -> None:
    config = repo / "envc.yaml"
    config.write_text(
        config.read_text() + "policy:\n  mirrors:\n    - https://mirror.example.com/\n"
    )
    refused = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "is not one of the mirrors the policy allows" in refused.stderr
    assert not (tmp_path / "p").exists()


def test_a_package_cache_committed_to_the_repository_is_never_installed(
    repo: Path, tmp_path: Path
) -> None:
    """py-rattler trusts an extracted package in its cache by the archive's SHA-256 written
    beside it, which the lock tells anyone: a pull request committing a forged one under
    .envc/cache/pkgs must not get it installed. Downloads live in the user's cache folder."""
    import hashlib

    genuine = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p1"))
    assert genuine.returncode == 0, genuine.stderr
    module = f"{SITE_PACKAGES}/numpy/__init__.py"
    good = (tmp_path / "p1" / module).read_bytes()
    # the cached entry, copied where a commit can put it, its module replaced consistently
    forged = repo / ".envc/cache/pkgs"
    if not forged.is_dir():  # (where envc kept downloads before, they are there already)
        forged.mkdir(parents=True)
        for entry in (tools_cache() / "pkgs").glob("numpy-1.26.4-*"):
            copy = shutil.copytree if entry.is_dir() else shutil.copy
            copy(entry, forged / entry.name)
    [package] = [p for p in forged.glob("numpy-1.26.4-*") if p.is_dir()]
    evil = b"raise SystemExit('forged')\n"
    (package / module).unlink()  # a hard link into the user's cache: replace, do not write
    (package / module).write_bytes(evil)
    paths = json.loads((package / "info/paths.json").read_text())
    for path in paths["paths"]:
        if path["_path"] == module:
            path.update(sha256=hashlib.sha256(evil).hexdigest(), size_in_bytes=len(evil))
    (package / "info/paths.json").write_text(json.dumps(paths))
    shutil.rmtree(tools_cache() / "pkgs", ignore_errors=True)
    installed = run_envc(repo, "install", "app", "--prefix", str(tmp_path / "p2"))
    assert installed.returncode == 0, installed.stderr
    assert (tmp_path / "p2" / module).read_bytes() == good
