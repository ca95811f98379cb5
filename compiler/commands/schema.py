"""envc schema: print the manifest JSON Schema generated from the model."""

from __future__ import annotations

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="schema")
@common.handle_errors
def command() -> int:
    """Print the manifest JSON Schema generated from the model (schemas/manifest.schema.json)."""
    import json

    from compiler.manifest.model import manifest_json_schema

    click.echo(json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK
