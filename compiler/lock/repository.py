"""Locking a repository: which environments to (re)lock, solving them, writing their files.

The inputs, lockfile formats and the staleness rules are in inputs.py, lockfiles.py and
staleness.py; this module runs the solvers (conda.py for conda, pip.py for pip) and writes what
they return.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from compiler._util.cache import tools_cache
from compiler._util.files import remove_abandoned_temporaries, write_atomically
from compiler._util.progress import Progress, no_progress
from compiler.lock.conda import (
    ChannelSource,
    SolveError,
    SolveRequest,
    canonical_channel,
    solve_in_child,
)
from compiler.lock.inputs import (
    CONDA_LOCK_FILE,
    LockInputs,
    explicit_file,
    lock_inputs,
    pip_file,
    pylock_file,
)
from compiler.lock.lockfiles import (
    locked_explicit,
    locked_pip,
    locked_pip_pins,
    render_conda_lock,
    render_explicit,
    render_pip,
    render_pylock,
    seal_lock_set,
)
from compiler.lock.pip import PipIndex, resolve_pip
from compiler.lock.policy import applicable_floors, below_floors, refuse_environment_indexes
from compiler.lock.staleness import staleness
from compiler.lock.verified import VerifiedLocks
from compiler.manifest.patterns import spec_package
from compiler.manifest.sources import ValidManifests
from compiler.validate.config import DEFAULT_CHANNELS, Policy, RepositoryConfig

log = logging.getLogger(__name__)


def solve_lock(
    inputs: LockInputs,
    mirrors: Mapping[str, str],
    cache_dir: Path,
    preferred: Mapping[str, tuple[str, ...]] | None = None,
    floors: Mapping[str, str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Records per platform, solved against the channels (or their mirrors), keeping the
    `preferred` records of each platform where the specs allow, every package of `floors`
    (package -> minimum version) at or above its floor."""
    sources = tuple(ChannelSource(c, mirrors.get(c, c)) for c in inputs.channels)
    requests = [
        SolveRequest(
            sources,
            inputs.specs,
            platform,
            inputs.virtual[platform],
            str(cache_dir),
            (preferred or {}).get(platform, ()),
            tuple(f"{package} >={minimum}" for package, minimum in sorted((floors or {}).items())),
        )
        for platform in inputs.platforms
    ]
    return dict(zip(inputs.platforms, solve_in_child(requests), strict=True))


ANY_PLATFORM = "*"


@dataclass(frozen=True)
class LockSeed:
    """Versions to keep on an environment's first lock, from the lock of the tool it was
    imported from (pixi.lock, conda-lock.yml), per platform: conda records as MatchSpecs
    (`numpy ==1.26.4 py312h…`), pip pins as requirement lines (`requests==2.32.3`)."""

    conda: Mapping[str, tuple[str, ...]]
    pip: Mapping[str, str]  # platform, or ANY_PLATFORM for a lock of every platform (uv.lock)
    source: str  # the lockfile, as shown

    def pip_for(self, platform: str) -> str:
        return self.pip.get(platform, self.pip.get(ANY_PLATFORM, ""))


@dataclass(frozen=True)
class LockOutcome:
    """What `envc lock` did (or, with --check, found) for one environment."""

    name: str
    status: Literal["locked", "fresh", "stale", "skipped", "failed"]
    reasons: tuple[str, ...] = ()


def _pip_python(inputs: LockInputs, records: list[dict[str, Any]]) -> str:
    """The Python version pip resolves for: the manifest's, else the conda-locked one."""
    if inputs.python:
        return inputs.python
    for record in records:
        if record["name"] == "python":
            return ".".join(record["version"].split(".")[:2])
    from compiler.errors import UsageError

    raise UsageError(
        f"{inputs.name}: pip requirements need a Python version: set 'python:' "
        "or add python to 'conda:'"
    )


def _preferred(
    folder: Path, platforms: Sequence[str], update: Collection[str], seed: LockSeed | None
) -> dict[str, tuple[str, ...]]:
    """The records of the current lock (else the seed's), minus the packages to update, as
    MatchSpecs."""
    preferred = {}
    for platform in platforms:
        locked = [f"{n} =={v} {b}" for n, v, b in locked_explicit(folder, platform)]
        if not locked and seed is not None:
            locked = list(seed.conda.get(platform, ()))
        preferred[platform] = tuple(s for s in locked if spec_package(s) not in update)
    return preferred


def _previous_pip(folder: Path, platform: str, seed: LockSeed | None) -> str:
    """The pins uv keeps where it can: the current hashed requirements, else the seed's."""
    current = locked_pip(folder, platform)[0]
    return current or (seed.pip_for(platform) if seed is not None else "")


def _locked_names(folder: Path, platforms: Sequence[str]) -> set[str]:
    """Every package name the current conda and pip lockfiles pin."""
    names: set[str] = set()
    for platform in platforms:
        names.update(package for package, _, _ in locked_explicit(folder, platform))
        names.update(locked_pip(folder, platform)[1])
    return names


def pinned_versions(folder: Path, platforms: Sequence[str]) -> dict[str, set[str]]:
    """Package -> the versions the conda and pip lockfiles pin it at, over `platforms`."""
    pinned: dict[str, set[str]] = {}
    for platform in platforms:
        pins = [(name, version) for name, version, _ in locked_explicit(folder, platform)]
        pins += locked_pip_pins(folder, platform)
        for package, version in pins:
            pinned.setdefault(spec_package(package), set()).add(version)
    return pinned


def _moves(
    before: dict[str, set[str]], after: dict[str, set[str]], updating: set[str]
) -> tuple[str, ...]:
    """What --update did to each package asked for: `numpy 2.2.2 -> 2.3.5`, or that it is
    already the newest allowed."""
    moves = []
    for package in sorted(updating):
        old, new = (
            "/".join(sorted(before.get(package, ()))),
            "/".join(sorted(after.get(package, ()))),
        )
        if old == new:
            moves.append(f"{package} {new or old} is the newest allowed")
        else:
            moves.append(f"{package} {old or 'absent'} -> {new or 'removed'}")
    return tuple(moves)


def lock_environment(
    inputs: LockInputs,
    folder: Path,
    cache: Path,
    mirrors: Mapping[str, str],
    pip_index: PipIndex,
    update: Collection[str] | None = (),
    floors: Mapping[str, str] | None = None,
    seed: LockSeed | None = None,
) -> None:
    """Solve `inputs` and write its lockfiles into `folder`; nothing is written on failure.

    The solver keeps the currently locked versions (with no lock yet, `seed`'s) where the
    specs allow, except for the packages named in `update` (None: keep nothing, re-solve
    everything). Conda and pip keep every package of `floors` (the policy's: package ->
    minimum) at or above its floor."""
    preferred = None if update is None else _preferred(folder, inputs.platforms, update, seed)
    # The solver's cache may hold what private channels answered: the owner's eyes only.
    (cache / "rattler").mkdir(parents=True, exist_ok=True, mode=0o700)
    (cache / "rattler").chmod(0o700)
    records = (
        solve_lock(inputs, mirrors, cache / "rattler", preferred, floors) if inputs.specs else {}
    )
    contents: dict[str, str] = {}
    pylocks: dict[str, str] = {}
    for platform in inputs.platforms:
        conda = records.get(platform, [])
        if inputs.specs:
            contents[explicit_file(platform)] = render_explicit(inputs, platform, conda, "env.yaml")
        if inputs.pip:
            pip_lock = resolve_pip(
                inputs.pip,
                _pip_python(inputs, conda),
                platform,
                [(r["name"], r["version"]) for r in conda],
                pip_index.searching_first(inputs.pip_indexes),
                cache / "uv",
                previous=_previous_pip(folder, platform, seed) if update is not None else "",
                upgrade=update,
                floors=floors or {},
            )
            contents[pip_file(platform)] = render_pip(
                inputs, platform, pip_lock.requirements, "env.yaml"
            )
            contents[pylock_file(platform)] = render_pylock(
                inputs, platform, pip_lock.pylock, "env.yaml"
            )
            pylocks[platform] = pip_lock.pylock
    if inputs.specs:
        contents[CONDA_LOCK_FILE] = render_conda_lock(inputs, records, "env.yaml", pylocks)
    remove_abandoned_temporaries(folder)
    # Each file lands whole (rename); the lock-set id in every header makes a run killed between
    # two files read as stale, even when the inputs, and so the fingerprints, did not change.
    for name, content in seal_lock_set(contents).items():
        write_atomically(folder / name, content)


def configured_sources(
    root: Path,
    config: RepositoryConfig,
    mirrors: Mapping[str, str] | None = None,
    index_url: str | None = None,
    find_links: Sequence[str] = (),
) -> tuple[dict[str, str], PipIndex]:
    """The channel mirrors and pip index to lock with: envc.yaml's, with the given ones on top
    (a given index or find-links replace the file's pip settings). Relative find-links are
    folders of the repository."""
    given = {**config.mirrors, **(mirrors or {})}
    if index_url is None and not find_links:
        index_url = config.pip.index_url
        find_links = [link if "://" in link else str(root / link) for link in config.pip.find_links]
    mirror_map = {canonical_channel(name): url for name, url in given.items()}
    return mirror_map, PipIndex(index_url, tuple(find_links))


def lock_repository(
    root: Path,
    names: Sequence[str] = (),
    *,
    check: bool = False,
    force: bool = False,
    update: Collection[str] = (),
    mirrors: Mapping[str, str] | None = None,
    pip_index: PipIndex | None = None,
    default_channels: Sequence[str] = DEFAULT_CHANNELS,
    manifests: ValidManifests | None = None,
    progress: Progress = no_progress,
    policy: Policy | None = None,
    seeds: Mapping[str, LockSeed] | None = None,
) -> list[LockOutcome]:
    """Lock (or check) the named environments, default all, of the valid repository at `root`.

    A stale lock is re-solved keeping its other locked versions; `update` names packages to
    move to their newest allowed versions (relocking the environments that lock them);
    `force` re-solves everything from scratch. `manifests` (name -> (data, folder)) spares
    reading the manifests again when validation already did. The floors of `policy` bound
    every solve, and a lock below one is relocked, moving those packages only. `seeds` (name
    -> LockSeed) are the versions an environment's first lock keeps (envc import --lock)."""
    from compiler.errors import UsageError
    from compiler.manifest.model import resolve
    from compiler.validate.repository import validate

    if manifests is None:  # the caller did not validate: the valid manifests, as validation says
        manifests = validate(root=root).manifests
    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise UsageError(f"no environment named {', '.join(unknown)}")
    selected = sorted(names or manifests)
    verified = VerifiedLocks.of_user()
    decided: dict[str, LockOutcome] = {}
    to_solve: list[tuple[str, LockInputs, Path, tuple[str, ...], set[str], dict[str, str]]] = []
    wanted = {spec_package(package) for package in update}
    locking: set[str] = set()
    for name in selected:
        folder = root / manifests[name][1]
        inputs = lock_inputs(resolve(name, manifests), root, default_channels)
        if inputs is None:
            decided[name] = LockOutcome(name, "skipped", ("no packages to lock",))
            continue
        reasons = tuple(staleness(inputs, folder, shown=manifests[name].folder, verified=verified))
        locked = (
            {spec_package(n) for n in _locked_names(folder, inputs.platforms)} if update else set()
        )
        locking |= locked
        updating = locked & wanted
        floors = applicable_floors(policy, name) if policy and not check else {}
        if floors:
            below = below_floors(pinned_versions(folder, inputs.platforms), floors)
            updating |= set(below)
            reasons += tuple(below.values())
        if check:
            decided[name] = LockOutcome(name, "stale" if reasons else "fresh", reasons)
        elif not reasons and not force and not updating:
            decided[name] = LockOutcome(name, "fresh")
        else:
            reasons = tuple("first lock" if r == "not locked yet" else r for r in reasons)
            to_solve.append((name, inputs, folder, reasons, updating, floors))
    unknown_updates = sorted(wanted - locking)
    if unknown_updates and not check:
        raise UsageError(
            f"--update {', '.join(unknown_updates)}: no lock of "
            f"{'the environments named' if names else 'this repository'} pins "
            f"{'it' if len(unknown_updates) == 1 else 'them'}"
        )
    for done, (name, inputs, folder, reasons, updating, floors) in enumerate(to_solve):
        progress(f"solving {name}", done, len(to_solve))
        before = pinned_versions(folder, inputs.platforms) if updating else {}
        started = time.monotonic()
        try:
            if policy is not None:
                refuse_environment_indexes(policy, name, inputs.pip_indexes)
            lock_environment(
                inputs,
                folder,
                tools_cache(),
                mirrors or {},
                pip_index or PipIndex(),
                None if force else updating,
                floors,
                (seeds or {}).get(name),
            )
        except SolveError as exc:  # this environment's specs; the others still get locked
            decided[name] = LockOutcome(name, "failed", (str(exc),))
            continue
        except UsageError as exc:  # its channel unreachable, its Python unknown to uv …
            decided[name] = LockOutcome(name, "failed", (str(exc),))
            continue
        log.debug("%s: locked in %.1f s", name, time.monotonic() - started)
        moved = _moves(before, pinned_versions(folder, inputs.platforms), updating)
        status: Literal["locked", "fresh"] = (
            "locked" if reasons or force or any(" -> " in move for move in moved) else "fresh"
        )
        decided[name] = LockOutcome(name, status, reasons + moved)
    outcomes = [decided[name] for name in selected]
    verified.save()
    return outcomes
