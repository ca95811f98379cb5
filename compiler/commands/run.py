"""envc run: a command inside an installed environment, its exit code passed through."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.commands.install import install_named, platform_option, prefix_option


def run_in(
    name: str, command: list[str], prefix: Path | None, platform: str | None, repo: Path | None
) -> int:
    """Install `name` if its lock is not installed yet, then run `command` in it."""
    from compiler.install.prefix import run_environment

    root = common.repository(repo)
    installed = install_named(root, name, prefix, platform)
    env = run_environment(installed.prefix, installed.variables)
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except FileNotFoundError:
        raise click.UsageError(f"{command[0]}: no such command in {name} or on PATH") from None


@click.command(name="run", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@prefix_option
@platform_option
@common.repo_option
@common.handle_errors
def command(
    name: str,
    command: tuple[str, ...],
    prefix: Path | None,
    platform: str | None,
    repo: Path | None,
) -> int:
    """Run COMMAND in environment NAME (installed from its lock first when needed), with its
    variables set; exit with COMMAND's exit code. Put `--` before COMMAND."""
    return run_in(name, list(command), prefix, platform, repo)


@click.command(name="shell")
@click.argument("name")
@prefix_option
@platform_option
@common.repo_option
@common.handle_errors
def shell_command(name: str, prefix: Path | None, platform: str | None, repo: Path | None) -> int:
    """Start your shell ($SHELL) in environment NAME, installed from its lock when needed."""
    return run_in(name, [os.environ.get("SHELL") or "/bin/sh"], prefix, platform, repo)
