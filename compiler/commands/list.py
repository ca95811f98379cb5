"""envc list: registered versions."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="list")
@click.argument("name", required=False)
@click.option("--archived", is_flag=True, help="Include archived versions.")
@common.registry_command
@common.handle_errors
def command(
    name: str | None,
    archived: bool,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """List registered versions (of NAME, or of every environment)."""
    with common.registry_of(repo, registry_url, plain_http) as registry:
        if output_format == "json":
            click.echo(registry.versions_json(name, archived))
        else:
            common.print_records(registry.versions(name, archived), output_format)
    return EXIT_OK
