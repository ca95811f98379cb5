"""envc show: one registered version."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="show")
@click.argument("reference", metavar="NAME[@VERSION|:LABEL]")
@common.registry_command
@common.handle_errors
def command(
    reference: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Show one registered version (default: latest), with its resolved manifest."""
    import json

    from compiler.registry.base import parse_reference

    name, version, label = parse_reference(reference)
    with common.registry_of(repo, registry_url, plain_http) as registry:
        record = registry.get(name, version, label)
    if output_format == "json":
        click.echo(json.dumps(record.as_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        return EXIT_OK
    for key, value in record.summary().items():
        if isinstance(value, (list, dict)):
            value = (
                ", ".join(f"{k}={v}" for k, v in value.items())
                if isinstance(value, dict)
                else ", ".join(value)
            )
        click.echo(f"{key}: {value if value not in (None, '') else '-'}")
    click.echo("manifest: " + json.dumps(record.manifest, sort_keys=True, ensure_ascii=False))
    return EXIT_OK
