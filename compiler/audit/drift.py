"""Drift from the locks: what newer versions the channels and indexes offer, and proposals.

`outdated` answers, per environment and locked package, with the real solvers (not a guess
from version lists): the version a relock would move it to (the newest the specs allow,
solved into a scratch folder), and, when a newer one exists that a spec holds back, that
version and the spec that holds it (solved again with every spec but Python's reduced to its
package name). Nothing in the repository changes.

`upgrade` relocks the environments from scratch (newest allowed versions, the policy's floors
kept) and classifies each lock diff: patch, minor or major per package, and the environment's
bump (the largest), with the advisories the new lock no longer has; `proposal_markdown` is
the body of the pull request that carries it. Nothing is registered: that happens when the
pull request is merged and built.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from compiler._util.cache import tools_cache
from compiler._util.progress import Progress, no_progress
from compiler.audit.advisories import AdvisoryDatabase
from compiler.audit.scan import audit_repository
from compiler.errors import EnvcError
from compiler.lock.inputs import LockInputs, lock_inputs
from compiler.lock.pip import PipIndex
from compiler.lock.policy import applicable_floors
from compiler.lock.repository import lock_environment, lock_repository, pinned_versions
from compiler.manifest.model import resolve
from compiler.manifest.patterns import spec_package
from compiler.manifest.sources import ValidManifests
from compiler.validate.config import RepositoryConfig

Change = Literal["major", "minor", "patch", "added", "removed"]
_PYTHON = re.compile(r"python\b(?!-)")
BUMPS: tuple[Change, ...] = ("patch", "minor", "major")


@dataclass(frozen=True)
class Behind:
    """A locked package that a newer version exists for."""

    environment: str
    package: str
    locked: str
    allowed: str  # the newest the specs allow (a relock moves to it); == locked when held
    newest: str  # the newest the channels/indexes offer with the specs relaxed
    held_by: str  # the spec that holds `newest` back ("" when the specs allow it)

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Move:
    package: str
    before: str  # "" when added
    after: str  # "" when removed
    change: Change


@dataclass(frozen=True)
class Upgrade:
    environment: str
    status: str  # what `envc lock` did: locked, fresh, failed …
    moves: tuple[Move, ...]
    bump: str  # major | minor | patch | none
    fixed: tuple[str, ...] = ()  # "GHSA-… (package)": advisories the old lock had, the new has not
    reasons: tuple[str, ...] = ()


def outdated(
    root: Path,
    manifests: ValidManifests,
    config: RepositoryConfig,
    mirrors: Mapping[str, str],
    index: PipIndex,
    names: Sequence[str] = (),
) -> tuple[list[Behind], list[str]]:
    """The locked packages with newer versions, and the environments that could not be told
    (not locked, or their specs cannot be solved today: each with why)."""
    behind: list[Behind] = []
    problems: list[str] = []
    cache = tools_cache()
    for name in sorted(names or manifests):
        inputs = lock_inputs(resolve(name, manifests), root, config.channels)
        if inputs is None:
            continue
        folder = root / manifests[name][1]
        locked = pinned_versions(folder, inputs.platforms)
        if not locked:
            problems.append(f"{name}: not locked yet")
            continue
        floors = applicable_floors(config.policy, name)
        try:
            allowed = _solved(inputs, cache, mirrors, index, floors)
        except EnvcError as exc:
            problems.append(f"{name}: {exc}")
            continue
        try:
            newest = _solved(_relaxed(inputs), cache, mirrors, index, floors)
        except EnvcError:
            newest = allowed  # the relaxed specs do not solve: nothing more to tell
        # The specs that bound a version (a bare name holds nothing back).
        held = {
            spec_package(spec): spec
            for spec in (*inputs.specs, *inputs.pip)
            if re.search(r"[<>=!~]|\s\S", spec.strip())
        }
        for package in sorted(locked):
            current = _highest(locked[package])
            can = _highest(allowed.get(package, set())) or current
            best = _highest(newest.get(package, set())) or can
            if _newer(can, current) or _newer(best, can):
                holder = ""
                if _newer(best, can):
                    holder = held.get(package, "the specs of the packages that need it")
                behind.append(Behind(name, package, current, can, best, holder))
    return behind, problems


def _solved(
    inputs: LockInputs,
    cache: Path,
    mirrors: Mapping[str, str],
    index: PipIndex,
    floors: Mapping[str, str],
) -> dict[str, set[str]]:
    """Package -> versions of a from-scratch lock of `inputs`, written to a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="envc-outdated-") as scratch:
        lock_environment(inputs, Path(scratch), cache, mirrors, index, None, floors)
        return pinned_versions(Path(scratch), inputs.platforms)


def _relaxed(inputs: LockInputs) -> LockInputs:
    """`inputs` with every spec but Python's reduced to its package (pip: name, extras and
    markers kept; a URL requirement as it is)."""
    specs = {
        spec if _PYTHON.match(spec) else re.split(r"[\s<>=!~\[]", spec, maxsplit=1)[0]
        for spec in inputs.specs
    }
    pip = set()
    for line in inputs.pip:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            pip.add(line)
            continue
        if requirement.url is None:
            requirement.specifier = SpecifierSet()
        pip.add(str(requirement))
    return replace(inputs, specs=tuple(sorted(specs)), pip=tuple(sorted(pip)), _fingerprint="")


def upgrade(
    root: Path,
    manifests: ValidManifests,
    config: RepositoryConfig,
    mirrors: Mapping[str, str],
    index: PipIndex,
    names: Sequence[str] = (),
    advisories: AdvisoryDatabase | None = None,
    progress: Progress = no_progress,
) -> list[Upgrade]:
    """Relock the environments (default all) from scratch and say what moved in each."""
    selected = sorted(names or manifests)
    platforms = {}
    for name in selected:
        inputs = lock_inputs(resolve(name, manifests), root, config.channels)
        platforms[name] = inputs.platforms if inputs else ()
    before = {n: pinned_versions(root / manifests[n][1], platforms[n]) for n in selected}

    def audit() -> dict[str, set[str]]:
        if advisories is None:
            return {}
        return _advisory_keys(root, manifests, advisories, selected, config)

    found_before = audit()
    outcomes = lock_repository(
        root,
        selected,
        force=True,
        mirrors=mirrors,
        pip_index=index,
        default_channels=config.channels,
        manifests=manifests,
        progress=progress,
        policy=config.policy,
    )
    found_after = audit()
    upgrades = []
    for outcome in outcomes:
        name = outcome.name
        moves = lock_diff(before[name], pinned_versions(root / manifests[name][1], platforms[name]))
        fixed = sorted(found_before.get(name, set()) - found_after.get(name, set()))
        upgrades.append(
            Upgrade(name, outcome.status, tuple(moves), bump(moves), tuple(fixed), outcome.reasons)
        )
    return upgrades


def _advisory_keys(
    root: Path,
    manifests: ValidManifests,
    database: AdvisoryDatabase,
    names: Sequence[str],
    config: RepositoryConfig,
) -> dict[str, set[str]]:
    """Environment -> "advisory (package)" for what its locks are affected by now."""
    findings, _ = audit_repository(root, manifests, database, names, config.channels)
    found: dict[str, set[str]] = {}
    for finding in findings:
        found.setdefault(finding.environment, set()).add(f"{finding.advisory} ({finding.package})")
    return found


def lock_diff(before: Mapping[str, set[str]], after: Mapping[str, set[str]]) -> list[Move]:
    """Each package whose locked version changed (over every platform), classified."""
    moves = []
    for package in sorted(set(before) | set(after)):
        old, new = _highest(before.get(package, set())), _highest(after.get(package, set()))
        if old == new:
            continue
        moves.append(Move(package, old, new, classify(old, new)))
    return moves


def classify(old: str, new: str) -> Change:
    """The change from version `old` to `new`: which release segment moved first (a version
    that is not PEP 440 counts as a minor change)."""
    if not old:
        return "added"
    if not new:
        return "removed"
    try:
        a, b = Version(old).release, Version(new).release
    except InvalidVersion:
        return "minor"
    a, b = a + (0,) * (3 - len(a)), b + (0,) * (3 - len(b))
    if a[0] != b[0]:
        return "major"
    return "minor" if a[1] != b[1] else "patch"


def bump(moves: Sequence[Move]) -> str:
    """The version bump an image should take for `moves`: the largest change (a removed
    package is major, an added one minor), or none."""
    ranks = [{"removed": "major", "added": "minor"}.get(move.change, move.change) for move in moves]
    return max(ranks, key=BUMPS.index, default="none")


def proposal_markdown(upgrades: Sequence[Upgrade]) -> str:
    """The body of the pull request carrying an upgrade."""
    changed = [u for u in upgrades if u.moves]
    lines = [
        "## Environment upgrades proposed by `envc lock --upgrade`",
        "",
        f"{len(changed)} environment(s) relocked to the newest versions their specs allow. "
        "Nothing is registered until this is merged and built.",
        "",
        "| environment | bump | packages moved | advisories fixed |",
        "|---|---|---|---|",
    ]
    for upgrade in changed:
        fixed = ", ".join(upgrade.fixed) or "-"
        lines.append(
            f"| {_cell(upgrade.environment)} | {upgrade.bump} | {len(upgrade.moves)} | "
            f"{_cell(fixed)} |"
        )
    for upgrade in changed:
        lines += ["", f"### {_cell(upgrade.environment)} ({upgrade.bump})", ""]
        lines += ["| package | from | to | change |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(m.package)} | {m.before or '-'} | {m.after or '-'} | {m.change} |"
            for m in upgrade.moves
        ]
    failed = [u for u in upgrades if u.status == "failed"]
    if failed:
        lines += ["", "### Not relocked", ""]
        lines += [f"- {_cell(u.environment)}: {_cell('; '.join(u.reasons))}" for u in failed]
    return "\n".join(lines) + "\n"


def upgrade_summary(upgrade: Upgrade) -> list[str]:
    """Text lines for one environment's upgrade."""
    if upgrade.status == "failed":
        return [f"{upgrade.environment}: failed: {'; '.join(upgrade.reasons)}"]
    if not upgrade.moves:
        return [f"{upgrade.environment}: already at the newest allowed versions"]
    head = f"{upgrade.environment}: {upgrade.bump} ({len(upgrade.moves)} package(s) moved)"
    lines = [head]
    lines += [
        f"  {m.package} {m.before or '(new)'} -> {m.after or '(removed)'} [{m.change}]"
        for m in upgrade.moves
    ]
    lines += [f"  fixes {advisory}" for advisory in upgrade.fixed]
    return lines


def _cell(text: str) -> str:
    """Text for a Markdown table cell: no pipes, no line breaks, no HTML."""
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _highest(versions: set[str] | Any) -> str:
    """The highest of `versions` (platforms may lock different ones), "" for none."""
    ordered = sorted(versions, key=_order)
    return ordered[-1] if ordered else ""


def _order(version: str) -> tuple[int, Any]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _newer(candidate: str, than: str) -> bool:
    return bool(candidate) and bool(than) and _order(candidate) > _order(than)
