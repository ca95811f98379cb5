"""One side of a plan: a revision's files (git objects) and its parsed manifests, cached by blob.

The caches are keyed by git object ids, which anyone can compute: they live in the user's cache
folder, one folder per repository, never in the repository (a committed file must not decide
what a manifest holds).
"""

from __future__ import annotations

import bisect
import contextlib
import posixpath
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import read_json, repository_key, user_cache, write_json
from compiler._util.files import MAX_FILE_BYTES
from compiler._util.git import SUBMODULE_MODE, Change, FileRef, Git
from compiler._util.resources import CONFIG_FILE
from compiler.load.discover import ENVIRONMENTS_DIR, MANIFEST_FILENAME
from compiler.load.yamlio import parse_yaml
from compiler.manifest.sources import name_of, parent_of

MANIFEST_CACHE = "manifests.json"
MANIFEST_CACHE_VERSION = f"2/{__version__}"  # a new parser may read a blob otherwise
NAMES_CACHE = "names"  # a file of environment names per root tree id, for plans with no change
NAMES_KEPT = 16
TEMPLATES = "templates"
CATALOG_PATH = f"{TEMPLATES}/base-images.yaml"
ENVIRONMENTS = f"{ENVIRONMENTS_DIR}/"
MANIFEST = MANIFEST_FILENAME


@dataclass
class Side:
    """One side's files and manifests: folder -> raw data (None: does not parse)."""

    files: dict[str, FileRef]
    manifests: dict[str, Any] = field(default_factory=dict)
    _sorted: list[str] = field(default_factory=list)
    _names: dict[str, str] | None = None
    # name -> its folders in path order, for the names more than one folder claims
    _clashes: dict[str, list[str]] = field(default_factory=dict)

    def under(self, folder: str) -> list[str]:
        """The files under `folder`, found by bisection in the sorted paths."""
        if not self._sorted:
            self._sorted = sorted(self.files)
        prefix = f"{folder}/"
        start = bisect.bisect_left(self._sorted, prefix)
        end = bisect.bisect_left(self._sorted, prefix[:-1] + "0")  # '0' sorts right after '/'
        return self._sorted[start:end]

    def names(self) -> dict[str, str]:
        """name -> folder; the first folder in path order wins a duplicated name. Read once the
        manifests are loaded, and kept (a side of 50,000 is asked several times)."""
        if self._names is None:
            names: dict[str, str] = {}
            for folder in sorted(self.manifests):
                name = name_of(self.manifests[folder])
                if name is not None and names.setdefault(name, folder) != folder:
                    self._clashes.setdefault(name, [names[name]]).append(folder)
            self._names = names
        return self._names

    def clashes(self) -> dict[str, list[str]]:
        """name -> its folders in path order, for each name more than one folder claims."""
        self.names()
        return self._clashes

    def inputs(self, folders: Collection[str], references: Collection[str]) -> dict[str, FileRef]:
        """What building from `folders` (an environment's and its parents') reads on this side:
        the files of those folders (without nested environments), the referenced files and the
        files beside them, the templates and envc.yaml."""
        paths = [p for f in folders for p in self.under(f) if owner(p, self.manifests) == f]
        for folder in {posixpath.dirname(path) for path in references}:
            paths += [p for p in self.under(folder) if posixpath.dirname(p) == folder]
        paths += [*references, *self.under(TEMPLATES), CONFIG_FILE]
        return {
            path: self.files[path]
            for path in paths
            if path in self.files and self.files[path].mode != SUBMODULE_MODE
        }

    def chain(self, name: str, names: Mapping[str, str]) -> list[str]:
        """The folders of `name` and its parents, child first (stops at an unknown or cycle)."""
        folders: list[str] = []
        current: str | None = name
        while current is not None and current in names and names[current] not in folders:
            folders.append(names[current])
            current = parent_of(self.manifests[names[current]])
        return folders


def manifest_folders(files: Iterable[str]) -> list[str]:
    suffix = f"/{MANIFEST}"
    return [p[: -len(suffix)] for p in files if p.endswith(suffix) and p.startswith(ENVIRONMENTS)]


def plan_cache(root: Path, name: str) -> Path:
    """The plan's cache file `name` for the repository at `root`."""
    return user_cache("plan", repository_key(root), name)


class ManifestCache:
    """Parsed manifests by blob id: a manifest is parsed once, whichever commit holds it."""

    def __init__(self, root: Path, enabled: bool) -> None:
        self.file = plan_cache(root, MANIFEST_CACHE) if enabled else None
        stored = read_json(self.file) if self.file else None
        self.entries: dict[str, Any] = {}
        if isinstance(stored, dict) and stored.get("version") == MANIFEST_CACHE_VERSION:
            self.entries = stored["manifests"]
        self.used: set[str] = set()
        self.added = False

    def load(self, git: Git, side: Side, folders: Collection[str]) -> None:
        refs = {folder: side.files[f"{folder}/{MANIFEST}"] for folder in folders}
        entries, used = self.entries, self.used
        missing = {
            f"{folder}/{MANIFEST}": ref
            for folder, ref in refs.items()
            if ref.oid is None or ref.oid not in entries
        }
        suffix = len(MANIFEST) + 1
        parsed = {path[:-suffix]: _parse(path, raw) for path, raw in git.read(missing).items()}
        for folder, ref in refs.items():
            oid = ref.oid
            if folder in parsed:
                data = parsed[folder]
                if oid is not None:
                    entries[oid] = data
                    self.added = True
            else:
                assert oid is not None
                data = entries[oid]
            if oid is not None:
                used.add(oid)
            side.manifests[folder] = data

    def save(self) -> None:
        # Unused entries are dropped once they outnumber the used ones: plans of other
        # revisions keep finding theirs, and the file does not grow without bound.
        if self.file and (self.added or len(self.entries) > 2 * len(self.used) + 1000):
            kept = {oid: self.entries[oid] for oid in sorted(self.used)}
            write_json(self.file, {"version": MANIFEST_CACHE_VERSION, "manifests": kept})


def _names_file(folder: Path, tree: str) -> Path:
    return folder / f"{tree}-{MANIFEST_CACHE_VERSION.replace('/', '-')}.json"


def cached_names(folder: Path, tree: str) -> dict[str, str] | None:
    """The names of tree `tree`, as remember_names() kept them (None: not kept)."""
    names = read_json(_names_file(folder, tree))
    return names if isinstance(names, dict) else None


def remember_names(folder: Path, tree: str, names: dict[str, str]) -> None:
    """Keep the names of tree `tree`, and those of the `NAMES_KEPT` trees remembered last: a
    file per tree, written once (a tree's names never change), so a plan of a known base reads
    nothing it does not need."""
    file = _names_file(folder, tree)
    if file.is_file():
        return
    write_json(file, names)
    with contextlib.suppress(OSError):
        kept = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
        for old in kept[:-NAMES_KEPT]:
            old.unlink()


def _parse(path: str, raw: bytes) -> Any:
    if len(raw) > MAX_FILE_BYTES:  # validation's limit: the head's says so, nothing parses it
        return None
    data = parse_yaml(path, raw).data
    return data if isinstance(data, dict) else None


def owner(path: str, manifest_folders: Collection[str]) -> str | None:
    """The nearest folder at or above `path`'s folder that holds a manifest."""
    folder = posixpath.dirname(path)
    while folder:
        if folder in manifest_folders:
            return folder
        folder = posixpath.dirname(folder)
    return None


def apply_changes(files: Mapping[str, FileRef], changes: Iterable[Change]) -> dict[str, FileRef]:
    head = dict(files)
    for change in changes:
        if change.old_path is not None:
            head.pop(change.old_path, None)
        if change.new is None:
            head.pop(change.path, None)
        else:
            head[change.path] = change.new
    return head
