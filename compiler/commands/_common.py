"""What every command shares: the one error handler, the common options, finding the repository,
the validate-then-stop preamble, opening the registry, printing outcomes.

Stages are imported inside the functions that use them, so that a command loads only its own.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler import __version__
from compiler.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    EnvcError,
)

if TYPE_CHECKING:
    from compiler._util.progress import Reporter
    from compiler.manifest.sources import ValidManifests
    from compiler.registry.base import EnvironmentRecord, Registry
    from compiler.validate.config import RepositoryConfig
    from compiler.validate.repository import ValidationReport

FORMATS = ("text", "json", "github")


class Findings(Exception):
    """Problems already printed: the command stops with exit status 1."""


def handle_errors(command: Callable[..., int]) -> Callable[..., None]:
    """The one error handler: user errors get a message, bugs a traceback file and exit 3."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            code = command(*args, **kwargs)
            sys.stdout.flush()  # a reader that left shows here, not at interpreter exit
        except BrokenPipeError:  # `envc list | head -1`: the reader has what it wanted
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = EXIT_BROKEN_PIPE
        except Findings:
            code = EXIT_FINDINGS
        except EnvcError as exc:
            from compiler._util.credentials import for_display

            prefix = "" if isinstance(exc, ConfigError) else "envc: error: "
            click.echo(f"{prefix}{for_display(str(exc))}", err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("envc: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException:
            raise  # usage errors: click prints them and exits 2
        except OSError as exc:  # the file system said no: a path the user gave, not a bug
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"envc: error: {where}{exc.strerror or exc}", err=True)
            code = EXIT_USAGE
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


def quiet() -> bool:
    return bool((click.get_current_context().find_root().obj or {}).get("quiet"))


def result(line: str, ok: bool = True) -> None:
    """One outcome line; with --quiet only those that are not ok. Credentials and characters a
    reader would not see are shown escaped (the line may quote the input)."""
    results([(line, ok)])


def results(lines: Sequence[tuple[str, bool]]) -> None:
    """Outcome lines (line, ok) as `result` shows each, written at once: a command over
    thousands of environments spent a tenth of its time printing them one by one."""
    shown = [line for line, ok in lines if not (ok and quiet())]
    if shown:
        from compiler._util.credentials import for_display

        click.echo("\n".join(map(for_display, shown)))


def progress(what: str) -> Reporter:
    """The progress display of a long command."""
    from compiler._util.progress import Reporter

    settings = click.get_current_context().find_root().obj or {}
    return Reporter(what, quiet=quiet() or bool(settings.get("no_progress")))


repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository root (default: the nearest folder above the working directory with "
    "an environments/ folder).",
)
plain_http_option = click.option(
    "--plain-http",
    is_flag=True,
    envvar="ENVC_PLAIN_HTTP",
    help="Talk to an OCI registry over plain HTTP (no TLS).",
)
_registry_url_option = click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    envvar="ENVC_REGISTRY",
    help="Registry URL: sqlite:PATH or oci://host[:port]/path (default: envc.yaml's "
    "registry, else sqlite:.envc/registry.db).",
)
base_option = click.option(
    "--base", "base_ref", required=True, metavar="REF", help="The git revision to compare against."
)
head_option = click.option(
    "--head",
    "head_ref",
    metavar="REF",
    help="The git revision to check (default: the working tree, staged or not, untracked "
    "files too).",
)
json_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="How to print.",
)


def image_prefix_option(images: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--image-prefix; `images` says what is named PREFIX<name>:…"""
    return click.option(
        "--image-prefix",
        metavar="PREFIX",
        help=f"{images} (default: envc.yaml's image_prefix, else envc/).",
    )


def registry_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return _registry_url_option(plain_http_option(command))


def registry_command(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of the registry's bookkeeping commands: --registry, --plain-http, --format,
    --repo."""
    return registry_option(json_option(repo_option(command)))


@contextmanager
def registry_of(repo: Path | None, url: str | None, plain_http: bool) -> Iterator[Registry]:
    """The registry of the repository at --repo (or found from here), opened and closed. With
    --registry given, no repository is needed (relative sqlite: paths are then relative to the
    working directory)."""
    root = Path.cwd().resolve()
    if repo is not None or url is None:
        root = repository(repo)
    else:
        with suppress(EnvcError):
            root = repository(None)
    with open_registry(root, url, plain_http) as registry:
        yield registry


def repository(repo: Path | None) -> Path:
    """The repository root: --repo, or found from the working directory."""
    from compiler.load.discover import find_root

    return (find_root(Path.cwd()) if repo is None else repo).resolve()


def show(report: ValidationReport, output_format: str = "text") -> None:
    """Print a validation report; the summary goes to stderr with text output."""
    from compiler.validate.report import REPORTERS, summary

    click.echo(REPORTERS[output_format](report.diagnostics, report.checked), nl=False)
    if output_format == "text" and not (report.ok and quiet()):
        click.echo(summary(report.diagnostics, report.checked), err=True)


def validated(root: Path, names: tuple[str, ...] = ()) -> ValidationReport:
    """The whole repository validated (cached); problems are printed and stop the command, as
    does one of `names` that is no environment."""
    from compiler.validate.repository import validate

    report = validate(root=root, cache=True)
    if not report.ok:
        show(report)
        raise Findings
    unknown = sorted(set(names) - set(report.manifests))
    if unknown:
        raise click.BadParameter(f"no environment named {', '.join(unknown)}", param_hint="NAMES")
    return report


def valid_part(root: Path, names: tuple[str, ...]) -> tuple[ValidationReport, bool]:
    """The repository validated (cached), for a command that works environment by environment:
    problems are printed, and the command goes on with the valid environments unless one it
    was asked for by name is not among them. Also whether there were problems (exit 1 at the
    end)."""
    from compiler.validate.repository import validate

    report = validate(root=root, cache=True)
    if not report.ok:
        show(report)
        # An environment whose parent is invalid cannot be resolved: it waits with its parent.
        whole = report.manifests
        resolvable = {name: valid for name, valid in whole.items() if _parents_valid(name, whole)}
        report = dataclasses.replace(report, manifests=resolvable)
        if any(name not in report.manifests for name in names):
            raise Findings
    return report, not report.ok


def _parents_valid(name: str, manifests: Mapping[str, Any]) -> bool:
    seen: set[str] = set()
    current: str | None = name
    while current is not None and current not in seen:
        if current not in manifests:
            return False
        seen.add(current)
        current = manifests[current][0].get("extends")
    return True


def pairs(items: tuple[str, ...], option: str, shape: str) -> dict[str, str]:
    """`KEY=VALUE` options as a mapping; `shape` (e.g. CHANNEL=URL) is shown when one is not."""
    found = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key or not value:
            raise click.BadParameter(f"expected {shape}, got {item!r}", param_hint=option)
        found[key] = value
    return found


def policy_findings(
    root: Path,
    config: RepositoryConfig,
    manifests: ValidManifests,
    names: tuple[str, ...],
    *,
    manifest_rules: bool,
    locks: bool,
) -> bool:
    """envc.yaml's policy over the environments: findings printed (to standard error with
    machine-readable output); whether any is an error."""
    if config.policy.empty:  # the usual case: nothing heavy imported (the pre-commit hook)
        return False
    from compiler._util.resources import CONFIG_FILE
    from compiler.lock.policy import check_policy, check_sources
    from compiler.validate.report import REPORTERS

    findings = check_sources(config, root / CONFIG_FILE) if manifest_rules else []
    findings += check_policy(
        root,
        manifests,
        config.policy,
        names,
        manifest_rules=manifest_rules,
        locks=locks,
        default_channels=config.channels,
    )
    if findings:
        click.echo(REPORTERS["text"](tuple(findings), ()), nl=False, err=not _text_output())
    return any(finding.severity == "error" for finding in findings)


def _text_output() -> bool:
    return bool(click.get_current_context().params.get("output_format", "text") == "text")


def report_outcomes(outcomes: list[Any], output_format: str = "text") -> int:
    """One line per environment's lock (or one JSON list); exit 1 when any lock is stale or
    failed."""
    problems = [o for o in outcomes if o.status in ("stale", "failed")]
    if output_format == "json":
        import json

        documents = [
            {"name": o.name, "status": o.status, "reasons": list(o.reasons)} for o in outcomes
        ]
        click.echo(json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False))
        return EXIT_FINDINGS if problems else EXIT_OK
    for outcome in outcomes:
        why = "; ".join(outcome.reasons)
        # "ml: locked (first lock)", "ml: locked (numpy 2.2.2 -> 2.3.5)"; "ml: stale: why"
        why = (f" ({why})" if outcome.status in ("locked", "fresh") else f": {why}") if why else ""
        result(f"{outcome.name}: {outcome.status}{why}", outcome.status not in ("stale", "failed"))
    return EXIT_FINDINGS if problems else EXIT_OK


@contextmanager
def open_registry(root: Path, url: str | None, plain_http: bool) -> Iterator[Registry]:
    """The registry at `url`, else envc.yaml's, else the embedded one; closed afterwards."""
    from compiler.registry.base import configured_registry

    registry = configured_registry(root, url, plain_http)
    try:
        yield registry
    finally:
        registry.close()


@contextmanager
def plan_registry(root: Path, url: str | None, plain_http: bool) -> Iterator[Registry | None]:
    """The registry a plan consults: the one named, else envc.yaml's, else the embedded one
    when it exists (None: no registry)."""
    from compiler.registry.base import DEFAULT_REGISTRY

    if url is None:
        from compiler.validate.config import load_config

        url = load_config(root).registry
        if url is None and not (root / DEFAULT_REGISTRY.removeprefix("sqlite:")).exists():
            yield None
            return
    with open_registry(root, url, plain_http) as registry:
        yield registry


def versioned(reference: str) -> tuple[str, int]:
    """NAME@VERSION -> (name, version); anything else is a usage error."""
    from compiler.registry.base import parse_reference

    name, version, _ = parse_reference(reference)
    if version is None:
        raise click.BadParameter(f"expected NAME@VERSION, got {reference!r}")
    return name, version


def print_records(records: list[EnvironmentRecord], output_format: str) -> None:
    from compiler.registry.base import summaries_json

    if output_format == "json":
        click.echo(summaries_json(records))
        return
    rows = [
        (
            f"{r.name}@{r.version}",
            ",".join(r.labels) or "-",
            r.content_address[:19],
            (r.commit or "-")[:12],
            r.registered_at + (" (archived)" if r.archived else ""),
        )
        for r in records
    ]
    header = ("VERSION", "LABELS", "ADDRESS", "COMMIT", "REGISTERED")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)), row[4]]
        )
        for row in [header, *rows]
    ]
    click.echo("\n".join(lines))  # one write: a line each cost half the time of 10,000 rows
