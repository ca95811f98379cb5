"""What an unchanged environment rendered to last time: `envc render` with nothing changed reads
no lock and renders nothing.

`.envc/cache/render.json` remembers, per output folder, what each environment was rendered from —
a digest of envc's version, the templates and base-image catalog, envc.yaml, the environment's
manifest and its parents', and the stat of every file in its folder (its locks) — and a digest
of the stat of every file it wrote. While both are unchanged, the environment is unchanged, with
the address and base image it had. Files just written are too young for their stat to vouch for
them: until it can, their content does (a digest of each file's, read again and compared), so
the render after a render reads build/ rather than rendering it all again. An environment whose
manifests name other files (conda_file, requirements_file, a base Dockerfile and what it copies)
is always rendered: those may be anywhere in the repository. Like every cache of envc's, it
changes no result, only how fast it comes (racy timestamps are not trusted; a missing or corrupt
file means work is done again).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import CACHE_DIR, read_json, stat_stamp, trusted, write_json
from compiler._util.files import UnreadableFile, read_bounded
from compiler._util.jsontext import compact_json
from compiler._util.resources import CONFIG_FILE
from compiler.manifest.sources import ValidManifests, lineage, names_files
from compiler.render.output import as_bytes, file_digest, on_disk
from compiler.validate.catalog import template_folders

FORMAT_VERSION = 4


def _files(folder: str, recursive: bool) -> dict[str, str] | None:
    """Relative path -> stamp of the regular files in `folder` (and below, if `recursive`);
    None when a file is too young to vouch for, or something is not a regular file."""
    found: dict[str, str] = {}
    now = time.time()
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(folder, relative)))
        except OSError:
            return None if relative else {}
        for entry in entries:
            name = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    pending.append(f"{name}/")
                continue
            status = entry.stat(follow_symlinks=False)
            if not entry.is_file(follow_symlinks=False) or not trusted(status, now):
                return None
            found[name] = stat_stamp(status)
    return found


def _outputs(folder: str) -> str | None:
    """A digest of the stat of every file below `folder` (held for each of tens of thousands of
    environments: the stats themselves would weigh a kilobyte each); None when there is none,
    or one is too young to vouch for."""
    found = _files(folder, recursive=True)
    return _digest(sorted(found.items())) if found else None


def content_digest(digests: Mapping[str, str]) -> str:
    """A digest of an output folder's files, from each one's file_digest (relative path ->)."""
    return _digest(sorted(digests.items()))


def _content(folder: str) -> str:
    found = on_disk(Path(folder))
    return content_digest({name: file_digest(as_bytes(data)) for name, data in found.items()})


def _digest(document: Any) -> str:
    return hashlib.sha256(compact_json(document).encode()).hexdigest()


class RenderMemory:
    """The render cache of one output folder, for the environments of one run."""

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root
        self.file = root / CACHE_DIR / "render.json"
        self.out = str(out)
        stored = read_json(self.file)
        valid = isinstance(stored, dict) and stored.get("format_version") == FORMAT_VERSION
        outputs = stored.get("outputs") if valid else None
        self.stored: dict[str, Any] = outputs if isinstance(outputs, dict) else {}
        remembered = self.stored.get(self.out)
        self.entries: dict[str, Any] = remembered if isinstance(remembered, dict) else {}
        self.changed = False
        try:
            self.common: str | None = _digest([__version__, self._template_files(), self._config()])
        except UnreadableFile:
            self.common = None  # rendering says what is wrong with it

    def _template_files(self) -> list[tuple[str, str]]:
        """Every file of the template folders (the catalog is one), as (name, digest)."""
        found = []
        for index, folder in enumerate(template_folders(self.root)):
            for path in sorted(folder.rglob("*")):
                if not path.is_dir():
                    name = f"{index}/{path.relative_to(folder).as_posix()}"
                    found.append((name, hashlib.sha256(read_bounded(path)).hexdigest()))
        return found

    def _config(self) -> str:
        config = self.root / CONFIG_FILE
        if not os.path.lexists(config):
            return ""
        return hashlib.sha256(read_bounded(config)).hexdigest()

    def key(self, name: str, manifests: ValidManifests) -> str | None:
        """What environment `name` renders from, as a digest; None when it cannot be told
        without rendering (its manifests name other files, or its folder changed just now)."""
        if self.common is None:
            return None
        chain: list[list[Any]] = []
        for data, folder in lineage(name, manifests).values():
            if names_files(data):
                return None
            chain.append([folder, data])
        inputs = _files(str(self.root / manifests[name][1]), recursive=False)
        if inputs is None:
            return None
        return _digest([self.common, name, chain, sorted(inputs.items())])

    def recall(self, name: str, key: str | None) -> tuple[str, str | None] | None:
        """(address, base image) of an environment rendered from `key` whose output is as it
        was written, else None (and the entry is dropped at once: it is rendered again, and a
        render of 50,000 environments would otherwise hold every stale entry to the end)."""
        found = self._recalled(name, key)
        if found is None and self.entries.pop(name, None) is not None:
            self.changed = True
        return found

    def _recalled(self, name: str, key: str | None) -> tuple[str, str | None] | None:
        entry = self.entries.get(name)
        if key is None or not isinstance(entry, list) or len(entry) != 5 or entry[0] != key:
            return None
        _, outputs, address, base_image, content = entry
        if not isinstance(address, str) or not isinstance(base_image, (str, type(None))):
            return None
        folder = os.path.join(self.out, name)
        found = _outputs(folder)
        if outputs is not None:
            return (address, base_image) if found == outputs else None
        # Written too recently for a stat to vouch for it: its content does, then its stat once
        # that can (learnt here).
        if not isinstance(content, str) or _content(folder) != content:
            return None
        if found is not None:
            self.entries[name] = [key, found, address, base_image, None]
            self.changed = True
        return address, base_image

    def remember(
        self, name: str, key: str | None, address: str, base_image: str | None, content: str
    ) -> None:
        """Record what environment `name` rendered to, as its output folder holds it now
        (`content`: its content_digest)."""
        if key is None:
            self.changed = self.entries.pop(name, None) is not None or self.changed
            return
        outputs = _outputs(os.path.join(self.out, name))
        # A list, not a mapping: tens of thousands of entries are in memory at once.
        entry = [key, outputs, address, base_image, None if outputs else content]
        if self.entries.get(name) != entry:
            self.entries[name] = entry
            self.changed = True

    def save(self, names: set[str] | None = None) -> None:
        """Write the cache (forgetting environments not in `names`, when given)."""
        if names is not None and set(self.entries) - names:
            self.entries = {n: e for n, e in self.entries.items() if n in names}
            self.changed = True
        if self.changed:
            self.stored[self.out] = self.entries
            write_json(self.file, {"format_version": FORMAT_VERSION, "outputs": self.stored})
