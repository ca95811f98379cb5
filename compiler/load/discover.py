"""Where a repository's manifests are: its root (the folder with `environments/`) and every
`env.yaml` below it, in a stable order. Light: every command starts here."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from compiler._util.cache import stat_stamp, trusted
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


def manifest_paths(
    folder: Path, previous: Mapping[str, Any] | None = None, kept: dict[str, Any] | None = None
) -> list[str]:
    """discover() as strings: a repository of thousands of manifests is listed without making a
    Path of each.

    With `kept`, what each folder walked holds is recorded there (for the caller to keep between
    runs); a folder whose modification and change times are as `previous` records them has the
    same entries, so it is not read again (one stat instead of a listing; git's untracked cache
    works the same way)."""
    found = []
    pending = [str(folder)]
    now = time.time()
    while pending:
        path = pending.pop()
        listed = _listing(path, previous or {}, kept, now)
        if listed is None:
            continue
        subfolders, has_manifest = listed
        if has_manifest:
            found.append(f"{path}{os.sep}{MANIFEST_FILENAME}")
        pending.extend([f"{path}{os.sep}{name}" for name in subfolders])
    return sorted(found)


def _listing(
    path: str, previous: Mapping[str, Any], kept: dict[str, Any] | None, now: float
) -> tuple[list[str], bool] | None:
    """(sub-folders to walk, whether an env.yaml is there) of folder `path`; None if unreadable.
    Taken from `previous` while the folder is unchanged; recorded in `kept`."""
    status, stamp = None, None
    if kept is not None:
        try:
            status = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        entry = previous.get(path)
        stamp = stat_stamp(status)
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == stamp:
            subfolders, has_manifest = entry[1], entry[2]
            if isinstance(subfolders, list) and all(isinstance(n, str) for n in subfolders):
                kept[path] = entry
                return subfolders, has_manifest is True
    try:
        entries = os.scandir(path)
    except OSError:
        return None
    subfolders, has_manifest = [], False
    with entries:
        for entry in entries:
            if entry.name == MANIFEST_FILENAME:
                has_manifest = True
            elif not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                subfolders.append(entry.name)
    # A folder changed within the timestamp resolution may change again unseen: not kept.
    if kept is not None and status is not None and trusted(status, now):
        kept[path] = [stamp, subfolders, has_manifest]
    return subfolders, has_manifest


def _owning_manifest(root: Path, file: Path) -> Path:
    """The manifest a file belongs to: itself if named env.yaml, else the one in a parent folder
    (so `envc validate environments/x/requirements.txt` validates environment x)."""
    if file.name == MANIFEST_FILENAME:
        return file
    for folder in file.parents:
        if not folder.is_relative_to(root) or folder == root:
            break
        if (folder / MANIFEST_FILENAME).exists():
            return folder / MANIFEST_FILENAME
    return file


def manifests_named(root: Path, paths: Sequence[Path]) -> list[Path]:
    """The manifests `paths` name (absolute, sorted): a file's own (see _owning_manifest), every
    one under a folder."""
    targets: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink() and path.name != MANIFEST_FILENAME:
            targets.extend(discover(path))
        else:  # files, and paths that are missing or not regular: read_yaml reports them
            targets.append(_owning_manifest(root, Path(os.path.abspath(path))))
    return sorted({Path(os.path.abspath(p)) for p in targets})
