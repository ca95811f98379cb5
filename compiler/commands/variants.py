"""envc variants: write the sibling environments that manifests' `variants:` declare."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from compiler.commands import _common as common
from compiler.errors import EXIT_FINDINGS, EXIT_OK


@click.command(name="variants")
@click.option(
    "--check", is_flag=True, help="Write nothing: exit 1 when a variant is not as generated."
)
@common.repo_option
@common.handle_errors
def command(check: bool, repo: Path | None) -> int:
    """Generate each variant a manifest's `variants:` declares as a manifest of its own beside
    it (`environments/<name>-gpu-cu124/env.yaml`, extending the source), and remove the ones no
    source declares any more (their lockfiles with them). Then lock the new ones: envc lock."""
    from compiler._util.files import read_text, write_atomically
    from compiler.errors import EnvcError
    from compiler.lock.inputs import CONDA_LOCK_FILE
    from compiler.manifest.variants import expected_variants, leftover_variants
    from compiler.validate.repository import validate

    root = common.repository(repo)
    # Manifests that parse are enough (what is missing is what this writes); validate reports.
    manifests = validate(root=root).manifests
    stale = []
    for name, (variant, source) in sorted(expected_variants(manifests).items()):
        target = root / variant.folder / "env.yaml"
        text = variant.text(source)
        try:
            current = read_text(target)
        except EnvcError:
            current = None
        if current == text:
            continue
        stale.append(name)
        if check:
            click.echo(
                f"{variant.folder}/env.yaml: {name} is {'out of date' if current else 'missing'}"
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, text)
            click.echo(
                f"{name}: {'updated' if current else 'generated'} ({variant.folder}/env.yaml)"
            )
    for name in leftover_variants(manifests):
        folder = root / manifests[name][1]
        stale.append(name)
        if check:
            click.echo(f"{manifests[name][1]}/env.yaml: {name} is left over")
            continue
        generated = [
            "env.yaml",
            CONDA_LOCK_FILE,
            "conda-*.lock",
            "requirements-*.txt",
            "pylock.*.toml",
        ]
        for pattern in generated:
            for file in folder.glob(pattern):
                file.unlink()
        if not any(folder.iterdir()):
            shutil.rmtree(folder)
        click.echo(f"{name}: removed (no source declares it)")
    if not stale and not common.quiet():
        click.echo("envc: every variant is as generated", err=True)
    return EXIT_FINDINGS if check and stale else EXIT_OK
