"""The command line: a thin layer that parses arguments, calls a stage, prints, and exits.

Commands import their stage lazily so that `envc validate` (run by pre-commit on every commit)
loads nothing it does not use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import click

from compiler import __version__
from compiler.errors import (
    EXIT_FINDINGS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    EnvcError,
)

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envc")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    envvar="ENVC_QUIET",
    help="Print only what needs attention: problems, failures, stale locks.",
)
@click.option(
    "--verbose",
    is_flag=True,
    envvar="ENVC_VERBOSE",
    help="Also log what envc runs (solver, uv, buildah) and how long it takes, on stderr.",
)
@click.pass_context
def main(context: click.Context, quiet: bool, verbose: bool) -> None:
    """envc compiles environment manifests into locks, build contexts and registry versions."""
    context.obj = {"quiet": quiet and not verbose}
    if verbose:
        import logging

        logging.basicConfig(format="envc: %(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("compiler").setLevel(logging.DEBUG)


def _quiet() -> bool:
    return bool((click.get_current_context().find_root().obj or {}).get("quiet"))


def _result(line: str, ok: bool = True) -> None:
    """One outcome line; with --quiet only those that are not ok."""
    if not (ok and _quiet()):
        click.echo(line)


def _progress(what: str) -> Any:
    """The progress display of a long command (compiler._util.progress.Reporter)."""
    from compiler._util.progress import Reporter

    return Reporter(what, quiet=_quiet())


_repo_option = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    help="Repository root (default: the nearest folder above the working directory with "
    "an environments/ folder).",
)


_registry_url_option = click.option(
    "--registry",
    "registry_url",
    metavar="URL",
    envvar="ENVC_REGISTRY",
    help="Registry URL: sqlite:PATH or oci://host[:port]/path (default: envc.yaml's "
    "registry, else sqlite:.envc/registry.db).",
)
_plain_http_option = click.option(
    "--plain-http",
    is_flag=True,
    envvar="ENVC_PLAIN_HTTP",
    help="Talk to an OCI registry over plain HTTP (no TLS).",
)


_base_option = click.option(
    "--base", "base_ref", required=True, metavar="REF", help="The git revision to compare against."
)
_head_option = click.option(
    "--head",
    "head_ref",
    metavar="REF",
    help="The git revision to check (default: the working tree, staged or not, untracked "
    "files too).",
)


def _registry_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return _registry_url_option(_plain_http_option(command))


def _repository(repo: Path | None) -> Path:
    """The repository root: --repo, or found from the working directory."""
    from compiler.validate.repository import find_root

    return (find_root(Path.cwd()) if repo is None else repo).resolve()


def _show(report: Any, output_format: str = "text") -> None:
    """Print a validation report; the summary goes to stderr with text output."""
    from compiler.validate.report import REPORTERS, summary

    click.echo(REPORTERS[output_format](report.diagnostics, report.checked), nl=False)
    if output_format == "text" and not (report.ok and _quiet()):
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
    from compiler.validate.repository import validate as run

    root = _repository(repo)
    report = run(paths, root=root, cache=not no_cache)
    _show(report, output_format)
    if not report.ok:
        return EXIT_FINDINGS
    if locks:
        from compiler.lock.repository import lock_repository
        from compiler.manifest.config import load_config

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
        _result(f"{outcome.name}: {outcome.status}{why}", outcome.status not in ("stale", "failed"))
    problems = [o for o in outcomes if o.status in ("stale", "failed")]
    return EXIT_FINDINGS if problems else EXIT_OK


@main.command()
@_handle_errors
def schema() -> int:
    """Print the manifest JSON Schema generated from the model (schemas/manifest.schema.json)."""
    import json

    from compiler.manifest.model import manifest_json_schema

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
    from compiler.lock.conda import canonical_channel
    from compiler.lock.pip import PipIndex
    from compiler.lock.repository import lock_repository
    from compiler.manifest.config import load_config
    from compiler.validate.repository import validate

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
    with _progress("lock") as progress:
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
            progress=progress,
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
    from compiler.render.context import render_repository
    from compiler.validate.repository import validate

    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    outcomes = render_repository(
        root, report.manifests, names, out=out.resolve() if out else None, check=check
    )
    for outcome in outcomes:
        _result(f"{outcome.name}: {outcome.status}", outcome.status in ("rendered", "unchanged"))
        click.echo(outcome.diff, nl=False)
        if outcome.error:
            click.echo(f"{outcome.error}", err=True)
    return EXIT_FINDINGS if any(o.status in ("differs", "failed") for o in outcomes) else EXIT_OK


@main.command()
@_base_option
@_head_option
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
@click.option("--all", "-a", "show_all", is_flag=True, help="List unchanged environments too.")
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
@_registry_option
@_repo_option
@click.option("--no-cache", is_flag=True, envvar="ENVC_NO_CACHE", help="Do not use .envc/cache/.")
@_handle_errors
def plan(
    base_ref: str,
    head_ref: str | None,
    direct: bool,
    output_format: str,
    show_all: bool,
    github_output: Path | None,
    bake: Path | None,
    contexts: str,
    image_prefix: str,
    exit_code: bool,
    registry_url: str | None,
    plain_http: bool,
    repo: Path | None,
    no_cache: bool,
) -> int:
    """Say which environments to rebuild between two git revisions, and why.

    Decides by content address (what the image is built from), explains with the git diff.
    With a registry (--registry, envc.yaml's, or the embedded one when it exists), what is
    already registered is `reuse`, not built.

    Exit status: 0 planned (with --exit-code: 1 when something is to be built), 1 the head
    has problems (printed as diagnostics), 2 usage error (unknown revision, not a git
    repository, history missing from a shallow clone).
    """
    from compiler.plan import output as plan_output
    from compiler.plan.plan import plan as run
    from compiler.registry.base import LazyRegistry
    from compiler.validate.report import REPORTERS

    root = _repository(repo)
    with ExitStack() as stack:
        registry = LazyRegistry(
            lambda: stack.enter_context(_plan_registry(root, registry_url, plain_http))
        )
        result = run(
            root,
            base_ref,
            head_ref,
            direct=direct,
            cache=not no_cache,
            registered=registry.version_of,
        )
    if result.diagnostics:
        click.echo(REPORTERS["text"](result.diagnostics, ()), nl=False, err=True)
    if output_format == "json":
        click.echo(plan_output.as_json(result), nl=False)
    elif output_format == "markdown":
        click.echo(plan_output.markdown(result), nl=False)
    else:
        click.echo(plan_output.table(result, show_all), nl=False)
    if result.diagnostics:
        return EXIT_FINDINGS
    if github_output is not None:
        with open(github_output, "a", encoding="utf-8") as handle:
            handle.write(plan_output.github_output(result, contexts))
    if bake is not None:
        from compiler.lock.lockfiles import write_atomically

        write_atomically(bake, plan_output.bake_file(result, contexts, image_prefix))
    return EXIT_FINDINGS if exit_code and result.to_build else EXIT_OK


_json_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(("text", "json")),
    default="text",
    show_default=True,
    help="How to print.",
)


@contextmanager
def _open_registry(root: Path, url: str | None, plain_http: bool) -> Iterator[Any]:
    """The registry at `url`, else envc.yaml's, else the embedded one; closed afterwards."""
    from compiler.registry.base import DEFAULT_REGISTRY, open_registry

    if url is None:
        from compiler.manifest.config import load_config

        url = load_config(root).registry or DEFAULT_REGISTRY
    registry = open_registry(url, root, plain_http)
    try:
        yield registry
    finally:
        registry.close()


@contextmanager
def _plan_registry(root: Path, url: str | None, plain_http: bool) -> Iterator[Any]:
    """The registry a plan consults: the one named, else envc.yaml's, else the embedded one
    when it exists (None: no registry)."""
    from compiler.registry.base import DEFAULT_REGISTRY

    if url is None:
        from compiler.manifest.config import load_config

        url = load_config(root).registry
        if url is None and not (root / DEFAULT_REGISTRY.removeprefix("sqlite:")).exists():
            yield None
            return
    with _open_registry(root, url, plain_http) as registry:
        yield registry


def _print_records(records: list[Any], output_format: str) -> None:
    import json

    if output_format == "json":
        # Compact: listings can be long, and indentation makes the json module slow.
        documents = [r.summary() for r in records]
        click.echo(json.dumps(documents, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
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
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        click.echo("  ".join([*cells, row[4]]))


@main.command()
@click.argument("names", nargs=-1)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Register what a saved plan (envc plan --format json) builds.",
)
@click.option(
    "--image-digest",
    "digests",
    multiple=True,
    metavar="NAME=sha256:…",
    help="The digest a build reported for NAME's image (repeatable).",
)
@click.option(
    "--image-prefix", help="Images are PREFIX<name>:<version> (default: envc.yaml's image_prefix)."
)
@click.option(
    "--allow-dirty", is_flag=True, help="Register even with uncommitted changes (no commit)."
)
@_registry_option
@_json_option
@_repo_option
@_handle_errors
def register(
    names: tuple[str, ...],
    plan_file: Path | None,
    digests: tuple[str, ...],
    image_prefix: str | None,
    allow_dirty: bool,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Register environments (default: all) as new versions; an address a name already has
    returns its existing version (idempotent)."""
    import json

    from compiler.manifest.config import load_config
    from compiler.registry.register import register_repository
    from compiler.validate.repository import validate

    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    digest_map = {}
    for item in digests:
        name, separator, digest = item.partition("=")
        if not separator or not digest.startswith("sha256:"):
            raise click.BadParameter(
                f"expected NAME=sha256:…, got {item!r}", param_hint="--image-digest"
            )
        digest_map[name] = digest
    with _open_registry(root, registry_url, plain_http) as registry:
        outcomes = register_repository(
            root,
            report.manifests,
            registry,
            names,
            plan_file=plan_file,
            image_prefix=image_prefix or load_config(root).image_prefix,
            digests=digest_map,
            allow_dirty=allow_dirty,
        )
    if output_format == "json":
        documents = [
            {**o.registration.record.summary(), "created": o.registration.created} for o in outcomes
        ]
        click.echo(json.dumps(documents, indent=2, sort_keys=True, ensure_ascii=False))
    for outcome in outcomes if output_format == "text" else ():
        record = outcome.registration.record
        how = "registered" if outcome.registration.created else "already registered"
        _result(f"{record.name}@{record.version}: {how} ({record.content_address})")
    return EXIT_OK


@main.command(name="list")
@click.argument("name", required=False)
@click.option("--archived", is_flag=True, help="Include archived versions.")
@_registry_option
@_json_option
@_repo_option
@_handle_errors
def list_versions(
    name: str | None,
    archived: bool,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """List registered versions (of NAME, or of every environment)."""
    with _open_registry(_repository(repo), registry_url, plain_http) as registry:
        _print_records(registry.versions(name, archived), output_format)
    return EXIT_OK


@main.command()
@click.argument("reference", metavar="NAME[@VERSION|:LABEL]")
@_registry_option
@_json_option
@_repo_option
@_handle_errors
def show(
    reference: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Show one registered version (default: latest), with its resolved manifest."""
    import json

    from compiler.registry.base import parse_reference

    name, version, label = parse_reference(reference)
    with _open_registry(_repository(repo), registry_url, plain_http) as registry:
        record = registry.get(name, version, label)
    if output_format == "json":
        click.echo(json.dumps(record.as_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        return EXIT_OK
    for key, value in record.summary().items():
        if isinstance(value, (list, dict)):
            value = (
                ", ".join(f"{k}={v}" for k, v in value.items())
                if isinstance(value, dict)
                else ", ".join(value)
            )
        click.echo(f"{key}: {value if value not in (None, '') else '-'}")
    click.echo("manifest: " + json.dumps(record.manifest, sort_keys=True, ensure_ascii=False))
    return EXIT_OK


def _versioned(reference: str) -> tuple[str, int]:
    from compiler.registry.base import parse_reference

    name, version, _ = parse_reference(reference)
    if version is None:
        raise click.BadParameter(f"expected NAME@VERSION, got {reference!r}")
    return name, version


@main.command()
@click.argument("reference", metavar="NAME@VERSION")
@click.argument("label")
@_registry_option
@_json_option
@_repo_option
@_handle_errors
def label(
    reference: str,
    label: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Point LABEL of NAME at VERSION (moving it if it was elsewhere)."""
    name, version = _versioned(reference)
    with _open_registry(_repository(repo), registry_url, plain_http) as registry:
        _print_records([registry.label(name, version, label)], output_format)
    return EXIT_OK


@main.command()
@click.argument("reference", metavar="NAME@VERSION")
@_registry_option
@_json_option
@_repo_option
@_handle_errors
def archive(
    reference: str,
    registry_url: str | None,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Archive a version: hidden from list and latest, its number never reused."""
    name, version = _versioned(reference)
    with _open_registry(_repository(repo), registry_url, plain_http) as registry:
        _print_records([registry.archive(name, version)], output_format)
    return EXIT_OK


@main.command()
@_base_option
@_head_option
@click.option(
    "--main",
    "main_mode",
    is_flag=True,
    help="Main-branch mode: after the checks, register what the plan builds.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("envc-ci.json"),
    show_default=True,
    help="Where the JSON report of every step goes.",
)
@click.option(
    "--summary",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help='Append a Markdown summary to FILE (pass "$GITHUB_STEP_SUMMARY" in GitHub Actions).',
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts and docker-bake.json go (default: build/ in the repository).",
)
@click.option(
    "--image-prefix",
    default="envc/",
    show_default=True,
    help="Images are PREFIX<name>:<address> (and :<version> once registered).",
)
@click.option("--push", is_flag=True, help="--main: push the images built.")
@click.option(
    "--no-build", is_flag=True, help="--main: register definitions without building images."
)
@_registry_option
@_repo_option
@_handle_errors
def ci(
    base_ref: str,
    head_ref: str | None,
    main_mode: bool,
    report: Path,
    summary: Path | None,
    out: Path | None,
    image_prefix: str,
    push: bool,
    no_build: bool,
    registry_url: str | None,
    plain_http: bool,
    repo: Path | None,
) -> int:
    """The CI job: validate, check locks (no solving), plan, render what is to be built; with
    --main, build it (buildah) and register what built. Writes one JSON report; exit 1 when
    any step failed."""
    import json

    from compiler.ci.job import run_ci
    from compiler.lock.lockfiles import write_atomically

    root = _repository(repo)
    with ExitStack() as stack:

        def open_registry() -> Any:
            opener = _open_registry if main_mode else _plan_registry
            return stack.enter_context(opener(root, registry_url, plain_http))

        result = run_ci(
            root,
            base_ref,
            head_ref,
            main=main_mode,
            out=out.resolve() if out else None,
            image_prefix=image_prefix,
            open_registry=open_registry,
            build=not no_build,
            push=push,
            plain_http=plain_http,
            progress=stack.enter_context(_progress("ci")),
        )
    write_atomically(report, json.dumps(result.document(), indent=2, sort_keys=True) + "\n")
    text = result.markdown()
    if summary is not None:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(text)
    for step in result.steps:
        ok = step.status != "failed"
        _result(f"{step.name}: {step.status}{f' ({step.summary})' if step.summary else ''}", ok)
        for line in step.details if step.status == "failed" else ():
            click.echo(f"  {line}")
    return EXIT_OK if result.passed else EXIT_FINDINGS


@main.command()
@click.argument("names", nargs=-1)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Build what a saved plan (envc plan --format json) builds.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where build contexts are rendered (default: build/ in the repository).",
)
@click.option(
    "--image-prefix", default="envc/", show_default=True, help="Images are PREFIX<name>:<address>."
)
@click.option("--push", is_flag=True, help="Push each image built and report its digest.")
@_plain_http_option
@_json_option
@_repo_option
@_handle_errors
def build(
    names: tuple[str, ...],
    plan_file: Path | None,
    out: Path | None,
    image_prefix: str,
    push: bool,
    plain_http: bool,
    output_format: str,
    repo: Path | None,
) -> int:
    """Build environments' images (default: every one with docker enabled) with buildah, from
    freshly rendered build contexts. Exit 1 when any build failed; the others still build."""
    import json
    from dataclasses import asdict

    from compiler.build.images import build_repository
    from compiler.registry.register import planned_names
    from compiler.validate.repository import validate

    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    selected = list(names) or (
        sorted(planned_names(plan_file)) if plan_file else sorted(report.manifests)
    )
    with _progress("build") as progress:
        outcomes = build_repository(
            root,
            report.manifests,
            selected,
            out=out.resolve() if out else root / "build",
            image_prefix=image_prefix,
            push=push,
            plain_http=plain_http,
            progress=progress,
        )
    if output_format == "json":
        click.echo(json.dumps([asdict(o) for o in outcomes], indent=2, sort_keys=True))
    for outcome in outcomes if output_format == "text" else ():
        digest = f" {outcome.digest}" if outcome.digest else ""
        _result(
            f"{outcome.name}: {outcome.status} {outcome.image}{digest}", outcome.status == "built"
        )
        for line in outcome.log.splitlines():
            click.echo(f"  {line}")
    return EXIT_FINDINGS if any(o.status == "failed" for o in outcomes) else EXIT_OK


@main.command(name="import")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="SOURCE is a folder: import every environment found under it, reporting each.",
)
@click.option("--name", help="The environment's name (default: from the source).")
@click.option(
    "--from-history",
    is_flag=True,
    help="From a conda environment: only what was asked for, not every installed package.",
)
@click.option(
    "--python",
    "python_version",
    metavar="X.Y",
    help="The Python version of a pip requirements file (the file cannot say).",
)
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where environment folders go (default: environments/ in the repository).",
)
@click.option("--force", is_flag=True, help="Replace an existing manifest of that name.")
@_repo_option
@_handle_errors
def import_command(
    source: Path,
    everything: bool,
    name: str | None,
    from_history: bool,
    python_version: str | None,
    into: Path | None,
    force: bool,
    repo: Path | None,
) -> int:
    """Import an environment as a manifest: a conda environment (prefix folder or name), a conda
    environment file, a pip requirements file, or an Azure ML v2 environment; prints what it
    could not carry over. Exit 1 when the new manifest does not validate."""
    from compiler.errors import EnvcError
    from compiler.interop.formats import write_imported
    from compiler.interop.sources import import_source, importable_sources
    from compiler.validate.repository import validate

    root = _repository(repo)
    folder = (into or root / "environments").resolve()
    if everything and not source.is_dir():
        raise click.BadParameter(f"{source} is not a folder", param_hint="SOURCE")
    sources = importable_sources(source) if everything else [source]
    written, failed = [], 0
    for each in sources:
        try:
            imported = import_source(
                each, None if everything else name, from_history, python_version
            )
            targets = write_imported(imported, folder, force)
        except EnvcError as exc:
            if not everything:
                raise
            failed += 1
            click.echo(f"{each}: not imported: {str(exc).removeprefix(f'{each}: ')}")
            continue
        written += targets
        for one, target in zip([imported, *imported.companions], targets, strict=True):
            # With --quiet, an import is shown only when something was not carried.
            _result(f"{one.name}: imported from {each} into {target}", not one.notes)
            for note in one.notes:
                click.echo(f"  not carried: {note}")
    if not written:
        return EXIT_FINDINGS
    report = validate(written, root=root, cache=True)
    _show(report)
    return EXIT_OK if report.ok and not failed else EXIT_FINDINGS


@main.command()
@click.argument("name")
@click.option(
    "--format",
    "output_format",
    # compiler.interop.export.FORMATS (not imported: it loads the model; a test keeps them equal)
    type=click.Choice(
        (
            "conda-env",
            "requirements",
            "explicit",
            "pip-locked",
            "pylock",
            "azureml-v2",
            "azureml-v1",
        )
    ),
    default="conda-env",
    show_default=True,
    help="conda-env: an environment.yml; requirements: the pip part; explicit / pip-locked / "
    "pylock: the committed conda / hashed pip / PEP 751 lock of --platform; azureml-v2 / "
    "azureml-v1: an Azure ML CLI v2 environment / SDK v1 saved environment (a folder, --out "
    "required).",
)
@click.option(
    "--platform",
    default="linux-64",
    show_default=True,
    help="The platform of the explicit, pip-locked and pylock formats.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write to this file (a folder for the azureml formats) instead of standard output.",
)
@_repo_option
@_handle_errors
def export(
    name: str, output_format: str, platform: str, out: Path | None, repo: Path | None
) -> int:
    """Export an environment (its parents merged in): as a conda environment file, pip
    requirements, its locks, or an Azure ML environment. Prints what the format cannot carry."""
    from compiler.interop.export import FOLDER_FORMATS, export_environment
    from compiler.lock.lockfiles import write_atomically
    from compiler.manifest.model import resolve
    from compiler.validate.repository import validate

    if output_format in FOLDER_FORMATS and (out is None or out.is_file()):
        raise click.BadParameter(
            f"{output_format} writes a folder: pass --out DIR", param_hint="--out"
        )
    if output_format not in FOLDER_FORMATS and out is not None and out.is_dir():
        raise click.BadParameter(
            f"{out} is a folder; {output_format} writes one file", param_hint="--out"
        )
    root = _repository(repo)
    report = validate(root=root, cache=True)
    if not report.ok:
        _show(report)
        return EXIT_FINDINGS
    if name not in report.manifests:
        raise click.BadParameter(f"no environment named {name}", param_hint="NAME")
    exported = export_environment(
        resolve(name, report.manifests),
        root,
        root / report.manifests[name][1],
        output_format,
        platform,
    )
    for relative, content in exported.files.items():
        if out is None:
            click.echo(content, nl=False)
            continue
        target = out / relative if relative else out
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, content)
    for note in exported.notes:
        click.echo(f"not carried: {note}", err=True)
    return EXIT_OK
