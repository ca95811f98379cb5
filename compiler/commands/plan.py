"""envc plan: which environments to rebuild between two git revisions, and why."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="plan")
@common.base_option
@common.head_option
@click.option(
    "--direct",
    is_flag=True,
    help="Compare with BASE itself, not with the merge base of BASE and HEAD.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "markdown", "json", "table")),
    default="text",
    show_default=True,
    help="How to print the plan (text: a table; `table` is the same).",
)
@click.option("--all", "-a", "show_all", is_flag=True, help="List unchanged environments too.")
@click.option(
    "--github-output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help='Append a build matrix to FILE (pass "$GITHUB_OUTPUT" in GitHub Actions).',
)
@click.option(
    "--bake",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write a docker buildx bake file (JSON) building every planned image.",
)
@click.option(
    "--contexts",
    default="build",
    show_default=True,
    metavar="DIR",
    help="Where envc render writes build contexts, as the bake file and matrix name them.",
)
@common.image_prefix_option("Image names in the bake file are PREFIX<name>:<address>")
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when something is to be built (for scripts)."
)
@common.registry_option
@common.repo_option
@click.option(
    "--no-cache",
    is_flag=True,
    envvar="ENVC_NO_CACHE",
    help="Do not use the plan's caches (parsed manifests, remembered renders).",
)
@common.handle_errors
def command(
    base_ref: str,
    head_ref: str | None,
    direct: bool,
    output_format: str,
    show_all: bool,
    github_output: Path | None,
    bake: Path | None,
    contexts: str,
    image_prefix: str | None,
    exit_code: bool,
    registry_url: str | None,
    plain_http: bool,
    repo: Path | None,
    no_cache: bool,
) -> int:
    """Say which environments to rebuild between two git revisions, and why.

    Decides by content address (what the image is built from), explains with the git diff.
    With a registry (--registry, envc.yaml's, or the embedded one when it exists), what is
    already registered is `reuse`, not built.

    Exit status: 0 planned (with --exit-code: 1 when something is to be built), 1 the head
    has problems (printed as diagnostics), 2 usage error (unknown revision, not a git
    repository, history missing from a shallow clone).
    """
    from compiler.plan import output as plan_output
    from compiler.plan.plan import plan as run
    from compiler.registry.base import LazyRegistry

    root = common.repository(repo)
    with ExitStack() as stack:
        registry = LazyRegistry(
            lambda: stack.enter_context(common.plan_registry(root, registry_url, plain_http))
        )
        result = run(
            root,
            base_ref,
            head_ref,
            direct=direct,
            cache=not no_cache,
            registered=registry.versions_of,
        )
    if result.diagnostics:
        from compiler.validate.report import REPORTERS

        click.echo(REPORTERS["text"](result.diagnostics, ()), nl=False, err=True)
    if output_format == "json":
        click.echo(plan_output.as_json(result), nl=False)
    elif output_format == "markdown":
        click.echo(plan_output.markdown(result), nl=False)
    else:
        click.echo(plan_output.table(result, show_all), nl=False)
    if result.diagnostics:
        return EXIT_FINDINGS
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as handle:
            handle.write(plan_output.github_output(result, contexts))
    if bake is not None:
        from compiler._util.files import write_atomically
        from compiler.validate.config import load_config

        images = load_config(root).images(image_prefix)
        write_atomically(bake, plan_output.bake_file(result, contexts, images))
    return EXIT_FINDINGS if exit_code and result.to_build else EXIT_OK
