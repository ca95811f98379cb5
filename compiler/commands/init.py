"""envc init: a new environments repository."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--no-git", is_flag=True, help="Do not run git init.")
@common.handle_errors
def command(directory: Path, no_git: bool) -> int:
    """Lay out an environments repository in DIRECTORY (default: here): environments/,
    envc.yaml, .gitignore entries, a pre-commit configuration, git. Keeps what exists."""
    from compiler.load.scaffold import initialize

    done = initialize(directory, git=not no_git)
    for item in done.created:
        common.result(f"created {item}")
    for item in done.kept:
        common.result(f"kept {item} (already there)")
    common.result(
        "next: write environments/<name>/env.yaml, then envc lock, envc render, commit, "
        "envc register"
    )
    return EXIT_OK
