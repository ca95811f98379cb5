"""envc validate: check manifests (the pre-commit hook)."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(common.FORMATS),
    default="text",
    show_default=True,
    help="How to print diagnostics.",
)
@common.repo_option
@click.option(
    "--no-cache",
    is_flag=True,
    envvar="ENVC_NO_CACHE",
    help="Do not read or write .envc/cache/ (manifests already checked), the package specs "
    "known to parse, nor the names --staged remembers per blob.",
)
@click.option(
    "--locks",
    is_flag=True,
    help="Also fail when an environment's locks are stale (no solving; see envc lock).",
)
@click.option(
    "--staged",
    is_flag=True,
    help="Cross-file rules (unique names, extends) see the other manifests as git's index holds "
    "them, what the commit will hold, not the working tree (the pre-commit hook's mode).",
)
@common.handle_errors
def command(
    paths: tuple[Path, ...],
    output_format: str,
    repo: Path | None,
    no_cache: bool,
    locks: bool,
    staged: bool,
) -> int:
    """Check manifests (default: every environments/**/env.yaml).

    YAML, JSON Schema and semantic rules; cross-file rules always see the whole repository.
    Exit status: 0 valid, 1 problems found, 2 usage error.
    """
    from compiler.validate.config import load_config
    from compiler.validate.repository import validate as run

    if staged and not paths:
        raise click.UsageError(
            "--staged checks the files it is given against git's index: name them"
        )
    root = common.repository(repo)
    config = load_config(root)  # a broken envc.yaml stops every command: say so here first
    report = run(paths, root=root, cache=not no_cache, staged=staged)
    common.show(report, output_format)
    if not report.ok:
        return EXIT_FINDINGS
    if common.policy_findings(root, config, report.manifests, (), manifest_rules=True, locks=locks):
        return EXIT_FINDINGS
    if locks:
        from compiler.lock.repository import lock_repository

        outcomes = lock_repository(
            root,
            check=True,
            default_channels=config.channels,
            manifests=report.manifests,
        )
        return common.report_outcomes([o for o in outcomes if o.status == "stale"])
    return EXIT_OK
