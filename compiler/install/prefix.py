"""An environment installed from its committed lock into a prefix, with no solve and no conda.

Conda packages: py-rattler's installer (download into the package cache, check each archive's
SHA-256 against the lock, link into the prefix), from the lock's URLs (a mirror of envc.yaml
serves the channel it mirrors; `file://` channels work offline). Pip packages: uv installs the
hashed requirements (`--require-hashes --no-deps`: exactly the locked set, every file checked)
into the prefix's Python. `uv pip sync` is not used: it would uninstall what conda installed
(numpy from conda is a distribution in the same site-packages), which the pip lock leaves out.
A pip-only environment gets a virtual environment from uv (`uv venv`) for the manifest's Python.

Then the environment's variables, where activation finds them: `conda-meta/state` (conda and
micromamba) and `etc/conda/activate.d/envc-variables.sh` (a conda prefix only: `envc run` sets
them in either); and a record of what was installed, `conda-meta/envc-install.json` (in a
virtual environment, `envc-install.json`), written last: the same lock installs nothing
twice, a changed lock installs again (py-rattler replaces what changed), a failed install is redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler._util.cache import tools_cache
from compiler._util.credentials import redact, unescaped_placeholders, without_credentials
from compiler._util.files import read_text, shown_path, write_atomically
from compiler.errors import EnvcError, UsageError
from compiler.lock.inputs import (
    CONDA_LOCK_FILE,
    LockInputs,
    explicit_file,
    lock_inputs,
    pip_file,
)
from compiler.lock.lockfiles import locked_versions
from compiler.lock.logins import PackageSources, rattler_client
from compiler.lock.pip import PipIndex
from compiler.lock.staleness import fresh_lockfiles
from compiler.lock.verified import VerifiedLocks
from compiler.manifest.model import Manifest
from compiler.validate.config import DEFAULT_CHANNELS

RECORD_FILE = "conda-meta/envc-install.json"
VENV_RECORD_FILE = "envc-install.json"  # a pip-only environment's: beside pyvenv.cfg
STATE_FILE = "conda-meta/state"
ACTIVATE_SCRIPT = "etc/conda/activate.d/envc-variables.sh"
RECORD_VERSION = 1


@dataclass(frozen=True)
class Installed:
    name: str
    prefix: Path
    status: str  # "installed" | "unchanged"
    conda: int = 0  # packages the lock holds
    pip: int = 0
    variables: Mapping[str, str] = field(default_factory=dict)


def current_platform() -> str:
    from rattler.platform import Platform

    return str(Platform.current())


def python_of(prefix: Path) -> Path:
    return prefix / "python.exe" if os.name == "nt" else prefix / "bin" / "python"


def install_environment(
    manifest: Manifest,
    root: Path,
    folder: Path,
    prefix: Path,
    *,
    platform: str | None = None,
    default_channels: tuple[str, ...] = (),
    mirrors: Mapping[str, str] | None = None,
    pip_index: PipIndex | None = None,
    cache: Path | None = None,
) -> Installed:
    """Install the locked environment `manifest` (its folder: `folder`) into `prefix`."""
    platform = platform or current_platform()
    if manifest.user_managed:
        raise EnvcError(f"{manifest.name}: user-managed; its base image holds the environment")
    inputs = lock_inputs(manifest, root, default_channels or DEFAULT_CHANNELS)
    if inputs is None:
        raise EnvcError(f"{manifest.name}: no packages to install")
    if platform not in inputs.platforms:
        raise EnvcError(
            f"{manifest.name}: not locked for {platform} (platforms: {', '.join(inputs.platforms)})"
        )
    verified = VerifiedLocks.of_user()
    lockfiles = fresh_lockfiles(inputs, folder, shown_path(folder, root), verified)
    verified.save()
    used = [f for f in (explicit_file(platform), pip_file(platform)) if f in lockfiles]
    record = {
        "format_version": RECORD_VERSION,
        "name": manifest.name,
        "platform": platform,
        "locks": {f: hashlib.sha256(lockfiles[f].encode()).hexdigest() for f in used},
        "variables": dict(sorted(manifest.variables.items())),
    }
    pip = pip_file(platform)
    counts = (
        len(_explicit_urls(lockfiles.get(explicit_file(platform), ""))),
        len(locked_versions({pip: lockfiles.get(pip, "")})[pip]),
    )
    variables = dict(manifest.variables)
    if _recorded(prefix) == record and python_of(prefix).exists():
        return Installed(manifest.name, prefix, "unchanged", *counts, variables)
    cache = cache or tools_cache()
    _record_file(prefix).unlink(missing_ok=True)  # a failure below leaves it to redo
    if inputs.specs:
        _install_conda(inputs, folder, lockfiles, platform, prefix, mirrors or {}, cache)
    elif not python_of(prefix).exists():
        _make_venv(inputs, prefix, cache)
    if inputs.pip:
        index = (pip_index or PipIndex()).searching_first(inputs.pip_indexes)
        _install_pip(lockfiles[pip_file(platform)], prefix, index, cache)
    _write_variables(prefix, manifest.variables)
    write_atomically(_record_file(prefix), json.dumps(record, indent=2, sort_keys=True) + "\n")
    return Installed(manifest.name, prefix, "installed", *counts, variables)


def _body(lockfile: str) -> list[str]:
    """The lines of a lockfile that are neither comments nor continuations."""
    return [line for line in lockfile.splitlines() if line and not line.startswith(("#", " "))]


def _explicit_urls(lockfile: str) -> set[str]:
    return {line.split("#", 1)[0] for line in _body(lockfile) if "://" in line}


def _record_file(prefix: Path) -> Path:
    """Where the install record is: a conda prefix's conda-meta/, else the prefix itself (a
    virtual environment, which has no conda-meta/ and should not get one)."""
    return prefix / (RECORD_FILE if _is_conda_prefix(prefix) else VENV_RECORD_FILE)


def _is_conda_prefix(prefix: Path) -> bool:
    return (prefix / "conda-meta").is_dir()


def _recorded(prefix: Path) -> Any:
    try:
        return json.loads(read_text(_record_file(prefix)))
    except (OSError, ValueError, EnvcError):
        return None


def _install_conda(
    inputs: LockInputs,
    folder: Path,
    lockfiles: Mapping[str, str],
    platform: str,
    prefix: Path,
    mirrors: Mapping[str, str],
    cache: Path,
) -> None:
    """The conda part: conda-lock.yml's records (their hashes), which must be exactly the
    explicit file's packages (what an image installs), read from the mirrors when there are."""
    import asyncio

    from rattler import LockFile, install
    from rattler.platform import Platform

    environment = LockFile.from_path(folder / CONDA_LOCK_FILE).default_environment()
    records = []
    if environment is not None:
        for candidate in environment.platforms():
            if candidate.name == platform:
                records = list(environment.conda_repodata_records_for_platform(candidate) or [])
    recorded = [unescaped_placeholders(str(r.url)) for r in records]
    if set(recorded) != _explicit_urls(lockfiles[explicit_file(platform)]):
        raise EnvcError(
            f"{inputs.name}: {CONDA_LOCK_FILE} and {explicit_file(platform)} do not name the "
            f"same packages; run envc lock --force {inputs.name}"
        )
    sources = PackageSources(inputs.channels, mirrors)
    for record, url in zip(records, recorded, strict=True):
        if not record.sha256:
            raise EnvcError(f"{inputs.name}: {url} has no SHA-256 in {CONDA_LOCK_FILE}")
        record.url = sources.url(url)
        if str(record.url).startswith("file://"):
            _check_local_archive(inputs.name, str(record.url), record.sha256.hex())
    (cache / "pkgs").mkdir(parents=True, exist_ok=True)
    try:
        with sources.logins.file() as variables, _environment(variables):
            asyncio.run(
                install(
                    records,
                    prefix,
                    cache_dir=cache / "pkgs",
                    platform=Platform(platform),
                    execute_link_scripts=False,
                    show_progress=False,
                    client=rattler_client(),
                )
            )
    except Exception as exc:  # py-rattler's errors are its own types
        shown = redact(without_credentials(str(exc)), sources.logins.secrets)
        message = shown.strip().splitlines()
        raise EnvcError(
            f"{inputs.name}: cannot install the conda packages: {' '.join(message)}"
        ) from None


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` set in this process's environment while the block runs (rattler reads its
    logins file from there)."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _check_local_archive(name: str, url: str, sha256: str) -> None:
    """A package file on this machine against the lock's SHA-256: py-rattler checks what it
    downloads, not what it reads from a `file://` channel."""
    from urllib.parse import unquote, urlparse

    path = Path(unquote(urlparse(url).path))
    digest = hashlib.sha256()
    try:
        with path.open("rb") as archive:
            for chunk in iter(lambda: archive.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise EnvcError(f"{name}: cannot read {path}: {exc.strerror}") from None
    if digest.hexdigest() != sha256:
        raise EnvcError(
            f"{name}: cannot install the conda packages: {path.name} does not have the SHA-256 "
            f"the lock records ({sha256[:12]}…): the channel changed it, or it was tampered with"
        )


def _uv(*arguments: str, cache: Path, index: PipIndex | None = None) -> None:
    """uv run with `arguments` (and `index`'s, its credentials filled, never shown)."""
    from compiler.lock.pip import uv_executable

    extra, environment, secrets = index.for_uv() if index is not None else ([], {}, [])
    command = [uv_executable(), *arguments, *extra, f"--cache-dir={cache / 'uv'}", "--quiet"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_CONFIG": "1", "NO_COLOR": "1", **environment},
        check=False,
    )
    if result.returncode != 0:
        shown = without_credentials(shlex.join(command[1:3]))
        stderr = redact(without_credentials(result.stderr.strip()), secrets)
        raise EnvcError(f"uv {shown} failed: {stderr}")


def _make_venv(inputs: LockInputs, prefix: Path, cache: Path) -> None:
    python = inputs.python or f"{sys.version_info.major}.{sys.version_info.minor}"
    _uv("venv", str(prefix), f"--python={python}", cache=cache)


def _install_pip(requirements: str, prefix: Path, index: PipIndex, cache: Path) -> None:
    """The hashed requirements as checked (`requirements`: their text, not the file again,
    which could have changed since) into the prefix's Python."""
    import tempfile

    if not python_of(prefix).exists():
        raise UsageError(f"{prefix}: no Python to install the pip packages into")
    with tempfile.TemporaryDirectory(prefix="envc-install-") as scratch:
        file = Path(scratch, "requirements.txt")
        file.write_text(requirements, encoding="utf-8")
        _uv(
            "pip",
            "install",
            f"--python={python_of(prefix)}",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(file),
            cache=cache,
            index=index,
        )


def _write_variables(prefix: Path, variables: Mapping[str, str]) -> None:
    """Where `conda activate` / `micromamba activate` set them (a conda prefix's; a virtual
    environment, for a pip-only one, has neither); envc run reads the record."""
    if not _is_conda_prefix(prefix):
        return
    state_file = prefix / STATE_FILE
    state: dict[str, Any] = {}
    if state_file.is_file():
        try:
            state = json.loads(read_text(state_file))
        except (ValueError, EnvcError):
            state = {}
    state["env_vars"] = dict(sorted(variables.items()))
    write_atomically(state_file, json.dumps(state, indent=2, sort_keys=True) + "\n")
    script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(variables.items()))
    (prefix / ACTIVATE_SCRIPT).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(prefix / ACTIVATE_SCRIPT, "# Written by envc install\n" + script)


def run_environment(prefix: Path, variables: Mapping[str, str]) -> dict[str, str]:
    """The process environment of a command run in `prefix`: its bin first on PATH, conda's
    CONDA_PREFIX, the environment's variables."""
    bin_dir = prefix if os.name == "nt" else prefix / "bin"
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["CONDA_PREFIX"] = str(prefix)
    env.update(variables)
    return env
