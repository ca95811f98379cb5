"""envc outdated: which locked packages have newer versions, and what holds them back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.commands import _sources as sources
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="outdated")
@click.argument("names", nargs=-1)
@sources.source_options
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    mirrors: tuple[str, ...],
    pip_index: str | None,
    pip_find_links: tuple[str, ...],
    output_format: str,
    repo: Path | None,
) -> int:
    """List the locked packages of the environments (default: all) that have newer versions in
    their channels and indexes: the version a relock moves to (`envc lock --upgrade`), and a
    newer one a spec holds back, with that spec. Solves into scratch folders with the real
    solvers; changes nothing. Exit 0 (exit 1 only when an environment cannot be told)."""
    from compiler.audit.drift import outdated
    from compiler.validate.config import load_config

    root = common.repository(repo)
    report = common.validated(root, names)
    config = load_config(root)
    mirror_map, index = sources.lock_sources(root, config, mirrors, pip_index, pip_find_links)
    behind, problems = outdated(root, report.manifests, config, mirror_map, index, names)
    if output_format == "json":
        document = {"outdated": [b.as_dict() for b in behind], "problems": problems}
        click.echo(json.dumps(document, indent=2, sort_keys=True))
    else:
        for item in behind:
            line = f"{item.environment}: {item.package} {item.locked}"
            if item.allowed != item.locked:
                line += f" -> {item.allowed} (envc lock --upgrade {item.environment})"
            if item.held_by:
                line += f"; {item.newest} is held back by {item.held_by}"
            click.echo(line)
        if not behind and not common.quiet():
            click.echo("envc: every locked package is at its newest version", err=True)
    for problem in problems:
        click.echo(f"envc: {problem}", err=True)
    return EXIT_FINDINGS if problems else EXIT_OK
