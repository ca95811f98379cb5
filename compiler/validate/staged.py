"""The repository's manifests as git's index holds them, for `envc validate --staged` (the
pre-commit hook): the cross-file rules of a commit concern the commit, not the working tree.

One `git ls-files --stage` lists them with their blob ids (no stat of any file, where a
working-tree run stats a folder and a manifest per environment), and the name each claims is
remembered per blob id. Blob ids are content that anyone can compute, so that memory is in the
user's cache folder, never in the repository (see _util/cache.py). A manifest a rule needs in
full (a parent, a namesake) is parsed from its blob: the working tree's file when git's blob id
of its bytes is the staged one (no git process to start), else the blob from git.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import read_json, repository_key, user_cache, write_json
from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded
from compiler._util.git import FileRef, Git, blob_id, staged_files
from compiler.load.discover import ENVIRONMENTS_DIR, MANIFEST_FILENAME
from compiler.validate.checks import Display, check_file
from compiler.validate.manifest_file import ManifestFile
from compiler.validate.packages import SpecChecks
from compiler.validate.roster import Claim, scan_name

_NAMES_FORMAT = f"2/{__version__}"  # another envc may scan or parse a blob otherwise
_MANIFESTS = f"{ENVIRONMENTS_DIR}/**/{MANIFEST_FILENAME}"  # (discovery skips hidden folders)
_REGULAR_MODES = ("100644", "100755")
_KEPT = 200_000  # blob ids remembered; past that, the memory starts again


class StagedManifests:
    """The staged manifests of the repository at `root`: absolute path -> blob."""

    def __init__(self, root: Path, display: Display, specs: SpecChecks) -> None:
        self.root, self.display, self.specs = root, display, specs
        # Absolute paths spelled as discovery spells them (strings: a Path each costs more than
        # the rest of the run).
        prefix = os.path.join(root, "")
        self.refs: dict[str, FileRef] = {
            prefix + (path if os.sep == "/" else path.replace("/", os.sep)): ref
            for path, ref in staged_files(root, _MANIFESTS).items()
            if "/." not in path  # none in a hidden folder
        }
        self._blobs: dict[str, bytes] = {}
        self._git: Git | None = None

    def _read(self, files: list[str]) -> None:
        """Read the blobs of `files`: from the working tree where it holds the same bytes (git's
        blob id says so: no git process to start), the rest with one `git cat-file --batch`. A
        link, or a blob larger than validation reads, is not read: as a file it would not load
        (NUL stands for it)."""
        wanted = {}
        for file in files:
            if file in self._blobs:
                continue
            ref = self.refs[file]
            raw = _working_copy(file, str(ref.oid)) if ref.mode in _REGULAR_MODES else None
            if raw is None:
                wanted[file] = ref
            else:
                self._blobs[file] = raw
        if not wanted:
            return
        self._git = self._git or Git(self.root)
        sizes = self._git.sizes(sorted({str(ref.oid) for ref in wanted.values()}))
        readable, files_of = {}, {}
        for file, ref in wanted.items():
            if ref.mode in _REGULAR_MODES and sizes[str(ref.oid)] <= MAX_FILE_BYTES:
                relative = Path(file).relative_to(self.root).as_posix()
                readable[relative], files_of[relative] = ref, file
            else:
                self._blobs[file] = b"\0"
        for path, raw in self._git.read(readable).items():
            self._blobs[files_of[path]] = raw

    def load(self, file: str) -> ManifestFile:
        """The staged manifest `file`, parsed from its blob (as validation reads a file that is
        not a target: parsed and schema-tested)."""
        self._read([file])
        raw = self._blobs[file]
        return check_file(Path(file), self.display, self.root, self.specs, False, raw=raw)[0]

    def claims(
        self, loaded: dict[str, ManifestFile], remember: bool
    ) -> dict[str, tuple[Claim, bool]]:
        """The name each staged manifest not `loaded` claims, and whether that is certain: per
        blob id from the user's cache (with `remember`), else from a line scan of the blob; one
        the scan cannot read for certain is parsed (into `loaded`)."""
        memory = _NameMemory(self.root if remember else None)
        scanned, parsed = memory.scanned, memory.parsed
        refs = self.refs
        self._read(
            [
                file
                for file, ref in refs.items()
                if file not in loaded and ref.oid not in parsed and ref.oid not in scanned
            ]
        )
        claims: dict[str, tuple[Claim, bool]] = {}
        for file, ref in refs.items():
            if file in loaded:
                continue
            oid = str(ref.oid)
            if oid in parsed:
                claims[file] = parsed[oid], True
            elif oid in scanned:
                claims[file] = scanned[oid], False
            else:
                claim = scan_name(self._blobs[file])
                if isinstance(claim, str) or claim is None:
                    claims[file] = claim, False
                    memory.put(oid, claim, False)
                else:  # the scan cannot tell
                    loaded[file] = self.load(file)
                    memory.put(oid, loaded[file].name, True)
        memory.save()
        return claims


def _working_copy(file: str, oid: str) -> bytes | None:
    """The working tree's `file` when it holds blob `oid`, else None."""
    try:
        raw = read_bounded(file)
    except UnreadableFile:
        return None
    return raw if blob_id(raw, like=oid) == oid else None


class _NameMemory:
    """Blob id -> the name its manifest claims, as a line scan read it (`scanned`) or a full
    parse (`parsed`); None for no name."""

    def __init__(self, root: Path | None) -> None:
        """The memory of the repository at `root`; None: one that starts empty and is not
        kept (`--no-cache`)."""
        self.file = root and user_cache("validate", repository_key(root), "staged-names.json")
        stored = read_json(self.file) if self.file else None
        if not isinstance(stored, dict) or stored.get("format_version") != _NAMES_FORMAT:
            stored = {}
        self.scanned, self.parsed = _names(stored, "scanned"), _names(stored, "parsed")
        self.changed = False

    def put(self, oid: str, name: str | None, parsed: bool) -> None:
        if len(self.scanned) + len(self.parsed) >= _KEPT:
            self.scanned, self.parsed = {}, {}
        (self.parsed if parsed else self.scanned)[oid] = name
        self.changed = True

    def save(self) -> None:
        if self.changed and self.file is not None:
            names = {"scanned": self.scanned, "parsed": self.parsed}
            write_json(self.file, {"format_version": _NAMES_FORMAT, **names})


def _names(stored: dict[str, Any], key: str) -> dict[str, str | None]:
    """The blob id -> name entries of `stored[key]`, if every one is one (a cache file can
    hold anything)."""
    names = stored.get(key)
    if isinstance(names, dict) and all(v is None or type(v) is str for v in names.values()):
        return names
    return {}


def staged_roster_parts(
    root: Path,
    display: Display,
    specs: SpecChecks,
    loaded: dict[str, ManifestFile],
    cache: bool,
) -> tuple[list[str], dict[str, tuple[Claim, bool]], Callable[[str], ManifestFile]]:
    """(files, claims, load) of a Roster over the staged manifests and the `loaded` targets
    (with `cache`, the names are remembered per blob in the user's cache)."""
    staged = StagedManifests(root, display, specs)
    unstaged = [file for file in loaded if file not in staged.refs]  # (a target git has not)
    files = sorted([*staged.refs, *unstaged])  # (git's order: sorting it again costs little)
    return files, staged.claims(loaded, cache), staged.load
