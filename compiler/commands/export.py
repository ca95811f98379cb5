"""envc export: an environment in another tool's format."""

from __future__ import annotations

from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_OK


@click.command(name="export")
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
            "pixi-lock",
            "azureml-v2",
            "azureml-v1",
        )
    ),
    default="conda-env",
    show_default=True,
    help="conda-env: an environment.yml; requirements: the pip part; explicit / pip-locked / "
    "pylock: the committed conda / hashed pip / PEP 751 lock of --platform; pixi-lock: the "
    "whole lock as a pixi.lock (every platform); azureml-v2 / "
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
@common.repo_option
@common.handle_errors
def command(
    name: str, output_format: str, platform: str, out: Path | None, repo: Path | None
) -> int:
    """Export an environment (its parents merged in): as a conda environment file, pip
    requirements, its locks, or an Azure ML environment. Prints what the format cannot carry."""
    from compiler._util.files import write_atomically
    from compiler.interop.export import FOLDER_FORMATS, export_environment
    from compiler.manifest.model import resolve

    if output_format in FOLDER_FORMATS and (out is None or out.is_file()):
        raise click.BadParameter(
            f"{output_format} writes a folder: pass --out DIR", param_hint="--out"
        )
    if output_format not in FOLDER_FORMATS and out is not None and out.is_dir():
        raise click.BadParameter(
            f"{out} is a folder; {output_format} writes one file", param_hint="--out"
        )
    root = common.repository(repo)
    report = common.validated(root)
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
        click.echo(f"note: {note}", err=True)
    return EXIT_OK
