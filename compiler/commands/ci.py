"""envc ci: the CI job, every stage in order, one report."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="ci")
@common.base_option
@common.head_option
@click.option(
    "--main",
    "main_mode",
    is_flag=True,
    help="Main-branch mode: after the checks, register what the plan builds.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("envc-ci.json"),
    show_default=True,
    help="Where the JSON report of every step goes.",
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help='Append a Markdown summary to FILE (pass "$GITHUB_STEP_SUMMARY" in GitHub Actions).',
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts and docker-bake.json go (default: build/ in the repository).",
)
@common.image_prefix_option("Images are PREFIX<name>:<address> (and :<version> once registered)")
@click.option("--push", is_flag=True, help="--main: push the images built.")
@click.option(
    "--no-build", is_flag=True, help="--main: register definitions without building images."
)
@common.registry_option
@common.repo_option
@common.handle_errors
def command(
    base_ref: str,
    head_ref: str | None,
    main_mode: bool,
    report: Path,
    summary: Path | None,
    out: Path | None,
    image_prefix: str | None,
    push: bool,
    no_build: bool,
    registry_url: str | None,
    plain_http: bool,
    repo: Path | None,
) -> int:
    """The CI job: validate, check locks (no solving), plan, render what is to be built; with
    --main, build it (buildah) and register what built. Writes one JSON report; exit 1 when
    any step failed."""
    import json

    from compiler._util.files import write_atomically
    from compiler.ci.job import run_ci
    from compiler.validate.config import load_config

    root = common.repository(repo)
    with ExitStack() as stack:

        def open_registry() -> Any:
            opener = common.open_registry if main_mode else common.plan_registry
            return stack.enter_context(opener(root, registry_url, plain_http))

        result = run_ci(
            root,
            base_ref,
            head_ref,
            main=main_mode,
            out=out.resolve() if out else None,
            image_prefix=load_config(root).images(image_prefix),
            open_registry=open_registry,
            build=not no_build,
            push=push,
            plain_http=plain_http,
            progress=stack.enter_context(common.progress("ci")),
        )
    write_atomically(report, json.dumps(result.document(), indent=2, sort_keys=True) + "\n")
    text = result.markdown()
    if summary is not None:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    for step in result.steps:
        ok = step.status != "failed"
        common.result(
            f"{step.name}: {step.status}{f' ({step.summary})' if step.summary else ''}", ok
        )
        for line in step.details if step.status == "failed" else ():
            click.echo(f"  {line}")
    return EXIT_OK if result.passed else EXIT_FINDINGS
