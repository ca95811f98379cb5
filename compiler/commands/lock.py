"""envc lock: solve environments and write their lockfiles, or check they are fresh."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS


@click.command(name="lock")
@click.argument("names", nargs=-1)
@click.option(
    "--check",
    is_flag=True,
    help="Solve nothing: exit 1 naming each environment whose lock is stale, and why.",
)
@click.option(
    "--force", is_flag=True, help="Re-solve every environment from scratch, fresh or not."
)
@click.option(
    "--update",
    "updates",
    multiple=True,
    metavar="PKG",
    help="Move PKG to its newest allowed version, keeping the rest of each lock.",
)
@click.option(
    "--mirror",
    "mirrors",
    multiple=True,
    metavar="CHANNEL=URL",
    envvar="ENVC_MIRRORS",
    help="Solve CHANNEL from URL (a mirror or local folder); locks record CHANNEL.",
)
@click.option(
    "--pip-index",
    metavar="URL",
    envvar="ENVC_PIP_INDEX",
    help="Resolve pip requirements from this index instead of PyPI.",
)
@click.option(
    "--pip-find-links",
    multiple=True,
    metavar="DIR|URL",
    envvar="ENVC_PIP_FIND_LINKS",
    help="Also look for wheels here (alone: offline, no index).",
)
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    check: bool,
    force: bool,
    updates: tuple[str, ...],
    mirrors: tuple[str, ...],
    pip_index: str | None,
    pip_find_links: tuple[str, ...],
    output_format: str,
    repo: Path | None,
) -> int:
    """Lock environments (default: all) for each of their platforms.

    Writes conda-lock.yml, conda-<platform>.lock, and for pip requirements-<platform>.txt
    (with hashes) and pylock.<platform>.toml (PEP 751) beside each env.yaml. An environment
    whose lock matches its inputs is not solved again and its files are not rewritten.
    """
    from compiler.lock.policy import refuse_sources
    from compiler.lock.repository import configured_sources, lock_repository
    from compiler.validate.config import load_config

    root = common.repository(repo)
    report, invalid = common.valid_part(root, names)
    config = load_config(root)
    mirror_map, index = configured_sources(
        root, config, common.pairs(mirrors, "--mirror", "CHANNEL=URL"), pip_index, pip_find_links
    )
    if not check:
        refuse_sources(config.policy, mirror_map, index)
    with common.progress("lock") as progress:
        outcomes = lock_repository(
            root,
            names,
            check=check,
            update=updates,
            force=force,
            mirrors=mirror_map,
            pip_index=index,
            default_channels=config.channels,
            manifests=report.manifests,
            progress=progress,
            policy=config.policy,
        )
    code = common.report_outcomes(outcomes, output_format)
    violated = common.policy_findings(
        root, config, report.manifests, names, manifest_rules=False, locks=True
    )
    return EXIT_FINDINGS if invalid or violated else code
