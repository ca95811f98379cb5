"""One side's candidates through the real stages: written to a scratch folder, validated (the head),
resolved, rendered, content-addressed."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from compiler._util.git import SYMLINK_MODE, Git
from compiler.errors import Diagnostic, EnvcError
from compiler.manifest.sources import ValidManifest
from compiler.plan.graph import Graph, referenced_paths
from compiler.plan.sides import MANIFEST, Side

if TYPE_CHECKING:
    # (a plan with no change reads none of these: plan.py imports them once it renders)
    from compiler.lock.verified import VerifiedLocks
    from compiler.plan.renders import PlanRenders
    from compiler.render.rendered import RenderedEnvironment


@dataclass(frozen=True)
class State:
    """An environment as one side builds it: rendered, or the reason it cannot be."""

    folder: str
    rendered: RenderedEnvironment | None = None
    error: str | None = None


def _materialize(
    git: Git, side: Side, folders: set[str], references: set[str], target: Path
) -> None:
    """Write what building `folders` reads from this side into `target` (Side.inputs)."""
    wanted = side.inputs(folders, references)
    for path, raw in git.read(wanted).items():
        file = target / path
        file.parent.mkdir(parents=True, exist_ok=True)
        if wanted[path].mode == SYMLINK_MODE:
            os.symlink(raw.decode(), file)
        else:
            file.write_bytes(raw)


def evaluate(
    git: Git,
    side: Side,
    graph: Graph,
    names: Collection[str],
    scratch: Path,
    check: bool,
    unnamed: Collection[str] = (),
    *,
    verified: VerifiedLocks | None,
    renders: PlanRenders,
) -> tuple[dict[str, State], list[Diagnostic]]:
    """Render `names` as this side has them; with `check`, validate them first (the head), and
    the manifests in folders `unnamed` too (changed, but without a name to plan them by);
    `verified`: the locks this machine has verified; `renders`: what earlier plans rendered
    from the same inputs, used instead of rendering (and told what this one renders)."""
    keys = renders.keys(git, side, graph, names)
    remembered = renders.recall(git, side, keys, validated=check)
    known = {name: State(graph.names[name], r) for name, r in remembered.items()}
    names = [name for name in names if name not in remembered]
    if not names and not unnamed:
        return known, []
    folders = {folder for name in names for folder in graph.chain(name)} | set(unnamed)
    references = {path for name in names for path in referenced_paths(graph.merged(name))}
    scratch.mkdir()
    _materialize(git, side, folders, references, scratch)
    diagnostics: list[Diagnostic] = []
    if check:
        from compiler.validate.repository import validate

        report = validate(root=scratch, cwd=scratch)
        diagnostics.extend(report.diagnostics)
        manifests = report.manifests
    else:
        manifests = {
            name: ValidManifest(side.manifests[graph.names[name]], graph.names[name])
            for name in {n for n in graph.names if graph.names[n] in folders}
        }
    from compiler.render.batch import rendered_in_memory  # (pydantic, Jinja: only to render)

    jobs = [(name, graph.names[name]) for name in sorted(names)]
    try:
        # The plan compares addresses and locks: each side's build contexts are not kept.
        rendered = dict(
            rendered_in_memory(scratch, manifests, [n for n, _ in jobs], verified, files=False)
        )
    except EnvcError as exc:  # the side's templates, catalog or channels
        return {name: State(folder, error=str(exc)) for name, folder in jobs}, diagnostics
    states = {}
    for name, folder in jobs:
        result = rendered[name]
        states[name] = (
            State(folder, error=result) if isinstance(result, str) else State(folder, result)
        )
    if not diagnostics:  # (a head validation found nothing to say: every render stands)
        done = {name: state.rendered for name, state in states.items() if state.rendered}
        renders.remember(keys, done, validated=check)
    return {**known, **states}, diagnostics


def scratch_parent() -> str | None:
    """Where the sides are written: memory (/dev/shm) unless TMPDIR says otherwise; thousands of
    small files are created there, which costs 50x more on some disks."""
    if "TMPDIR" not in os.environ and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return None


def duplicate_names(side: Side) -> list[Diagnostic]:
    """The unique-name rule over the whole side (validation sees only the candidates)."""
    if not side.clashes():
        return []
    from compiler.validate.rules import DUPLICATE_NAME, name_clashes

    owners = sorted(
        (f"{folder}/{MANIFEST}", name)
        for name, folders in side.clashes().items()
        for folder in folders
    )
    return [
        Diagnostic(path, 1, 1, message, DUPLICATE_NAME)
        for path, message in sorted(name_clashes(owners).items())
    ]
