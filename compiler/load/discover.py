"""Where a repository's manifests are: its root (the folder with `environments/`) and every
`env.yaml` below it, in a stable order. Light: every command starts here."""

from __future__ import annotations

import os
from pathlib import Path

from compiler.errors import UsageError

MANIFEST_FILENAME = "env.yaml"
ENVIRONMENTS_DIR = "environments"


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds an `environments/` folder."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ENVIRONMENTS_DIR).is_dir():
            return folder
    raise UsageError(
        f"no {ENVIRONMENTS_DIR}/ folder in {start} or above; run envc inside an "
        "environments repository or pass --repo"
    )


def discover(folder: Path) -> list[Path]:
    """Every manifest under `folder`, in a stable order; symbolic links are not followed and
    hidden folders are skipped. A folder named env.yaml is listed too (reading it says what is
    wrong)."""
    return [Path(file) for file in manifest_paths(folder)]


def manifest_paths(folder: Path) -> list[str]:
    """discover() as strings: a repository of thousands of manifests is listed without making a
    Path of each."""
    found = []
    pending = [str(folder)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.name == MANIFEST_FILENAME:
                    found.append(entry.path)
                elif not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return sorted(found)
