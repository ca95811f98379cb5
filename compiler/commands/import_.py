"""envc import: environments as other tools define them -> manifests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.commands import _common as common
from compiler.commands import _sources as sources
from compiler.errors import EXIT_FINDINGS, EXIT_OK

if TYPE_CHECKING:  # the command line starts without it (the pre-commit hook)
    from compiler.manifest.sources import ValidManifests


@click.command(name="import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="SOURCE is a folder: import every environment found under it, reporting each.",
)
@click.option("--name", help="The environment's name (default: from the source).")
@click.option(
    "--from-history",
    is_flag=True,
    help="From a conda environment: only what was asked for, not every installed package.",
)
@click.option(
    "--python",
    "python_version",
    metavar="X.Y",
    help="The Python version of a pip requirements file (the file cannot say).",
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where environment folders go (default: environments/ in the repository).",
)
@click.option("--force", is_flag=True, help="Replace an existing manifest of that name.")
@click.option(
    "--keep-invalid",
    is_flag=True,
    help="Keep a new manifest that does not validate (default: put its folder back).",
)
@click.option(
    "--lock",
    is_flag=True,
    help="Lock what was imported, keeping the versions of the project's own lock "
    "(pixi.lock, conda-lock.yml, uv.lock, poetry.lock beside the source) where the specs allow.",
)
@sources.source_options
@common.repo_option
@common.handle_errors
def command(
    source: Path,
    everything: bool,
    name: str | None,
    from_history: bool,
    python_version: str | None,
    into: Path | None,
    force: bool,
    keep_invalid: bool,
    lock: bool,
    mirrors: tuple[str, ...],
    pip_index: str | None,
    pip_find_links: tuple[str, ...],
    repo: Path | None,
) -> int:
    """Import an environment as a manifest: a conda environment (prefix folder or name), a
    conda environment file or spec list, a pip requirements file, a pixi.toml or
    pyproject.toml (PEP 621, Poetry, conda-lock), an Azure ML v2 environment or deployment, an
    Azure ML SDK v1 saved folder, or an azureml-assets environment folder; notes what it could
    not carry over. Exit 1 when the new manifest does not validate."""
    from compiler._util.files import FolderSnapshot
    from compiler.errors import EnvcError
    from compiler.interop.common import NotAnEnvironment, write_imported
    from compiler.interop.source_locks import lockfile_beside
    from compiler.interop.sources import import_source, importable_sources
    from compiler.validate.repository import validate

    root = common.repository(repo)
    folder = (into or root / "environments").resolve()
    if everything and not source.is_dir():
        raise click.BadParameter(f"{source} is not a folder", param_hint="SOURCE")
    sources = importable_sources(source) if everything else [source]
    written, failed, skipped = [], 0, 0
    lockfiles: dict[str, tuple[Path | None, str]] = {}  # name -> (its project's lock, its env)
    before: dict[Path, FolderSnapshot] = {}  # each written folder as it was, to put back
    for each in sources:
        try:
            imported = import_source(
                each, None if everything else name, from_history, python_version
            )
            for one in (imported, *imported.companions):
                before.setdefault(folder / one.name, FolderSnapshot(folder / one.name))
            targets = write_imported(imported, folder, force)
        except NotAnEnvironment as exc:  # a lockfile, a component: reported, not a failure
            if not everything:
                raise
            skipped += 1
            common.result(f"{each}: skipped: {str(exc).removeprefix(f'{each}: ')}")
            continue
        except EnvcError as exc:
            if not everything:
                raise
            failed += 1
            click.echo(f"{each}: not imported: {str(exc).removeprefix(f'{each}: ')}")
            continue
        written += targets
        beside = lockfile_beside(each)
        for one, target in zip([imported, *imported.companions], targets, strict=True):
            lockfiles[one.name] = (beside, one.locked_as)
            # With --quiet, an import is shown only when something was not carried.
            common.result(f"{one.name}: imported from {each} into {target}", not one.notes)
            for note in one.notes:
                click.echo(f"  note: {note}")
    if everything:
        click.echo(
            f"envc: {len(written)} environment(s) imported, {failed} not imported, "
            f"{skipped} source(s) skipped (not environments)",
            err=True,
        )
    if not written:
        return EXIT_FINDINGS if failed or not everything else EXIT_OK
    report = validate(written, root=root, cache=True)
    common.show(report)
    if not report.ok and not keep_invalid:
        shown = {Path(d.path).resolve() for d in report.diagnostics}  # shown from here
        for target in written:
            place = target.parent.resolve()
            if any(path == place or place in path.parents for path in shown):
                before[target.parent].restore()
                click.echo(
                    f"{target}: not kept, it does not validate (--keep-invalid keeps it)",
                    err=True,
                )
    if lock and report.ok:
        return _lock_imported(
            root, report.manifests, lockfiles, (mirrors, pip_index, pip_find_links), failed
        )
    for name, (beside, _) in sorted(lockfiles.items()):
        if beside is not None and report.ok:
            click.echo(f"  note: {name}: envc import --lock keeps the versions of {beside.name}")
    return EXIT_OK if report.ok and not failed else EXIT_FINDINGS


def _lock_imported(
    root: Path,
    manifests: ValidManifests,
    lockfiles: dict[str, tuple[Path | None, str]],
    options: tuple[tuple[str, ...], str | None, tuple[str, ...]],
    failed: int,
) -> int:
    """Lock the imported environments (`manifests`: the repository as the import's validation
    read it); each keeps its project's locked versions where its specs allow, and says how
    many it kept. `options`: --mirror, --pip-index, --pip-find-links."""
    from compiler.errors import EnvcError
    from compiler.interop.source_locks import kept, lock_seed
    from compiler.lock.inputs import lock_inputs
    from compiler.lock.repository import LockSeed, lock_repository, pinned_versions
    from compiler.manifest.model import resolve
    from compiler.validate.config import load_config

    config = load_config(root)
    mirror_map, index = sources.lock_sources(root, config, *options)
    seeds: dict[str, LockSeed] = {}
    for name, (beside, environment) in lockfiles.items():
        try:
            seed = lock_seed(beside, environment) if beside is not None else None
        except EnvcError as exc:
            raise EnvcError(
                f"{exc}\n(imported, not locked: envc lock locks them at the newest versions)"
            ) from None
        if seed is not None:
            seeds[name] = seed
    with common.progress("lock") as progress:
        outcomes = lock_repository(
            root,
            sorted(lockfiles),
            mirrors=mirror_map,
            pip_index=index,
            default_channels=config.channels,
            manifests=manifests,
            progress=progress,
            policy=config.policy,
            seeds=seeds,
        )
    code = common.report_outcomes(outcomes, "text")
    for outcome in outcomes:
        seed = seeds.get(outcome.name)
        if seed is None or outcome.status not in ("locked", "fresh"):
            continue
        folder = root / manifests[outcome.name].folder
        inputs = lock_inputs(resolve(outcome.name, manifests), root, config.channels)
        platforms = inputs.platforms if inputs is not None else ()
        held, total, moved = kept(seed, {p: pinned_versions(folder, [p]) for p in platforms})
        shown = "; moved: " + ", ".join(moved[:5]) + (" …" if len(moved) > 5 else "")
        click.echo(
            f"  {outcome.name}: {held} of {total} versions of {seed.source} kept"
            f"{shown if moved else ''}"
        )
    return code if not failed else EXIT_FINDINGS
