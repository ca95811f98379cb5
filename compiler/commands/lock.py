"""envc lock: solve environments and write their lockfiles, or check they are fresh."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from compiler.commands import _common as common
from compiler.commands import _sources as sources
from compiler.errors import EXIT_FINDINGS

if TYPE_CHECKING:  # the command line starts without them
    from compiler.lock.pip import PipIndex
    from compiler.manifest.sources import ValidManifests
    from compiler.validate.config import RepositoryConfig


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
    "--upgrade",
    is_flag=True,
    help="Relock from scratch: every package to the newest version the specs allow.",
)
@click.option(
    "--propose",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="With --upgrade: write a pull request body (Markdown) of what moved, per environment.",
)
@click.option(
    "--advisories",
    type=click.Path(path_type=Path),
    envvar="ENVC_ADVISORIES",
    help="With --upgrade: OSV advisories (folder or zip), to say which ones the upgrade fixes.",
)
@sources.source_options
@common.json_option
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    check: bool,
    force: bool,
    updates: tuple[str, ...],
    upgrade: bool,
    propose: Path | None,
    advisories: Path | None,
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
    from compiler.lock.repository import lock_repository
    from compiler.validate.config import load_config

    if (propose or advisories) and not upgrade:
        raise click.UsageError("--propose and --advisories go with --upgrade")
    if upgrade and (check or updates or force):
        raise click.UsageError("--upgrade relocks everything: not with --check, --update, --force")
    root = common.repository(repo)
    report, invalid = common.valid_part(root, names)
    config = load_config(root)
    mirror_map, index = sources.lock_sources(
        root, config, mirrors, pip_index, pip_find_links, refuse=not check
    )
    if upgrade:
        return _upgrade(
            root, names, report.manifests, config, mirror_map, index, propose, advisories, invalid
        )
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


def _upgrade(
    root: Path,
    names: tuple[str, ...],
    manifests: ValidManifests,
    config: RepositoryConfig,
    mirrors: dict[str, str],
    index: PipIndex,
    propose: Path | None,
    advisories: Path | None,
    invalid: bool,
) -> int:
    """envc lock --upgrade: relock from scratch, then say what moved and what it fixes."""
    from compiler._util.files import write_atomically
    from compiler.audit.advisories import load_advisories
    from compiler.audit.drift import proposal_markdown, upgrade, upgrade_summary

    database = load_advisories(advisories) if advisories else None
    with common.progress("lock") as progress:
        upgrades = upgrade(root, manifests, config, mirrors, index, names, database, progress)
    for done in upgrades:
        for line in upgrade_summary(done):
            click.echo(line)
    if propose is not None:
        write_atomically(propose, proposal_markdown(upgrades))
    failed = any(u.status == "failed" for u in upgrades)
    violated = common.policy_findings(
        root, config, manifests, names, manifest_rules=False, locks=True
    )
    return EXIT_FINDINGS if invalid or failed or violated else 0
