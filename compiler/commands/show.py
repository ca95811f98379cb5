"""envc show: one registered version."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK, EnvcError


@click.command(name="show")
@click.argument("reference", metavar="NAME[@VERSION|:LABEL]")
@click.option(
    "--sbom",
    "sbom_file",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Print the version's SBOM (CycloneDX JSON) instead; FILE picks one of several "
    "(sbom-<platform>.cdx.json of an environment without Docker).",
)
@common.registry_command
@common.handle_errors
def command(
    reference: str,
    sbom_file: str | None,
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
        sboms = registry.sboms(name, record.version) if sbom_file is not None else {}
    if sbom_file is not None:
        return _print_sbom(f"{name}@{record.version}", sboms, sbom_file)
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


def _print_sbom(version: str, sboms: dict[str, bytes], file: str) -> int:
    if not sboms:
        raise EnvcError(f"{version} has no SBOM in this registry (registered before SBOMs were)")
    if not file and len(sboms) > 1:
        raise click.UsageError(f"{version} has {len(sboms)} SBOMs: pick one: {', '.join(sboms)}")
    chosen = file or next(iter(sboms))
    if chosen not in sboms:
        raise click.UsageError(f"{version} has no {chosen}; it has {', '.join(sboms)}")
    click.echo(sboms[chosen].decode(), nl=False)
    return EXIT_OK
