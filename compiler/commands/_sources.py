"""Where the solvers read packages from: the --mirror, --pip-index and --pip-find-links options
of the commands that solve (lock, outdated), with envc.yaml's settings and the policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler.commands._common import pairs

if TYPE_CHECKING:  # the command line starts without it (the pre-commit hook)
    from compiler.validate.config import RepositoryConfig


def source_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--mirror, --pip-index and --pip-find-links: where the solvers read packages from."""
    for option in reversed(
        (
            click.option(
                "--mirror",
                "mirrors",
                multiple=True,
                metavar="CHANNEL=URL",
                envvar="ENVC_MIRRORS",
                help="Solve CHANNEL from URL (a mirror or local folder); locks record CHANNEL.",
            ),
            click.option(
                "--pip-index",
                metavar="URL",
                envvar="ENVC_PIP_INDEX",
                help="Resolve pip requirements from this index instead of PyPI.",
            ),
            click.option(
                "--pip-find-links",
                multiple=True,
                metavar="DIR|URL",
                envvar="ENVC_PIP_FIND_LINKS",
                help="Also look for wheels here (alone: offline, no index).",
            ),
        )
    ):
        function = option(function)
    return function


def lock_sources(
    root: Path,
    config: RepositoryConfig,
    mirrors: tuple[str, ...],
    pip_index: str | None,
    pip_find_links: tuple[str, ...],
    *,
    refuse: bool = True,
) -> tuple[dict[str, str], Any]:
    """Mirrors and pip index of the options and envc.yaml (`refuse`: policy-allowed only)."""
    from compiler.lock.policy import refuse_sources
    from compiler.lock.repository import configured_sources

    mirror_map, index = configured_sources(
        root, config, pairs(mirrors, "--mirror", "CHANNEL=URL"), pip_index, pip_find_links
    )
    if refuse:
        refuse_sources(config.policy, mirror_map, index)
    return mirror_map, index
