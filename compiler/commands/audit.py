"""envc audit: the committed locks against a vulnerability advisory database (OSV)."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="audit")
@click.argument("names", nargs=-1)
@click.option(
    "--advisories",
    type=click.Path(path_type=Path),
    envvar="ENVC_ADVISORIES",
    required=True,
    help="A folder of OSV records (.json) or a zip of them, e.g. osv.dev's PyPI all.zip.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json", "sarif", "github", "markdown")),
    default="text",
    show_default=True,
    help="How to print the findings.",
)
@click.option(
    "--fail-on",
    type=click.Choice(("low", "moderate", "high", "critical")),
    default="low",
    show_default=True,
    help="Exit 1 when a finding is at least this severe.",
)
@common.repo_option
@common.handle_errors
def command(
    names: tuple[str, ...],
    advisories: Path,
    output_format: str,
    fail_on: str,
    repo: Path | None,
) -> int:
    """Check every locked package (conda and pip, every platform) of the environments (default:
    all) against advisories, offline: each finding with its fixed version, and whether it is a
    direct dependency or which one pulls it in."""
    from compiler.audit.advisories import load_advisories
    from compiler.audit.report import REPORTERS
    from compiler.audit.scan import at_least, audit_repository
    from compiler.validate.config import load_config

    root = common.repository(repo)
    report = common.validated(root, names)
    database = load_advisories(advisories)
    findings, unlocked = audit_repository(
        root, report.manifests, database, names, load_config(root).channels
    )
    click.echo(REPORTERS[output_format](findings, unlocked), nl=False)
    if output_format == "text" and not common.quiet():
        click.echo(
            f"envc: {len(findings)} finding(s) in {len({f.environment for f in findings})} "
            f"environment(s), against {database.count} advisories",
            err=True,
        )
    failing = [f for f in findings if at_least(f.severity, fail_on)]
    return EXIT_FINDINGS if failing else EXIT_OK
