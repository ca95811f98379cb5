"""One side's candidates through the real stages: written to a scratch folder, validated (the head),
resolved, rendered, content-addressed."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from compiler._util.git import SUBMODULE_MODE, SYMLINK_MODE, Git
from compiler._util.processes import in_workers, made_once, worker_pool
from compiler._util.resources import CONFIG_FILE
from compiler.errors import Diagnostic, EnvcError
from compiler.manifest.sources import ValidManifest, ValidManifests, lineage
from compiler.plan.graph import Graph, referenced_paths
from compiler.plan.sides import MANIFEST, TEMPLATES, Side, name_of, owner

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    # render imports pydantic and Jinja: imported where a plan first renders (below).
    from compiler.lock.staleness import VerifiedLocks
    from compiler.render.context import RenderedEnvironment


@dataclass(frozen=True)
class State:
    """An environment as one side builds it: rendered, or the reason it cannot be."""

    folder: str
    rendered: RenderedEnvironment | None = None
    error: str | None = None


def _materialize(
    git: Git, side: Side, folders: set[str], references: set[str], target: Path
) -> None:
    """Write what building `folders` reads from this side into `target`: those folders (without
    nested environments), referenced files and the folders beside them, templates, config."""
    paths = [p for f in folders for p in side.under(f) if owner(p, side.manifests) == f]
    for folder in {posixpath.dirname(path) for path in references}:
        paths += [p for p in side.under(folder) if posixpath.dirname(p) == folder]
    paths += [*references, *side.under(TEMPLATES), CONFIG_FILE]
    wanted = {
        path: side.files[path]
        for path in paths
        if path in side.files and side.files[path].mode != SUBMODULE_MODE
    }
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
    verified: VerifiedLocks | None = None,
) -> tuple[dict[str, State], list[Diagnostic]]:
    """Render `names` as this side has them; with `check`, validate them first (the head), and
    the manifests in folders `unnamed` too (changed, but without a name to plan them by);
    `verified`: the locks this machine has verified."""
    from compiler.validate.repository import validate

    if not names and not unnamed:
        return {}, []
    folders = {folder for name in names for folder in graph.chain(name)} | set(unnamed)
    references = {path for name in names for path in referenced_paths(graph.merged(name))}
    scratch.mkdir()
    _materialize(git, side, folders, references, scratch)
    diagnostics: list[Diagnostic] = []
    if check:
        report = validate(root=scratch, cwd=scratch)
        diagnostics.extend(report.diagnostics)
        manifests = report.manifests
    else:
        manifests = {
            name: ValidManifest(side.manifests[graph.names[name]], graph.names[name])
            for name in {n for n in graph.names if graph.names[n] in folders}
        }
    try:
        renderer = _SideRenderer(scratch, verified)
    except EnvcError as exc:
        return {name: State(graph.names[name], error=str(exc)) for name in names}, diagnostics
    jobs = [(name, graph.names[name]) for name in sorted(names)]
    pool = worker_pool(len(jobs))
    if pool is None:
        states = {name: renderer.state(name, folder, manifests) for name, folder in jobs}
    else:
        states = dict(renderer.in_workers(jobs, manifests, pool))
    return states, diagnostics


class _SideRenderer:
    """render_environment for one side's scratch folder: its templates, catalog and channels
    loaded once; `verified`: the locks this machine has verified."""

    def __init__(self, scratch: Path, verified: VerifiedLocks | None) -> None:
        from compiler.render.context import repository_renderer

        self.scratch, self.verified = scratch, verified
        self.render_one = repository_renderer(scratch, verified)

    def state(self, name: str, folder: str, manifests: ValidManifests) -> State:
        """How `name` builds on this side. Without its build context's files: the plan reads
        their digests (the address document), and holds both sides of every candidate."""
        from compiler.manifest.model import resolve

        try:
            if name not in manifests:
                raise EnvcError("the manifest is not valid")
            rendered = self.render_one(resolve(name, manifests), self.scratch / folder)
        except (EnvcError, ValueError, OSError) as exc:
            return State(folder, error=_one_line(exc))
        return State(folder, replace(rendered, files={}))

    def in_workers(
        self, jobs: Sequence[tuple[str, str]], manifests: ValidManifests, pool: ProcessPoolExecutor
    ) -> Iterator[tuple[str, State]]:
        """(name, state) of each job, rendered by the workers of `pool`, each sent the
        manifests it resolves from; forked workers inherit this renderer."""
        setting = ("plan", str(self.scratch), self.verified is not None)
        work = ((setting, name, folder, lineage(name, manifests)) for name, folder in jobs)
        for name, state, verified in in_workers(pool, _state_in_worker, work, (setting, self), 8):
            if self.verified is not None:
                for key in verified:
                    self.verified.add(key)
            yield name, state


def _state_in_worker(
    job: tuple[tuple[str, str, bool], str, str, ValidManifests],
) -> tuple[str, State, list[str]]:
    """In a worker: how one environment builds on a side; the locks it verified go back."""
    setting, name, folder, manifests = job
    renderer = made_once(setting, lambda: _side_renderer(*setting))
    if renderer.verified is not None:
        renderer.verified.added.clear()
    state = renderer.state(name, folder, manifests)
    return name, state, sorted(renderer.verified.added) if renderer.verified else []


def _side_renderer(_: str, scratch: str, verifying: bool) -> _SideRenderer:
    """A spawned worker's renderer for the side in `scratch`."""
    from compiler.lock.staleness import VerifiedLocks

    return _SideRenderer(Path(scratch), VerifiedLocks.of_user() if verifying else None)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def scratch_parent() -> str | None:
    """Where the sides are written: memory (/dev/shm) unless TMPDIR says otherwise; thousands of
    small files are created there, which costs 50x more on some disks."""
    if "TMPDIR" not in os.environ and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return None


def duplicate_names(side: Side) -> list[Diagnostic]:
    """The unique-name rule over the whole side (validation sees only the candidates)."""
    from compiler.validate.rules import DUPLICATE_NAME, name_clashes

    owners = sorted(
        (f"{folder}/{MANIFEST}", name)
        for folder, data in side.manifests.items()
        if (name := name_of(data)) is not None
    )
    return [
        Diagnostic(path, 1, 1, message, DUPLICATE_NAME)
        for path, message in sorted(name_clashes(owners).items())
    ]
