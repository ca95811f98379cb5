"""Rendering a repository: every environment's build context, streamed to build/.

Each environment is rendered (render/context.py), compared with what is on disk, staged beside
its target and forgotten, so one environment's files are in memory at a time (what stays is an
outcome per environment); one unchanged since the last render (render/reuse.py) is not rendered
at all, and this module imports the renderer (and with it pydantic, Jinja and the lock readers)
only when an environment needs it. Many environments are rendered by worker processes, one per
core (forked when that is safe, else spawned), each staging its own.
"""

from __future__ import annotations

import os
import shutil
from collections import deque
from collections.abc import Generator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from compiler._util.files import remove_abandoned_temporaries
from compiler._util.processes import (
    in_workers,
    made_once,
    worker_count,
    worker_pool,
)
from compiler.errors import EnvcError, UsageError
from compiler.manifest.sources import ValidManifests, lineage
from compiler.render.output import (
    FileContent,
    as_bytes,
    diff_against,
    file_digest,
    on_disk,
    stage_folder,
    staging_folder,
    swap_in,
)
from compiler.render.reuse import RenderMemory, content_digest

# concurrent.futures (~8 ms) is imported when something is rendered, not when all is unchanged.
if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

WRITERS = 8


@dataclass(frozen=True, slots=True)
class RenderOutcome:
    name: str
    status: Literal["rendered", "unchanged", "differs", "failed"]
    diff: str = ""  # with "differs"
    error: str = ""  # with "failed"
    address: str | None = None  # the content address, unless "failed"
    base_image: str | None = None  # the image's base; None without docker
    written: str = ""  # with "rendered" and "unchanged": the files' content_digest (reuse.py)

    @property
    def ok(self) -> bool:
        """Rendered, or unchanged: the output holds what the environment renders to."""
        return self.status in ("rendered", "unchanged")


class _Renderer:
    """Environments of one repository rendered into `out` (or compared with it, `check`): set
    up once with the templates, catalog, channels and the locks this machine verified. `run`:
    the render's process id, which names its staging folders (workers stage with it too)."""

    def __init__(self, root: Path, out: Path, check: bool, run: int) -> None:
        from compiler.lock.verified import VerifiedLocks
        from compiler.render.context import repository_renderer

        self.root, self.out, self.check, self.run = root, out, check, run
        self.verified = VerifiedLocks.of_user()
        self.render_one = repository_renderer(root, self.verified)

    @property
    def setting(self) -> tuple[Path, Path, bool, int]:
        """What a worker makes its own renderer from."""
        return self.root, self.out, self.check, self.run

    def outcome(
        self, name: str, manifests: ValidManifests
    ) -> tuple[RenderOutcome, Mapping[str, FileContent] | None]:
        """Render `name` and compare it with its output folder: the outcome, and the files to
        stage (None: nothing to write)."""
        from compiler.manifest.model import resolve

        try:
            rendered = self.render_one(resolve(name, manifests), self.root / manifests[name][1])
        except UsageError:
            raise  # the set-up is wrong (a template, the catalog): nothing renders
        except EnvcError as exc:
            return RenderOutcome(name, "failed", error=str(exc)), None
        target = self.out / name
        current = on_disk(target)
        status: Literal["rendered", "unchanged", "differs"] = "rendered"
        diff, files = "", None
        if current == rendered.files:
            status = "unchanged"
        elif self.check:
            status, diff = "differs", diff_against(target, current, rendered.files)
        else:
            files = rendered.files
        address, base_image = rendered.address.digest, rendered.base_image
        # The address hashed every file but envc-build.json: their digests are taken from it.
        hashed = rendered.address.document["context"]
        written = content_digest(
            {n: hashed.get(n) or file_digest(as_bytes(c)) for n, c in rendered.files.items()}
        )
        return RenderOutcome(name, status, diff, "", address, base_image, written), files

    def in_process(self, names: Sequence[str], manifests: ValidManifests) -> _Results:
        """(outcome, staged) of each of `names`, rendered here; creating files dominates on
        real file systems and releases the GIL, so threads write, a bounded number ahead."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITERS) as pool:
            writing: deque[Future[None]] = deque()
            try:
                for name in names:
                    outcome, files = self.outcome(name, manifests)
                    if files is not None:
                        writing.append(pool.submit(stage_folder, self.out / name, files, self.run))
                        if len(writing) > 2 * WRITERS:
                            writing.popleft().result()
                    yield outcome, files is not None
                for job in writing:
                    job.result()
            except BaseException:
                for job in writing:
                    job.cancel()
                raise

    def in_workers(
        self, names: Sequence[str], manifests: ValidManifests, pool: ProcessPoolExecutor
    ) -> _Results:
        """(outcome, staged) of each of `names`, rendered by the workers of `pool`, each sent
        the manifests it resolves from; forked workers inherit this renderer."""
        jobs = ((self.setting, name, lineage(name, manifests)) for name in names)
        chunks = max(1, min(16, len(names) // (worker_count() * 8)))
        shared = (self.setting, self)
        for outcome, staged, verified in in_workers(pool, _render_in_worker, jobs, shared, chunks):
            for key in verified:
                self.verified.add(key)
            yield outcome, staged


_Results = Generator[tuple[RenderOutcome, bool], None, None]


def _render_in_worker(
    job: tuple[tuple[Path, Path, bool, int], str, ValidManifests],
) -> tuple[RenderOutcome, bool, list[str]]:
    """In a worker: render an environment and stage its files; the locks it verified go back."""
    setting, name, manifests = job
    renderer = made_once(setting, lambda: _Renderer(*setting))
    renderer.verified.added.clear()
    outcome, files = renderer.outcome(name, manifests)
    if files is not None:
        stage_folder(renderer.out / name, files, renderer.run)
    return outcome, files is not None, sorted(renderer.verified.added)


def render_repository(
    root: Path,
    manifests: ValidManifests,
    names: Sequence[str] = (),
    *,
    out: Path | None = None,
    check: bool = False,
) -> list[RenderOutcome]:
    """Render (or with `check`, compare) the named environments, default all.

    Streamed: each environment is rendered, compared with what is on disk, staged and
    forgotten, so its files are not held past it. Each is staged in a folder beside
    its target; the staged folders are swapped in once every environment has rendered, so an
    interruption or a set-up error (a template, the catalog) still leaves build/ untouched."""
    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise EnvcError(f"no environment named {', '.join(unknown)}")
    out = out or root / "build"
    if out.is_dir() and not check:  # what a render killed between its renames left behind
        remove_abandoned_temporaries(out, (".new", ".old"))
    memory = RenderMemory(root, out)
    keys: dict[str, str | None] = {}
    recalled: dict[str, RenderOutcome] = {}
    for name in sorted(names or manifests):
        keys[name] = memory.key(name, manifests)
        found = memory.recall(name, keys[name])
        if found is not None:
            recalled[name] = RenderOutcome(name, "unchanged", "", "", *found)
    pending = [name for name in keys if name not in recalled]
    rendered: dict[str, RenderOutcome] = {}
    if pending:
        # A set-up error (a template folder, the catalog) stops the render here.
        renderer = _Renderer(root, out, check, os.getpid())
        pool = worker_pool(len(pending))
        staged = []  # names: a Path each would weigh more than the rest of an outcome
        try:
            with closing(
                renderer.in_workers(pending, manifests, pool)
                if pool is not None
                else renderer.in_process(pending, manifests)
            ) as results:
                for outcome, was_staged in results:
                    rendered[outcome.name] = outcome
                    if was_staged:
                        staged.append(outcome.name)
        except BaseException:
            for name in pending:
                shutil.rmtree(staging_folder(out / name, renderer.run), ignore_errors=True)
            raise

        def swap_share(names: list[str]) -> None:
            for name in names:
                swap_in(out / name, run=renderer.run)

        # A share of the environments per thread: a future per environment would weigh more
        # than the environments' outcomes together.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(WRITERS) as swapping:
            list(swapping.map(swap_share, [staged[start::WRITERS] for start in range(WRITERS)]))
        renderer.verified.save()
    for outcome in rendered.values():
        if outcome.ok and outcome.address is not None:
            memory.remember(
                outcome.name,
                keys[outcome.name],
                outcome.address,
                outcome.base_image,
                outcome.written,
            )
    memory.save(None if names else set(manifests))
    return [recalled.get(name) or rendered[name] for name in keys]
