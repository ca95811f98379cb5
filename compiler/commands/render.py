"""envc render: write build contexts, or diff them against what is on disk."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="render")
@click.argument("names", nargs=-1)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts go (default: build/ in the repository).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 with a unified diff when the rendered output differs.",
)
@common.repo_option
@common.handle_errors
def command(names: tuple[str, ...], out: Path | None, check: bool, repo: Path | None) -> int:
    """Render environments (default: all) into build contexts: a Dockerfile that installs from
    the locks (or install scripts with docker.enabled: false), the lockfiles, envc-build.json."""
    from compiler.render.context import render_repository

    root = common.repository(repo)
    report = common.validated(root)
    outcomes = render_repository(
        root, report.manifests, names, out=out.resolve() if out else None, check=check
    )
    for outcome in outcomes:
        common.result(
            f"{outcome.name}: {outcome.status}", outcome.status in ("rendered", "unchanged")
        )
        click.echo(outcome.diff, nl=False)
        if outcome.error:
            click.echo(f"{outcome.error}", err=True)
    return EXIT_FINDINGS if any(o.status in ("differs", "failed") for o in outcomes) else EXIT_OK
