"""envc build: build environments' images with buildah."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="build")
@click.argument("names", nargs=-1)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Build what a saved plan (envc plan --format json) builds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts are rendered (default: build/ in the repository).",
)
@common.image_prefix_option("Images are PREFIX<name>:<address>")
@click.option("--push", is_flag=True, help="Push each image built and report its digest.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    metavar="N",
    help="Build N images at once (default: one per two CPUs).",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Run every step again (default: reuse the layers of unchanged steps).",
)
@common.plain_http_option
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    plan_file: Path | None,
    out: Path | None,
    image_prefix: str | None,
    push: bool,
    jobs: int | None,
    no_cache: bool,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Build environments' images (default: every one with docker enabled) with buildah, from
    freshly rendered build contexts. Exit 1 when any build failed; the others still build."""
    import json
    from dataclasses import asdict

    from compiler.build.images import BUILD_LOGS, build_repository, default_jobs
    from compiler.registry.register import planned_names
    from compiler.validate.config import load_config

    root = common.repository(repo)
    report = common.validated(root)
    selected = list(names) or (
        sorted(planned_names(plan_file)) if plan_file else sorted(report.manifests)
    )
    with common.progress("build") as progress:
        outcomes = build_repository(
            root,
            report.manifests,
            selected,
            out=out.resolve() if out else root / "build",
            image_prefix=load_config(root).images(image_prefix),
            push=push,
            plain_http=plain_http,
            jobs=jobs or default_jobs(),
            cache=not no_cache,
            progress=progress,
        )
    if output_format == "json":
        click.echo(json.dumps([asdict(o) for o in outcomes], indent=2, sort_keys=True))
    for outcome in outcomes if output_format == "text" else ():
        if outcome.status == "skipped":
            common.result(f"{outcome.name}: skipped: {outcome.log}")
            continue
        digest = f" {outcome.digest}" if outcome.digest else ""
        common.result(
            f"{outcome.name}: {outcome.status} {outcome.image}{digest}", outcome.status == "built"
        )
        for line in outcome.log.splitlines():
            click.echo(f"  {line}")
        if outcome.status == "failed":
            click.echo(f"  (the whole log: {BUILD_LOGS}/{outcome.name}.log)")
    return EXIT_FINDINGS if any(o.status == "failed" for o in outcomes) else EXIT_OK
