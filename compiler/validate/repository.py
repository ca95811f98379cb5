"""Validation: find the repository's manifests and run every check over them, in one pass.

load (yamlio) -> schema -> per-file rules -> cross-file rules. Files named on the command line (as
pre-commit passes them) get every check; the rest of the repository is known by name (roster.py)
so that cross-file rules (unique names, `extends`) still see the whole tree. The caches in
.envc/cache/ (index.py, folders.json) spare reading what did not change.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler import __version__
from compiler._util.cache import (
    CACHE_DIR,
    RACY,
    exclusive_lock,
    file_stamp,
    read_json,
    user_cache,
    write_json,
)
from compiler._util.files import UnreadableFile, read_bounded
from compiler._util.resources import manifest_schema_path
from compiler.errors import Diagnostic
from compiler.load.discover import ENVIRONMENTS_DIR, find_root, manifest_paths, manifests_named
from compiler.manifest.sources import ValidManifest, names_files
from compiler.validate.checks import Display, check_file, check_files
from compiler.validate.manifest_file import ManifestFile, StoredData, ValidByName
from compiler.validate.packages import KnownGoodSpecs, SpecChecks
from compiler.validate.roster import UNSURE, Roster, scan_name
from compiler.validate.rules import check_repository

if TYPE_CHECKING:  # imported where first used: the hook (--staged) uses neither index
    from compiler.validate.data_index import DataIndex
    from compiler.validate.index import NamesIndex

_FOLDERS_FORMAT = 3
_SHARED_WORK = 64  # manifests to parse that are worth waiting for another process's parse


@dataclass(frozen=True, slots=True)
class ValidationReport:
    diagnostics: tuple[Diagnostic, ...]
    checked: tuple[str, ...]  # display paths of the manifests that were validated
    # Every valid manifest of the repository: name -> (data, folder relative to the root), for
    # the stages after validation (they need not read the files again).
    manifests: Mapping[str, ValidManifest] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.diagnostics


class _Run:
    """One validation: where the repository is, how paths are shown, and the caches it keeps."""

    data: DataIndex  # the data index, once load() has opened it

    def __init__(self, root: Path, cwd: Path, cache: bool) -> None:
        self.root = root
        self._prefix = os.path.join(root, "")
        self.cache_dir = root / CACHE_DIR if cache else None
        # Keyed by the spec's text, which anyone can write: in the user's cache (_util/cache).
        self.known = KnownGoodSpecs.load(user_cache("specs.json")) if cache else None
        self.specs = SpecChecks(self.known or KnownGoodSpecs())
        self.display = Display(cwd)
        self.key = Display(root)  # index entries are keyed by the path inside the repository
        # What load() parsed, with the files' stat: their names are remembered once the data
        # index is let go (`finish`), so that the two indexes are never in memory at once.
        self.parsed: list[ManifestFile] = []
        self.stamps: dict[str, str] = {}
        self.state: str | None = None  # what load() saw of the repository's files (_state)

    @cached_property
    def everything(self) -> list[str]:
        """Every manifest of the repository, listed when first needed (a staged run lists none)."""
        return self._listed(self.root / ENVIRONMENTS_DIR)

    def inside(self, file: str) -> bool:
        """Whether `file` (absolute, normalized, as listed) is in the repository (a manifest
        named on the command line may be outside it: no index remembers it)."""
        return file.startswith(self._prefix)

    def _listed(self, folder: Path) -> list[str]:
        """Every manifest under `folder`; with the cache, folders unchanged since the last run are
        not listed again (.envc/cache/folders.json)."""
        if self.cache_dir is None:
            return manifest_paths(folder)
        file = self.cache_dir / "folders.json"
        stored = read_json(file)
        valid = isinstance(stored, dict) and stored.get("format_version") == _FOLDERS_FORMAT
        previous = stored["folders"] if valid and isinstance(stored["folders"], dict) else {}
        kept: dict[str, Any] = {}
        found = manifest_paths(folder, previous, kept)
        if kept != previous:  # a folder changed, came or went
            write_json(file, {"format_version": _FOLDERS_FORMAT, "folders": kept})
        return found

    @cached_property
    def fingerprint(self) -> str:
        """What the indexes' entries were read by: envc's version and the schema's."""
        digest = hashlib.sha256(manifest_schema_path().read_bytes()).hexdigest()[:16]
        return f"{__version__}|{digest}"

    @cached_property
    def names(self) -> NamesIndex:
        """The names index, read when first needed (a whole-repository run that parses nothing
        needs none)."""
        from compiler.validate.index import NamesIndex

        if self.cache_dir is None:
            return NamesIndex()
        return NamesIndex.load(self.cache_dir / "names.json", self.fingerprint)

    def _data_index(self) -> DataIndex:
        from compiler.validate.data_index import DataIndex

        if self.cache_dir is None:
            return DataIndex()
        # (where earlier versions kept it: 33 MB at 50,000 manifests)
        with suppress(OSError):
            (self.cache_dir / "manifests.json").unlink()
        return DataIndex.open(self.root, self.fingerprint)

    def check(
        self, jobs: list[tuple[str, bool]], light: bool = False
    ) -> Iterator[tuple[ManifestFile, list[Diagnostic]]]:
        paths = [(Path(file), target) for file, target in jobs]
        return check_files(paths, self.display, self.root, self.specs, light)

    def parse(self, file: str) -> ManifestFile:
        """A manifest read for the cross-file rules only."""
        return check_file(Path(file), self.display, self.root, self.specs, False)[0]

    def load(
        self, files: list[str], target_set: set[str]
    ) -> tuple[dict[str, ManifestFile], list[Diagnostic], set[str]]:
        """Every manifest of `files`, from the data index when unchanged (targets: only if they
        passed every single-file check then), else parsed, and checked if a target. Also the
        targets whose documents have no positions (vouched for by the index, or checked by a
        worker process)."""
        index = self.data = self._data_index()  # only now: the hook needs none
        loaded, stamps = self._remembered(index, files, target_set)
        if self.cache_dir is None or len(files) - len(loaded) < _SHARED_WORK:
            return self._parse_rest(index, files, target_set, loaded, stamps)
        # Concurrent commands (eight `envc register`s of one CI job) would each parse the same
        # manifests: the first to get here parses them and fills the index while the others
        # wait for it, then read the index again.
        with exclusive_lock(self.cache_dir / "validate.lock"):
            if not index.unchanged_on_disk():
                index.reload()
                loaded, stamps = self._remembered(index, files, target_set)
            return self._parse_rest(index, files, target_set, loaded, stamps)

    def _remembered(
        self, index: DataIndex, files: list[str], target_set: set[str]
    ) -> tuple[dict[str, ManifestFile], dict[str, str]]:
        """The manifests the data index vouches for, and the file_stamp of every manifest."""
        from compiler.validate.data_index import IndexedText

        loaded: dict[str, ManifestFile] = {}
        stamps: dict[str, str] = {}
        now = time.time()
        for file in files:
            stamp = file_stamp(file, now)
            if stamp is None:
                continue
            stamps[file] = stamp
            key = self.key(file)
            hit = index.get(key, stamp)
            if hit is not None and (file not in target_set or hit.clean):
                text = IndexedText(index, key, stamp)
                stored = StoredData(self.display(file), None, hit.name, hit.parent, text)
                loaded[file] = ManifestFile.stored(file, stored, hit.schema_ok)
        return loaded, stamps

    def _parse_rest(
        self,
        index: DataIndex,
        files: list[str],
        target_set: set[str],
        loaded: dict[str, ManifestFile],
        stamps: dict[str, str],
    ) -> tuple[dict[str, ManifestFile], list[Diagnostic], set[str]]:
        """Parse (and check, if targets) the manifests not `loaded` yet; remember them."""
        diagnostics: list[Diagnostic] = []
        jobs = [(file, file in target_set) for file in files if file not in loaded]
        if self.cache_dir is not None:  # only a cache remembers a clean state to compare with
            self.state = _state(self.key, files, stamps, self.root)
        # (those from the index had their names remembered when they were parsed)
        self.parsed, self.stamps = [], {}
        for manifest, found in self.check(jobs, light=True):
            file = manifest.path
            loaded[file] = manifest
            self.parsed.append(manifest)
            diagnostics.extend(found)
            if file in stamps and self.inside(file):
                self.stamps[file] = stamps[file]
                clean = file in target_set and not found and not names_files(manifest.data)
                held = index.put(
                    self.key(file),
                    stamps[file],
                    manifest.text,
                    manifest.schema_ok,
                    clean,
                    manifest.name,
                    manifest.parent,
                )
                if held is not None:
                    manifest.indexed(held)  # its text is on disk: not held here too
        index.keep_only({self.key(file) for file in self.everything})
        index.save()
        unplaced = {file for file in target_set if not loaded[file].placed}
        return loaded, diagnostics, unplaced

    def claims(self, files: list[str], loaded: dict[str, ManifestFile]) -> dict[str, Any]:
        """The name each manifest not loaded yet claims, and whether that is certain: from the
        names index while a file is unchanged, else from a line scan; a manifest the scan cannot
        read for certain is parsed (into `loaded`)."""
        index = self.names
        remembering = index.file is not None  # else no stat: a fresh clone's hook reads each
        claims: dict[str, Any] = {}
        for file in files:
            if file in loaded:
                continue
            stamp = file_stamp(file) if remembering else RACY
            hit = index.get(self.key(file), stamp) if stamp else None
            if hit is not None and len(hit) == 2:
                claims[file] = (hit[0], bool(hit[1]))
                continue
            try:
                claim = UNSURE if stamp is None else scan_name(read_bounded(file))
            except UnreadableFile:
                claim = UNSURE
            if claim is UNSURE:
                loaded[file] = self.parse(file)
            else:
                claims[file] = (claim, False)
                if stamp:
                    index.put(self.key(file), stamp, [claim, False])
        return claims

    def remember_names(
        self,
        manifests: Iterable[ManifestFile],
        stamps: Mapping[str, str] | None = None,
    ) -> None:
        """Record the names full parses found, for the hooks that come next (`stamps`: the
        files' file_stamp, when already known)."""
        if self.names.file is None:
            return
        for manifest in manifests:
            file = manifest.path
            stamp = stamps.get(file) if stamps is not None else file_stamp(file)
            if stamp is not None and self.inside(file):
                self.names.put(self.key(file), stamp, [manifest.name, True])
        self.names.keep_only({self.key(file) for file in self.everything})
        self.names.save()

    def finish(self) -> None:
        """Save the data index and let go of its facts (its texts are read from it when asked
        for), then remember the names of what was parsed."""
        self.data.save()
        self.data.release()
        if self.parsed:
            self.remember_names(self.parsed, self.stamps)
        self.parsed, self.stamps = [], {}

    def valid(self, manifests: Iterable[ManifestFile]) -> ValidByName:
        by_name = {
            manifest.name: manifest
            for manifest in manifests
            if manifest.schema_ok and manifest.name is not None
        }
        return ValidByName(by_name, self.key)


class _AllManifests(Mapping[str, ValidManifest]):
    """The valid manifests of the whole repository, read when first asked for (`envc validate
    FILE` usually needs only its cross-file rules, not every manifest's data)."""

    def __init__(self, run: _Run, files: list[str], roster: Roster) -> None:
        self._run, self._files, self._roster = run, files, roster
        self._valid: ValidByName | None = None

    def _all(self) -> ValidByName:
        if self._valid is None:
            rest = [file for file in self._files if file not in self._roster.loaded]
            loaded = {**self._run.load(rest, set())[0], **self._roster.loaded}
            self._run.finish()
            self._valid = self._run.valid(loaded[file] for file in self._files if file in loaded)
        return self._valid

    def __getitem__(self, name: str) -> ValidManifest:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def validate(
    paths: Iterable[Path] = (),
    *,
    root: Path | None = None,
    cwd: Path | None = None,
    cache: bool = False,
    staged: bool = False,
) -> ValidationReport:
    """Validate the named manifests (default: all of them) of the repository at `root`.

    With `cache`, .envc/cache/ remembers the data of manifests and their names (and the user's
    cache folder the package specs that parsed), so that a run over a few files does not
    re-parse the rest of a large repository. With `staged`, the manifests named are judged
    against the others as git's index holds them (staged.py), not the working tree's."""
    cwd = (cwd or Path.cwd()).resolve()
    run = _Run(find_root(cwd) if root is None else root.resolve(), cwd, cache)
    requested = list(paths)
    if requested:
        found, checked, manifests = _validate_named(run, [Path(cwd, p) for p in requested], staged)
    else:
        found, checked, manifests = _validate_all(run)
    if run.known is not None:
        run.known.save()
    return ValidationReport(tuple(sorted(set(found))), checked, manifests)


def _validate_all(
    run: _Run,
) -> tuple[list[Diagnostic], tuple[str, ...], Mapping[str, ValidManifest]]:
    """Every manifest gets every check."""
    files = run.everything
    target_set = set(files)
    loaded, diagnostics, positionless = run.load(files, target_set)
    manifests = [loaded[file] for file in files]
    # No manifest (nor the catalog) changed since the cross-file rules found nothing: they find
    # nothing again (every command after the hook validates the whole repository).
    unchanged = run.state is not None and run.state == run.data.clean_state
    across = [] if unchanged else check_repository(manifests, Roster.of(manifests), run.root)
    # A manifest from the index or a worker has no positions: when a cross-file rule reports on
    # it (its parent changed, say), read it again so the report points at the line.
    shown = {run.display(file): file for file in positionless if file in loaded}
    unplaced = sorted(shown[d.path] for d in across if d.path in shown)
    if unplaced:
        for manifest, found in run.check([(file, True) for file in dict.fromkeys(unplaced)]):
            loaded[manifest.path] = manifest
            diagnostics.extend(found)
        manifests = [loaded[file] for file in files]
        across = check_repository(manifests, Roster.of(manifests), run.root)
    diagnostics.extend(across)
    run.data.remember_clean(run.state if not across else None)
    run.finish()
    return diagnostics, tuple(run.display(file) for file in files), run.valid(manifests)


def _state(key: Display, files: list[str], stamps: Mapping[str, str], root: Path) -> str | None:
    """A digest of what the cross-file rules see: every manifest (by its path and stat) and the
    base-image catalog in use; None when a file cannot be vouched for by its stat (unreadable,
    or changed within the timestamp resolution)."""
    from compiler.validate.catalog import catalog_file

    digest = hashlib.sha256()
    for file in files:
        stamp = stamps.get(file)
        if not stamp:
            return None
        digest.update(f"{key(file)}\0{stamp}\0".encode())
    catalog = file_stamp(str(catalog_file(root)))
    if catalog == RACY:
        return None
    digest.update(f"catalog\0{catalog or ''}".encode())
    return digest.hexdigest()


def _validate_named(
    run: _Run, paths: list[Path], staged: bool
) -> tuple[list[Diagnostic], tuple[str, ...], Mapping[str, ValidManifest]]:
    """The named manifests get every check; the others are known by name (see roster.py): the
    working tree's, or with `staged` those of git's index (staged.py)."""
    targets = [str(file) for file in manifests_named(run.root, paths)]
    loaded: dict[str, ManifestFile] = {}
    diagnostics: list[Diagnostic] = []
    for manifest, found in run.check([(file, True) for file in targets]):
        loaded[manifest.path] = manifest
        diagnostics.extend(found)
    if staged:
        from compiler.validate.staged import staged_roster_parts

        files, claims, load = staged_roster_parts(
            run.root, run.display, run.specs, loaded, run.cache_dir is not None
        )
    else:
        files = sorted(set(targets) | set(run.everything))
        claims, load = run.claims(files, loaded), run.parse
    roster = Roster(files, loaded, claims, load)
    diagnostics.extend(check_repository([loaded[file] for file in targets], roster, run.root))
    if not staged:  # (a staged run parsed blobs: no file's stat stands for them)
        run.remember_names(roster.loaded.values())
    checked = tuple(run.display(file) for file in targets)
    return diagnostics, checked, _AllManifests(run, files, roster)
