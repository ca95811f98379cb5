"""envc register: record environments as registry versions."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="register")
@click.argument("names", nargs=-1)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Register what a saved plan (envc plan --format json) builds.",
)
@click.option(
    "--image-digest",
    "digests",
    multiple=True,
    metavar="NAME=sha256:…",
    help="The digest a build reported for NAME's image (repeatable).",
)
@common.image_prefix_option("Images are PREFIX<name>:<version>")
@click.option(
    "--allow-dirty", is_flag=True, help="Register even with uncommitted changes (no commit)."
)
@common.registry_option
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    plan_file: Path | None,
    digests: tuple[str, ...],
    image_prefix: str | None,
    allow_dirty: bool,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Register environments (default: all) as new versions; an address a name already has
    returns its existing version (idempotent)."""
    import json

    from compiler.registry.register import register_repository
    from compiler.validate.config import load_config

    root = common.repository(repo)
    report = common.validated(root)
    digest_map = common.pairs(digests, "--image-digest", "NAME=sha256:…")
    for name, digest in digest_map.items():
        if not digest.startswith("sha256:"):
            raise click.BadParameter(
                f"expected NAME=sha256:…, got {name}={digest!r}", param_hint="--image-digest"
            )
    with common.open_registry(root, registry_url, plain_http) as registry:
        outcomes = register_repository(
            root,
            report.manifests,
            registry,
            names,
            plan_file=plan_file,
            image_prefix=load_config(root).images(image_prefix),
            digests=digest_map,
            allow_dirty=allow_dirty,
        )
    if output_format == "json":
        documents = [
            {**o.registration.record.summary(), "created": o.registration.created} for o in outcomes
        ]
        click.echo(json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False))
    lines = []
    for outcome in outcomes if output_format == "text" else ():
        record = outcome.registration.record
        how = "registered" if outcome.registration.created else "already registered"
        lines.append((f"{record.name}@{record.version}: {how} ({record.content_address})", True))
    common.results(lines)
    return EXIT_OK
