"""envc install: create environments from their committed locks on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK, EnvcError

ENVS_DIR = ".envc/envs"

prefix_option = click.option(
    "--prefix",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where to create the environment (default: {ENVS_DIR}/<name>).",
)
platform_option = click.option(
    "--platform", metavar="PLATFORM", help="The platform to install for (default: this one)."
)


def install_named(
    root: Path, name: str, prefix: Path | None, platform: str | None, manifests: Any = None
) -> Any:
    """Install environment `name` (when its lock is not installed there already)."""
    from compiler.commands._sources import lock_sources
    from compiler.install.prefix import install_environment
    from compiler.lock.policy import refuse_environment_indexes
    from compiler.manifest.model import resolve
    from compiler.validate.config import load_config

    if manifests is None:
        manifests = common.validated(root).manifests
    if name not in manifests:
        raise click.BadParameter(f"no environment named {name}", param_hint="NAME")
    config = load_config(root)
    mirrors, index = lock_sources(root, config, (), None, ())  # the policy's mirrors, indexes
    manifest = resolve(name, manifests)
    refuse_environment_indexes(config.policy, name, manifest.pip_indexes)
    return install_environment(
        manifest,
        root,
        root / manifests[name][1],
        (prefix or root / ENVS_DIR / name).absolute(),
        platform=platform,
        default_channels=config.channels,
        mirrors=mirrors,
        pip_index=index,
    )


@click.command(name="install")
@click.argument("names", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Install every environment (CI caches).")
@prefix_option
@platform_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    every: bool,
    prefix: Path | None,
    platform: str | None,
    repo: Path | None,
) -> int:
    """Create environments from their committed locks, without solving and without conda:
    conda packages with py-rattler's installer (every archive's SHA-256 checked), pip packages
    with uv (--require-hashes). A stale lock is refused; an installed lock is not installed
    again. The variables go where `conda activate` finds them."""
    root = common.repository(repo)
    manifests = common.validated(root).manifests
    if every == bool(names):
        raise click.UsageError("name environments to install, or --all")
    if prefix is not None and (every or len(names) > 1):
        raise click.UsageError("--prefix is for one environment")
    failed = False
    for name in sorted(manifests) if every else names:
        try:
            done = install_named(root, name, prefix, platform, manifests)
        except EnvcError as exc:
            if not every:
                raise
            click.echo(f"{name}: failed: {exc}")
            failed = True
            continue
        detail = f"{done.conda} conda, {done.pip} pip package(s)"
        click.echo(f"{name}: {done.status} ({detail}) in {done.prefix}")
    return EXIT_FINDINGS if failed else EXIT_OK
