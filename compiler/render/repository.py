"""Rendering a repository: every environment's build context, streamed to build/.

Each environment is rendered (render/context.py), compared with what is on disk, handed to a
writer thread and forgotten, so memory does not grow with the repository; one unchanged since the
last render (render/reuse.py) is not rendered at all, and this module imports the renderer (and
with it pydantic, Jinja and the lock readers) only when an environment needs it.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from compiler._util.files import remove_abandoned_temporaries
from compiler.errors import EnvcError, UsageError
from compiler.manifest.sources import ValidManifests
from compiler.render.output import diff_against, on_disk, stage_folder, staging_folder, swap_in
from compiler.render.reuse import RenderMemory

if TYPE_CHECKING:
    from compiler.render.context import RenderedEnvironment

WRITERS = 8


class _Renderer:
    """render_environment for one repository, set up once: templates, catalog, channels, and
    the locks this machine verified."""

    def __init__(self, root: Path) -> None:
        from compiler.lock.staleness import VerifiedLocks
        from compiler.render.context import repository_renderer

        self.root = root
        self.verified = VerifiedLocks.of_user()
        self.render_one = repository_renderer(root, self.verified)

    def render(self, name: str, manifests: ValidManifests) -> RenderedEnvironment:
        from compiler.manifest.model import resolve

        return self.render_one(resolve(name, manifests), self.root / manifests[name][1])


@dataclass(frozen=True)
class RenderOutcome:
    name: str
    status: Literal["rendered", "unchanged", "differs", "failed"]
    diff: str = ""  # with "differs"
    error: str = ""  # with "failed"
    address: str | None = None  # the content address, unless "failed"
    base_image: str | None = None  # the image's base; None without docker


def render_repository(
    root: Path,
    manifests: ValidManifests,
    names: Sequence[str] = (),
    *,
    out: Path | None = None,
    check: bool = False,
) -> list[RenderOutcome]:
    """Render (or with `check`, compare) the named environments, default all.

    Streamed: each environment is rendered, compared with what is on disk, handed to a writer
    thread and forgotten, so memory does not grow with the repository. Writers fill a staging
    folder beside each target; the staged folders are swapped in once every environment has
    rendered, so a set-up error (a template, the catalog) still leaves build/ untouched."""
    unknown = sorted(set(names) - set(manifests))
    if unknown:
        raise EnvcError(f"no environment named {', '.join(unknown)}")
    out = out or root / "build"
    if out.is_dir() and not check:  # what a render killed between its renames left behind
        remove_abandoned_temporaries(out, (".new", ".old"))
    memory = RenderMemory(root, out)
    renderer: _Renderer | None = None  # set up when an environment first needs rendering
    outcomes = []
    staged: list[Path] = []
    keys: dict[str, str | None] = {}
    rendered_now: set[str] = set()  # the others were recalled as they are
    # Creating files dominates on real file systems, and it releases the GIL: write in threads,
    # a bounded number of environments ahead.
    with ThreadPoolExecutor(WRITERS) as pool:
        writing: deque[Future[None]] = deque()
        try:
            for name in sorted(names or manifests):
                keys[name] = memory.key(name, manifests)
                recalled = memory.recall(name, keys[name])
                if recalled is not None:
                    outcomes.append(RenderOutcome(name, "unchanged", "", "", *recalled))
                    continue
                # A set-up error (a template folder, the catalog) stops the render, as a
                # UsageError in one environment does: nothing is written.
                renderer = renderer or _Renderer(root)
                rendered_now.add(name)
                try:
                    rendered = renderer.render(name, manifests)
                except UsageError:
                    raise  # the set-up is wrong (a template, the catalog): nothing renders
                except EnvcError as exc:
                    outcomes.append(RenderOutcome(name, "failed", error=str(exc)))
                    continue
                target = out / name
                current = on_disk(target)
                status: Literal["rendered", "unchanged", "differs"] = "rendered"
                diff = ""
                if current == rendered.files:
                    status = "unchanged"
                elif check:
                    status, diff = "differs", diff_against(target, current, rendered.files)
                else:
                    writing.append(pool.submit(stage_folder, target, rendered.files))
                    staged.append(target)
                    if len(writing) > 2 * WRITERS:
                        writing.popleft().result()
                digest, base_image = rendered.address.digest, rendered.base_image
                outcomes.append(RenderOutcome(name, status, diff, "", digest, base_image))
            for job in writing:
                job.result()
        except BaseException:
            for job in writing:
                job.cancel()
            pool.shutdown(wait=True)
            for target in staged:
                shutil.rmtree(staging_folder(target), ignore_errors=True)
            raise
        list(pool.map(swap_in, staged))
    if renderer is not None:
        renderer.verified.save()
    for outcome in outcomes:
        fresh = outcome.name in rendered_now and outcome.status in ("rendered", "unchanged")
        if fresh and outcome.address is not None:
            memory.remember(outcome.name, keys[outcome.name], outcome.address, outcome.base_image)
    memory.save(None if names else set(manifests))
    return outcomes
