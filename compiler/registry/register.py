"""Registering the repository's environments: head state -> registry versions.

Each environment named (default: every one; with a saved plan: the ones it builds) is rendered
in memory as `envc render` would, its content address computed, and registered with the commit
it comes from. Registering is idempotent, so re-running a job after a failure picks up where it
stopped. Uncommitted changes are refused (a version must be traceable to a commit) unless
`allow_dirty`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from compiler._util.git import Git
from compiler._util.heap import cycle_collection_paused
from compiler._util.resources import CONFIG_FILE
from compiler.errors import EnvcError, UsageError
from compiler.lock.verified import VerifiedLocks
from compiler.manifest.sources import ValidManifests
from compiler.plan.result import PLAN_FORMAT_VERSION, archived_content
from compiler.registry.base import Candidate, Registration, Registry, RegistryError
from compiler.render.batch import rendered_in_memory
from compiler.render.rendered import RenderedEnvironment

MAX_PLAN_BYTES = 256 * 1024 * 1024  # a saved plan of 50,000 environments is ~20 MB


@dataclass(frozen=True)
class RegisterOutcome:
    name: str
    registration: Registration


def planned_names(plan_file: Path) -> dict[str, str]:
    """name -> head content address of the environments a saved plan (`envc plan --format
    json`) builds."""
    from compiler._util.files import UnreadableFile, read_bounded

    try:
        document = json.loads(read_bounded(plan_file, MAX_PLAN_BYTES))
        if document.get("plan_format_version") != PLAN_FORMAT_VERSION:
            raise ValueError(f"plan_format_version must be {PLAN_FORMAT_VERSION}")
        return {e["name"]: e["address"] for e in document["environments"] if e["rebuild"]}
    except (UnreadableFile, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(
            f"{plan_file}: not a saved plan (envc plan --format json): {exc}"
        ) from None


def render_heads(
    root: Path, manifests: ValidManifests, names: Sequence[str]
) -> dict[str, RenderedEnvironment]:
    """The named environments as the working tree renders them (in memory); locks this machine
    has verified (`envc lock --check`, `envc ci`) are not verified again."""
    verified = VerifiedLocks.of_user()
    rendered = {}
    for name, result in rendered_in_memory(root, manifests, names, verified):
        if isinstance(result, str):
            raise EnvcError(result)
        rendered[name] = result
    verified.save()
    return rendered


@cycle_collection_paused()
def register_repository(
    root: Path,
    manifests: ValidManifests,
    registry: Registry,
    names: Sequence[str] = (),
    *,
    plan_file: Path | None = None,
    image_prefix: str | None = None,
    digests: Mapping[str, str] | None = None,
    allow_dirty: bool = False,
) -> list[RegisterOutcome]:
    """Register the head state of the named environments (default all, or a plan's)."""
    planned = planned_names(plan_file) if plan_file is not None else None
    selected = sorted(names or (planned if planned is not None else manifests))
    unknown = sorted(set(selected) - set(manifests))
    if unknown:
        raise UsageError(f"no environment named {', '.join(unknown)}")
    commit, author_time = _commit(root, manifests, selected, allow_dirty)
    rendered = render_heads(root, manifests, selected)
    if planned is not None:
        moved = [n for n in selected if n in planned and planned[n] != rendered[n].address.digest]
        if moved:
            raise UsageError(
                f"the working tree is not the plan's head ({', '.join(moved)} differ); "
                "register from the commit the plan was made for"
            )
    found = registry.find_all([(name, rendered[name].address.digest) for name in selected])
    archived = [
        archived_content(name, record.version)
        for name, record in zip(selected, found, strict=True)
        if record is not None and record.archived
    ]
    if archived:  # before anything is registered: all of them or none
        raise RegistryError("\n".join(archived))
    candidates = []
    for name in selected:
        head = rendered[name]
        candidates.append(
            Candidate(
                name=name,
                content_address=head.address.digest,
                manifest=head.manifest,
                lock_digests=head.address.document["locks"],
                image_repository=f"{image_prefix}{name}"
                if image_prefix and head.base_image
                else None,
                image_digest=(digests or {}).get(name),
                commit=commit,
                author_time=author_time,
                requested_version=head.manifest["version"],
                context=head.files,
            )
        )
    registrations = registry.register_all(candidates)
    return [RegisterOutcome(name, r) for name, r in zip(selected, registrations, strict=True)]


def _commit(
    root: Path, manifests: ValidManifests, names: Sequence[str], allow_dirty: bool
) -> tuple[str | None, str | None]:
    """The commit the environments come from; an error when their files have uncommitted
    changes (unless `allow_dirty`), or when there is no commit at all."""
    try:
        git = Git(root)
    except EnvcError:
        if allow_dirty:
            return None, None
        raise UsageError(
            f"{root} is not a git repository: a registered version must come from a commit "
            "(--allow-dirty registers anyway)"
        ) from None
    head = git.head()
    if head is None:
        if allow_dirty:
            return None, None
        raise UsageError("no commit yet: commit the environments first (or pass --allow-dirty)")
    changed = uncommitted_paths(git, manifests, names)
    if not changed:
        return head
    if allow_dirty:  # no commit holds what is registered: record none rather than HEAD
        return None, None
    raise UsageError(
        f"uncommitted changes in {', '.join(changed[:5])}"
        f"{' …' if len(changed) > 5 else ''}: commit them first (or pass --allow-dirty)"
    )


def uncommitted_paths(git: Git, manifests: ValidManifests, names: Sequence[str]) -> list[str]:
    """The files a registration of `names` depends on that differ from HEAD: their folders,
    their parents', the templates and envc.yaml."""
    paths = sorted({folder for name in names for folder in _folders(name, manifests)})
    return git.uncommitted([*paths, "templates", CONFIG_FILE])


def _folders(name: str, manifests: ValidManifests) -> list[str]:
    """The folders of `name` and its parents (validation has ruled out cycles)."""
    folders = []
    current: str | None = name
    while current is not None and current in manifests:
        data, folder = manifests[current]
        folders.append(folder)
        current = data.get("extends")
    return folders
