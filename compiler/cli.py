"""The command line: a thin layer that parses arguments, calls a stage, prints, and exits.

Commands import their stage lazily so that `envc validate` (run by pre-commit on every commit)
loads nothing it does not use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from compiler import __version__
from compiler.errors import EXIT_FINDINGS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EnvcError

FORMATS = ("text", "json", "github")


def _handle_errors(command: Callable[..., int]) -> Callable[..., None]:
    """The one error handler: user errors get a message, bugs a traceback file and exit 3."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
        except EnvcError as exc:
            click.echo(f"envc: error: {exc}", err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("envc: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except Exception:
            import tempfile
            import traceback

            handle, name = tempfile.mkstemp(prefix="envc-crash-", suffix=".txt")
            with os.fdopen(handle, "w", encoding="utf-8") as report:
                report.write(f"envc {__version__}\n{traceback.format_exc()}")
            click.echo(f"envc: internal error, please report it with {name}", err=True)
            code = EXIT_INTERNAL
        sys.exit(code)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envc")
def main() -> None:
    """envc compiles environment manifests into locks, build contexts and registry versions."""


_repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository root (default: the nearest folder above the working directory with "
    "an environments/ folder).",
)


def _repository(repo: Path | None) -> Path:
    """The repository root: --repo, or found from the working directory."""
    from compiler.validate import find_root

    return (find_root(Path.cwd()) if repo is None else repo).resolve()


def _show(report: Any, output_format: str = "text") -> None:
    """Print a validation report; the summary goes to stderr with text output."""
    from compiler.report import REPORTERS, summary

    click.echo(REPORTERS[output_format](report.diagnostics, report.checked), nl=False)
    if output_format == "text":
        click.echo(summary(report.diagnostics, report.checked), err=True)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="How to print diagnostics.",
)
@_repo_option
@click.option(
    "--no-cache",
    is_flag=True,
    envvar="ENVC_NO_CACHE",
    help="Do not read or write .envc/cache/ (package specs known to parse).",
)
@click.option(
    "--locks",
    is_flag=True,
    help="Also fail when an environment's locks are stale (no solving; see envc lock).",
)
@_handle_errors
def validate(
    paths: tuple[Path, ...], output_format: str, repo: Path | None, no_cache: bool, locks: bool
) -> int:
    """Check manifests (default: every environments/**/env.yaml).

    YAML, JSON Schema and semantic rules; cross-file rules always see the whole repository.
    Exit status: 0 valid, 1 problems found, 2 usage error.
    """
    from compiler.validate import validate as run

    root = _repository(repo)
    report = run(paths, root=root, cache=not no_cache)
    _show(report, output_format)
    if not report.ok:
        return EXIT_FINDINGS
    if locks:
        from compiler.config import load_config
        from compiler.locking import lock_repository

        outcomes = lock_repository(
            root,
            check=True,
            default_channels=load_config(root).channels,
            manifests=report.manifests,
        )
        return _report_outcomes([o for o in outcomes if o.status == "stale"])
    return EXIT_OK


def _report_outcomes(outcomes: list[Any]) -> int:
    """One line per environment; exit 1 when any lock is stale or failed."""
    for outcome in outcomes:
        why = f": {'; '.join(outcome.reasons)}" if outcome.reasons else ""
        click.echo(f"{outcome.name}: {outcome.status}{why}")
    problems = [o for o in outcomes if o.status in ("stale", "failed")]
    return EXIT_FINDINGS if problems else EXIT_OK


@main.command()
@_handle_errors
def schema() -> int:
    """Print the manifest JSON Schema generated from the model (schemas/manifest.schema.json)."""
    import json

    from compiler.model import manifest_json_schema

    click.echo(json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


@main.command()
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
@_repo_option
@_handle_errors
def lock(
    names: tuple[str, ...],
    check: bool,
    force: bool,
    updates: tuple[str, ...],
    mirrors: tuple[str, ...],
    pip_index: str | None,
    pip_find_links: tuple[str, ...],
    repo: Path | None,
) -> int:
    """Lock environments (default: all) for each of their platforms.

    Writes conda-lock.yml, conda-<platform>.lock and requirements-<platform>.txt (pip, with
    hashes) beside each env.yaml. An environment whose lock matches its inputs is not solved
    again and its files are not rewritten.
    """
    from compiler.config import load_config
    from compiler.locking import lock_repository
    from compiler.pip_lock import PipIndex
    from compiler.solver import canonical_channel
    from compiler.validate import validate

    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    config = load_config(root)
    mirror_map = {canonical_channel(name): url for name, url in config.mirrors.items()}
    for item in mirrors:
        channel, separator, url = item.partition("=")
        if not separator or not url:
            raise click.BadParameter(f"expected CHANNEL=URL, got {item!r}", param_hint="--mirror")
        mirror_map[canonical_channel(channel)] = url
    if pip_index is None and not pip_find_links:
        pip_index = config.pip.index_url
        pip_find_links = tuple(
            link if "://" in link else str(root / link) for link in config.pip.find_links
        )
    outcomes = lock_repository(
        root,
        names,
        check=check,
        update=updates,
        force=force,
        mirrors=mirror_map,
        pip_index=PipIndex(pip_index, tuple(pip_find_links)),
        default_channels=config.channels,
        manifests=report.manifests,
    )
    return _report_outcomes(outcomes)


@main.command()
@click.argument("names", nargs=-1)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts go (default: build/ in the repository).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: exit 1 with a unified diff when the rendered output differs.",
)
@_repo_option
@_handle_errors
def render(names: tuple[str, ...], out: Path | None, check: bool, repo: Path | None) -> int:
    """Render environments (default: all) into build contexts: a Dockerfile that installs from
    the locks (or install scripts with docker.enabled: false), the lockfiles, envc-build.json."""
    from compiler.render import render_repository
    from compiler.validate import validate

    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    outcomes = render_repository(
        root, report.manifests, names, out=out.resolve() if out else None, check=check
    )
    for outcome in outcomes:
        click.echo(f"{outcome.name}: {outcome.status}")
        click.echo(outcome.diff, nl=False)
    return EXIT_FINDINGS if any(o.status == "differs" for o in outcomes) else EXIT_OK


@main.command()
@click.option("--base", "base_ref", required=True, metavar="REF", help="What to compare against.")
@click.option(
    "--head",
    "head_ref",
    metavar="REF",
    help="What to plan for (default: the working tree, staged or not, untracked files too).",
)
@click.option(
    "--direct",
    is_flag=True,
    help="Compare with BASE itself, not with the merge base of BASE and HEAD.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(("table", "markdown", "json")),
    default="table",
    show_default=True,
    help="How to print the plan.",
)
@click.option("--verbose", "-v", is_flag=True, help="List unchanged environments too.")
@click.option(
    "--github-output",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help='Append a build matrix to FILE (pass "$GITHUB_OUTPUT" in GitHub Actions).',
)
@click.option(
    "--bake",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write a docker buildx bake file (JSON) building every planned image.",
)
@click.option(
    "--contexts",
    default="build",
    show_default=True,
    metavar="DIR",
    help="Where envc render writes build contexts, as the bake file and matrix name them.",
)
@click.option(
    "--image-prefix",
    default="envc/",
    show_default=True,
    help="Image names in the bake file are PREFIX<name>:<address>.",
)
@click.option(
    "--exit-code", is_flag=True, help="Exit 1 when something is to be built (for scripts)."
)
@_repo_option
@click.option("--no-cache", is_flag=True, envvar="ENVC_NO_CACHE", help="Do not use .envc/cache/.")
@_handle_errors
def plan(
    base_ref: str,
    head_ref: str | None,
    direct: bool,
    output_format: str,
    verbose: bool,
    github_output: Path | None,
    bake: Path | None,
    contexts: str,
    image_prefix: str,
    exit_code: bool,
    repo: Path | None,
    no_cache: bool,
) -> int:
    """Say which environments to rebuild between two git revisions, and why.

    Decides by content address (what the image is built from), explains with the git diff.
    Exit status: 0 planned (with --exit-code: 1 when something is to be built), 1 the head
    has problems (printed as diagnostics), 2 usage error (unknown revision, not a git
    repository, history missing from a shallow clone).
    """
    from compiler import plan_output
    from compiler.plan import plan as run
    from compiler.report import REPORTERS

    result = run(_repository(repo), base_ref, head_ref, direct=direct, cache=not no_cache)
    if result.diagnostics:
        click.echo(REPORTERS["text"](result.diagnostics, ()), nl=False, err=True)
    if output_format == "json":
        click.echo(plan_output.as_json(result), nl=False)
    elif output_format == "markdown":
        click.echo(plan_output.markdown(result), nl=False)
    else:
        click.echo(plan_output.table(result, verbose), nl=False)
    if result.diagnostics:
        return EXIT_FINDINGS
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as handle:
            handle.write(plan_output.github_output(result, contexts))
    if bake is not None:
        from compiler.lock import write_atomically

        write_atomically(bake, plan_output.bake_file(result, contexts, image_prefix))
    return EXIT_FINDINGS if exit_code and result.to_build else EXIT_OK
