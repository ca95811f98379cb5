"""Stat-keyed indexes in `.envc/cache/`: what validation learnt about a manifest, remembered until
the file changes, so that the pre-commit hook does not read an unchanged repository again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import read_json, stat_stamp, write_json


class ManifestIndex:
    """Facts about manifests (a list per file, its shape the index's own), keyed by the path
    inside the repository and valid while the file's stat is unchanged: `names.json`, each
    manifest's environment name (what `envc validate FILE` needs of the thousands of
    manifests it was not asked about). The data of manifests is in data_index.py."""

    FORMAT_VERSION = 5

    def __init__(self, file: Path | None = None, fingerprint: str = "") -> None:
        self.file = file
        self.fingerprint = fingerprint
        self.entries: dict[str, list[Any]] = {}
        # The state of a repository in which every manifest passed every check, cross-file
        # rules included, the last time (see validate/repository.py).
        self.clean_state: str | None = None
        self.changed = False
        self.stamp: list[int] | None = None  # the file's stat when it was read

    def _file_stamp(self) -> list[int] | None:
        try:
            return stat_stamp(os.stat(self.file)) if self.file is not None else None
        except OSError:
            return None

    def unchanged_on_disk(self) -> bool:
        """Whether the file is as it was read (no other process has saved it since)."""
        return self._file_stamp() == self.stamp

    @classmethod
    def load(cls, file: Path, schema: Path) -> ManifestIndex:
        """The index in `file`, empty unless written by this envc version for this schema."""
        digest = hashlib.sha256(schema.read_bytes()).hexdigest()[:16]
        index = cls(file, f"{__version__}|{digest}")
        index.stamp = index._file_stamp()  # before reading: a later write changes it
        stored = read_json(file)
        if (
            isinstance(stored, dict)
            and stored.get("format_version") == cls.FORMAT_VERSION
            and stored.get("fingerprint") == index.fingerprint
            and isinstance(stored.get("entries"), dict)
        ):
            index.entries = stored["entries"]
            clean_state = stored.get("clean_state")
            index.clean_state = clean_state if isinstance(clean_state, str) else None
        return index

    def get(self, key: str, stamp: str) -> list[Any] | None:
        """What was stored for a file unchanged since (`stamp`: its file_stamp), else None."""
        entry = self.entries.get(key)
        if isinstance(entry, list) and len(entry) == 2 and stamp and entry[0] == stamp:
            facts = entry[1]
            return facts if isinstance(facts, list) else None
        return None

    def put(self, key: str, stamp: str, facts: list[Any]) -> None:
        if self.file is None or not stamp:  # (a racy file is not remembered)
            return
        entry = [stamp, facts]
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.changed = True

    def keep_only(self, keys: set[str]) -> None:
        """Forget manifests that no longer exist."""
        for key in set(self.entries) - keys:
            del self.entries[key]
            self.changed = True

    def remember_clean(self, state: str | None) -> None:
        if self.clean_state != state:
            self.clean_state = state
            self.changed = True

    def save(self) -> None:
        if self.file is not None and self.changed:
            write_json(
                self.file,
                {
                    "format_version": self.FORMAT_VERSION,
                    "fingerprint": self.fingerprint,
                    "entries": self.entries,
                    "clean_state": self.clean_state,
                },
            )
            self.changed = False
