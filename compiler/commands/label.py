"""envc label: point a label at a version."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="label")
@click.argument("reference", metavar="NAME@VERSION")
@click.argument("label")
@common.registry_command
@common.handle_errors
def command(
    reference: str,
    label: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Point LABEL of NAME at VERSION (moving it if it was elsewhere)."""
    name, version = common.versioned(reference)
    with common.registry_of(repo, registry_url, plain_http) as registry:
        common.print_records([registry.label(name, version, label)], output_format)
    return EXIT_OK
