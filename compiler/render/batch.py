"""Rendering many environments into memory, for the stages that compare or record them rather
than write them (plan, register): in worker processes when there are many, as render does.

Imports the renderer (pydantic, Jinja, the lock readers): its callers import it where they
first render.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from compiler._util.processes import in_workers, made_once, worker_pool
from compiler.errors import EnvcError
from compiler.lock.verified import VerifiedLocks
from compiler.manifest.model import resolve
from compiler.manifest.sources import ValidManifests, lineage
from compiler.render.context import repository_renderer
from compiler.render.rendered import RenderedEnvironment

# A rendered environment, or the one-line reason it cannot be rendered.
Rendered = RenderedEnvironment | str


class _Batch:
    """render_environment for the repository at `root`: templates, catalog and channels loaded
    once; `verified`: the locks this machine has verified; `files`: keep each build context's
    files (without them, a rendered environment holds its address, locks and base image)."""

    def __init__(self, root: Path, verified: VerifiedLocks | None, files: bool) -> None:
        self.root, self.verified, self.files = root, verified, files
        self.render_one = repository_renderer(root, verified)

    @property
    def setting(self) -> tuple[str, str, bool, bool]:
        """What a spawned worker makes its own batch from (_worker_batch)."""
        return "batch", str(self.root), self.verified is not None, self.files

    def rendered(self, name: str, manifests: ValidManifests) -> Rendered:
        try:
            if name not in manifests:
                raise EnvcError("the manifest is not valid")
            folder = self.root / manifests[name].folder
            rendered = self.render_one(resolve(name, manifests), folder)
        except (EnvcError, ValueError, OSError) as exc:
            return " ".join(str(exc).split())
        return rendered if self.files else replace(rendered, files={})


def rendered_in_memory(
    root: Path,
    manifests: ValidManifests,
    names: Sequence[str],
    verified: VerifiedLocks | None,
    *,
    files: bool = True,
) -> Iterator[tuple[str, Rendered]]:
    """(name, rendered or why not) of each environment of `names`, in order. Raises EnvcError
    at once when the repository's set-up (templates, catalog, channels) is wrong. `verified`
    learns the locks verified on the way."""
    batch = _Batch(root, verified, files)
    pool = worker_pool(len(names))
    if pool is None:
        for name in names:
            yield name, batch.rendered(name, manifests)
        return
    # A worker gets the manifests the environment is resolved from, not the repository's.
    work = ((batch.setting, name, lineage(name, manifests)) for name in names)
    for name, rendered, keys in in_workers(pool, _in_worker, work, (batch.setting, batch), 8):
        if verified is not None:
            for key in keys:
                verified.add(key)
        yield name, rendered


def _in_worker(
    job: tuple[tuple[str, str, bool, bool], str, ValidManifests],
) -> tuple[str, Rendered, list[str]]:
    """In a worker: one environment rendered; the locks it verified go back."""
    setting, name, manifests = job
    batch = made_once(setting, lambda: _worker_batch(*setting))
    if batch.verified is not None:
        batch.verified.added.clear()
    rendered = batch.rendered(name, manifests)
    return name, rendered, sorted(batch.verified.added) if batch.verified else []


def _worker_batch(_: str, root: str, verifying: bool, files: bool) -> _Batch:
    """A spawned worker's batch (a forked one inherits its parent's)."""
    return _Batch(Path(root), VerifiedLocks.of_user() if verifying else None, files)
