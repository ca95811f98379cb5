"""envc import: environments as other tools define them -> manifests."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


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
    from compiler.interop.sources import import_source, importable_sources
    from compiler.validate.repository import validate

    root = common.repository(repo)
    folder = (into or root / "environments").resolve()
    if everything and not source.is_dir():
        raise click.BadParameter(f"{source} is not a folder", param_hint="SOURCE")
    sources = importable_sources(source) if everything else [source]
    written, failed, skipped = [], 0, 0
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
        for one, target in zip([imported, *imported.companions], targets, strict=True):
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
    return EXIT_OK if report.ok and not failed else EXIT_FINDINGS
