"""envc archive: hide a version for good."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="archive")
@click.argument("reference", metavar="NAME@VERSION")
@common.registry_command
@common.handle_errors
def command(
    reference: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Archive a version: hidden from list and latest, its number never reused."""
    name, version = common.versioned(reference)
    with common.registry_of(repo, registry_url, plain_http) as registry:
        common.print_records([registry.archive(name, version)], output_format)
    return EXIT_OK
