"""The command line: the `envc` group and its global options; each command is a module of
compiler/commands/ that parses its own options, calls the stages and prints.

Commands import their stages lazily so that `envc validate` (run by pre-commit on every commit)
and the registry's bookkeeping commands load nothing they do not use.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import click

from compiler import __version__

# Command name -> (module of compiler/commands/, its click command), in the order `envc --help`
# lists them. A command's module is imported when the command runs: the pre-commit hook's
# `envc validate` loads none of the others.
COMMANDS = {
    "init": ("init", "command"),
    "validate": ("validate", "command"),
    "schema": ("schema", "command"),
    "variants": ("variants", "command"),
    "lock": ("lock", "command"),
    "outdated": ("outdated", "command"),
    "audit": ("audit", "command"),
    "render": ("render", "command"),
    "plan": ("plan", "command"),
    "register": ("register", "command"),
    "list": ("list", "command"),
    "show": ("show", "command"),
    "label": ("label", "command"),
    "archive": ("archive", "command"),
    "ci": ("ci", "command"),
    "build": ("build", "command"),
    "install": ("install", "command"),
    "run": ("run", "command"),
    "shell": ("run", "shell_command"),
    "import": ("import_", "command"),
    "export": ("export", "command"),
}


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


class _Commands(click.Group):
    """The `envc` group, loading each command's module when it is asked for."""

    def main(self, args: Any = None, *positional: Any, **options: Any) -> Any:
        """As click's, but a process that used py-rattler in-process (envc install, export)
        leaves with os._exit once its output is flushed: py-rattler 0.28 sometimes crashes
        while the interpreter shuts down (lock/conda.py), turning a finished command's exit
        status into a signal. Called with `args` (from Python: tests, scripts), it returns."""
        if args is not None:
            return super().main(args, *positional, **options)
        try:
            return super().main(args, *positional, **options)
        except SystemExit as leaving:
            if not any(module.split(".")[0] == "rattler" for module in sys.modules):
                raise
            code = leaving.code
            if not isinstance(code, int):
                if code is not None:
                    print(code, file=sys.stderr)
                code = 0 if code is None else 1
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to say
                    stream.flush()
            os._exit(code)

    def list_commands(self, context: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, context: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if name not in self.commands:
            import importlib

            module, attribute = COMMANDS[name]
            command: click.Command = getattr(
                importlib.import_module(f"compiler.commands.{module}"), attribute
            )
            command.params.extend(_common_options())
            self.add_command(command, name)
        return self.commands[name]


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="envc")
def main() -> None:
    """envc compiles environment manifests into locks, build contexts and registry versions.

    Shell completion: eval "$(_ENVC_COMPLETE=bash_source envc)" (zsh_source, fish_source).
    """


main.params.extend(_common_options())
