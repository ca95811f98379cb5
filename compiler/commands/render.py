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
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...], out: Path | None, check: bool, output_format: str, repo: Path | None
) -> int:
    """Render environments (default: all) into build contexts: a Dockerfile that installs from
    the locks (or install scripts with docker.enabled: false), the lockfiles, envc-build.json."""
    from compiler.render.repository import render_repository

    root = common.repository(repo)
    report, invalid = common.valid_part(root, names)
    outcomes = render_repository(
        root, report.manifests, names, out=out.resolve() if out else None, check=check
    )
    if output_format == "json":
        import json

        documents = [
            {
                "name": o.name,
                "status": o.status,
                "address": o.address,
                "error": o.error or None,
                "diff": o.diff or None,
            }
            for o in outcomes
        ]
        click.echo(json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False))
    lines: list[tuple[str, bool]] = []  # printed together until a diff or an error follows
    for outcome in outcomes if output_format == "text" else ():
        lines.append((f"{outcome.name}: {outcome.status}", outcome.ok))
        if outcome.diff or outcome.error:
            common.results(lines)
            lines = []
            click.echo(outcome.diff, nl=False)
            if outcome.error:
                click.echo(f"{outcome.error}", err=True)
    common.results(lines)
    failed = invalid or any(o.status in ("differs", "failed") for o in outcomes)
    return EXIT_FINDINGS if failed else EXIT_OK
