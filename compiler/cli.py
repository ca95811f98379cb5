"""The command line: the `envc` group and its global options; each command is a module of
compiler/commands/ that parses its own options, calls the stages and prints.

Commands import their stages lazily so that `envc validate` (run by pre-commit on every commit)
and the registry's bookkeeping commands load nothing they do not use.
"""

from __future__ import annotations

import sys

import click

from compiler import __version__
from compiler.commands import (
    archive,
    build,
    ci,
    export,
    import_,
    label,
    lock,
    plan,
    register,
    render,
    schema,
    show,
    validate,
)
from compiler.commands import list as list_


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envc")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar="ENVC_QUIET",
    help="Print only what needs attention: problems, failures, stale locks.",
)
@click.option(
    "--verbose",
    is_flag=True,
    envvar="ENVC_VERBOSE",
    help="Also log what envc runs (solver, uv, buildah) and how long it takes, on stderr.",
)
@click.pass_context
def main(context: click.Context, quiet: bool, verbose: bool) -> None:
    """envc compiles environment manifests into locks, build contexts and registry versions."""
    context.obj = {"quiet": quiet and not verbose}
    if verbose:
        import logging

        logging.basicConfig(format="envc: %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("compiler").setLevel(logging.DEBUG)


for module in (
    validate,
    schema,
    lock,
    render,
    plan,
    register,
    list_,
    show,
    label,
    archive,
    ci,
    build,
    import_,
    export,
):
    main.add_command(module.command)
