"""The lock an imported project already has: what `envc import --lock` keeps.

A pixi workspace has `pixi.lock` beside `pixi.toml`; a conda project `conda-lock.yml` beside its
environment file or pyproject.toml; a uv or Poetry project `uv.lock` or `poetry.lock`. The first
two are read with py-rattler's lockfile reader (rattler-lock and conda-lock v1), the others as
TOML (their `[[package]]` names and versions, for every platform). An imported environment's
first lock then keeps those versions wherever its specs and its channels allow, so a project
comes in as it runs today instead of at whatever the channels hold newest; `kept` says how much
of the old lock survived.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from compiler._util.files import UnreadableFile, read_bounded
from compiler.errors import EnvcError
from compiler.lock.lockfiles import MAX_LOCK_BYTES
from compiler.lock.repository import ANY_PLATFORM, LockSeed

# Which lockfile sits beside which source file.
LOCKFILES = {
    "pixi.toml": "pixi.lock",
    "pyproject.toml": ("pixi.lock", "conda-lock.yml", "uv.lock", "poetry.lock"),
}
# Locks of pip packages only, for every platform at once: TOML with `[[package]]` tables.
_PYTHON_LOCKS = {"uv.lock", "poetry.lock"}
# uv.lock sources of the project itself and its members, not packages of an index.
_LOCAL_SOURCES = {"editable", "virtual", "directory", "path", "workspace"}
CONDA_LOCK = "conda-lock.yml"
# What a pin of a TOML lock may hold: a PEP 508 name, a PEP 440 version (nothing that would
# add a line or an option to the requirements uv reads its preferences from).
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+!_-]*")
DEFAULT_ENVIRONMENT = "default"


def lockfile_beside(source: Path) -> Path | None:
    """The lockfile of the project `source` (a manifest file) belongs to, if there is one."""
    if not source.is_file():
        return None
    names = LOCKFILES.get(source.name, CONDA_LOCK)
    for name in (names,) if isinstance(names, str) else names:
        candidate = source.parent / name
        if os.path.lexists(candidate):  # whatever it is: reading it says what is wrong
            return candidate
    return None


def lock_seed(lockfile: Path, environment: str = DEFAULT_ENVIRONMENT) -> LockSeed | None:
    """The versions `lockfile` locks for its `environment` (pixi's environment name; a
    conda-lock file has one); None when it has no such environment."""
    from rattler import LockFile

    try:  # read bounded (a FIFO, a link out of the project, a huge file)
        data = read_bounded(lockfile, MAX_LOCK_BYTES)
    except UnreadableFile as exc:
        raise EnvcError(f"{lockfile}: {exc}") from None
    if lockfile.name in _PYTHON_LOCKS:
        return _python_lock_seed(lockfile, data)
    with tempfile.TemporaryDirectory(prefix="envc-lock-") as scratch:
        copy = Path(scratch) / lockfile.name
        copy.write_bytes(data)
        try:
            lock = LockFile.from_path(copy)
        except Exception as exc:  # py-rattler's parse errors are its own types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EnvcError(f"{lockfile}: not a lockfile py-rattler reads: {first}") from None
    locked = lock.environment(environment)
    if locked is None:
        return None
    conda: dict[str, tuple[str, ...]] = {}
    pip: dict[str, str] = {}
    for platform in locked.platforms():
        records = locked.conda_repodata_records_for_platform(platform) or []
        conda[platform.name] = tuple(
            f"{r.name.normalized} =={r.version} {r.build}" for r in records
        )
        packages = locked.pypi_packages_for_platform(platform) or []
        pins = sorted(f"{package.name}=={package.version}" for package in packages)
        pip[platform.name] = "".join(f"{pin}\n" for pin in pins)
    return LockSeed(conda, pip, lockfile.name)


def _python_lock_seed(lockfile: Path, data: bytes) -> LockSeed:
    """uv.lock's or poetry.lock's packages (one lock for every platform), as pip pins; the
    project's own entries (editable, virtual, a path) are not packages to keep."""
    import tomllib

    try:
        document = tomllib.loads(data.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise EnvcError(f"{lockfile}: not a lockfile: {exc}") from None
    pins = set()
    for package in document.get("package") or []:
        if not isinstance(package, dict):
            continue
        source = package.get("source")
        local = isinstance(source, dict) and (_LOCAL_SOURCES & set(source))
        name, version = package.get("name"), package.get("version")
        if local or not isinstance(name, str) or not isinstance(version, str):
            continue
        if _NAME.fullmatch(name) and _VERSION.fullmatch(version):  # a line of uv's input
            pins.add(f"{name}=={version}")
    return LockSeed({}, {ANY_PLATFORM: "".join(f"{pin}\n" for pin in sorted(pins))}, lockfile.name)


def kept(
    seed: LockSeed, pinned: Mapping[str, Mapping[str, set[str]]]
) -> tuple[int, int, list[str]]:
    """(versions kept, versions the seed locked, what moved: `numpy 1.26.4 -> 2.0.1`) on the
    platforms the new lock has: `pinned` is platform -> package -> the versions it pins."""
    wanted: dict[str, set[str]] = {}
    held: dict[str, set[str]] = {}
    for platform, packages in pinned.items():
        for spec in seed.conda.get(platform, ()):
            name, version, _ = spec.split(" ", 2)
            wanted.setdefault(_canonical(name), set()).add(version.removeprefix("=="))
        for line in seed.pip_for(platform).splitlines():
            name, _, version = line.partition("==")
            wanted.setdefault(_canonical(name), set()).add(version)
        for name, versions in packages.items():
            held.setdefault(_canonical(name), set()).update(versions)
    moved = [
        f"{name} {', '.join(sorted(versions))} -> "
        f"{', '.join(sorted(held.get(name, set()))) or 'absent'}"
        for name, versions in sorted(wanted.items())
        if not versions <= held.get(name, set())
    ]
    return len(wanted) - len(moved), len(wanted), moved


def _canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))
