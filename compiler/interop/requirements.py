"""pip requirements files (with their -r includes) -> pip-only manifests."""

from __future__ import annotations

import re
from pathlib import Path

from compiler.interop.common import (
    Imported,
    PipOptions,
    editable_requirement,
    folder_name,
    is_editable,
    manifest_name,
    new_manifest,
    pip_requirement,
    read_text,
)
from compiler.validate.references import logical_lines, resolve_reference


def import_requirements(file: Path, name: str | None = None, python: str | None = None) -> Imported:
    """A pip requirements file (and the files it includes with -r) as a pip-only manifest for
    Python `python` (X.Y), which the file itself cannot say."""
    notes: list[str] = []
    options = PipOptions()
    pip = requirements_in(file, notes, options)
    options.finish(pip, notes)
    if not python:
        notes.append(
            "a requirements file does not say which Python: pass --python X.Y "
            "or set python: in the manifest"
        )
    manifest = new_manifest(
        manifest_name(name or folder_name(file)),
        python=python,
        pip=pip,
        pip_indexes=options.indexes,
    )
    return Imported(manifest["name"], manifest, str(file), notes)


def requirements_in(file: Path, notes: list[str], options: PipOptions) -> list[str]:
    """The requirements of `file` and of the files it includes (-r), none above its folder;
    their options go to `options`."""
    return _requirements(file, file.parent, notes, set(), options)


def _requirements(
    file: Path, root: Path, notes: list[str], seen: set[Path], options: PipOptions
) -> list[str]:
    seen.add(file.resolve())
    found: list[str] = []
    for number, _, content in logical_lines(read_text(file)):
        include = re.fullmatch(r"(?:-r|--requirement)(?:\s+|=)(\S+)", content)
        if include:
            target, _ = resolve_reference(root, file.parent, include.group(1))
            if target is None or not target.is_file():
                notes.append(f"{file.name}:{number}: include {include.group(1)} not found")
            elif target.resolve() not in seen:
                found += _requirements(target, root, notes, seen, options)
        elif is_editable(content):
            found += filter(None, [editable_requirement(content, notes)])
        elif content.startswith("-"):
            options.option(content, f"{file.name}:{number}: ", notes)
        else:
            carried = pip_requirement(options.requirement(content), notes)
            if carried is not None:
                found.append(carried)
    return found
