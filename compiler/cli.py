"""The command line: the `envc` group and its global options; each command is a module of
compiler/commands/ that parses its own options, calls the stages and prints.

Commands import their stages lazily so that `envc validate` (run by pre-commit on every commit)
and the registry's bookkeeping commands load nothing they do not use.
"""

from __future__ import annotations

import os
import sys

import click

from compiler import __version__
from compiler.commands import (
    archive,
    audit,
    build,
    ci,
    export,
    import_,
    init,
    install,
    label,
    lock,
    outdated,
    plan,
    register,
    render,
    run,
    schema,
    show,
    validate,
    variants,
)
from compiler.commands import list as list_


def _settings(context: click.Context) -> dict[str, bool]:
    root = context.find_root()
    if root.obj is None:
        root.obj = {}
    settings: dict[str, bool] = root.obj
    return settings


def _quiet(context: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        settings = _settings(context)
        settings["quiet"] = not settings.get("verbose", False)


def _verbose(context: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        settings = _settings(context)
        settings.update(verbose=True, quiet=False)
        import logging

        logging.basicConfig(format="envc: %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("compiler").setLevel(logging.DEBUG)


def _no_progress(context: click.Context, _: click.Parameter, value: bool) -> None:
    if value:
        _settings(context)["no_progress"] = True


def _color(context: click.Context, _: click.Parameter, value: bool | None) -> None:
    # NO_COLOR / FORCE_COLOR are what rich and the tools envc runs (uv, buildah) read.
    if value is not None:
        context.find_root().color = value
        os.environ.pop("FORCE_COLOR" if not value else "NO_COLOR", None)
        os.environ["NO_COLOR" if not value else "FORCE_COLOR"] = "1"


def _common_options() -> list[click.Option]:
    """Options every command takes, before or after its name (`envc -q lock` and
    `envc lock -q` are the same)."""
    return [
        click.Option(
            ["--quiet", "-q"],
            is_flag=True,
            envvar="ENVC_QUIET",
            expose_value=False,
            callback=_quiet,
            help="Print only what needs attention: problems, failures, stale locks.",
        ),
        click.Option(
            ["--verbose", "-v"],
            is_flag=True,
            envvar="ENVC_VERBOSE",
            expose_value=False,
            callback=_verbose,
            help="Also log what envc runs (solver, uv, buildah) and how long it takes.",
        ),
        click.Option(
            ["--no-progress"],
            is_flag=True,
            envvar="ENVC_NO_PROGRESS",
            expose_value=False,
            callback=_no_progress,
            help="No progress bar or progress lines on standard error.",
        ),
        click.Option(
            ["--color/--no-color"],
            default=None,
            expose_value=False,
            callback=_color,
            help="Colour in progress bars and the tools envc runs (default: on a terminal, "
            "unless NO_COLOR is set).",
        ),
    ]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="envc")
def main() -> None:
    """envc compiles environment manifests into locks, build contexts and registry versions.

    Shell completion: eval "$(_ENVC_COMPLETE=bash_source envc)" (zsh_source, fish_source).
    """


main.params.extend(_common_options())
for module in (
    init,
    validate,
    schema,
    variants,
    lock,
    outdated,
    audit,
    render,
    plan,
    register,
    list_,
    show,
    label,
    archive,
    ci,
    build,
    install,
    run,
    import_,
    export,
):
    module.command.params.extend(_common_options())
    main.add_command(module.command)
run.shell_command.params.extend(_common_options())
main.add_command(run.shell_command)
