"""The names index in `.envc/cache/`: what validation learnt of a manifest's name, remembered until
the file changes, so that the pre-commit hook does not read an unchanged repository again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler._util.cache import read_json, write_json


class NamesIndex:
    """`names.json`: each manifest's environment name (what `envc validate FILE` needs of the
    thousands of manifests it was not asked about), a list of facts per file keyed by the path
    inside the repository and valid while the file's stat is unchanged. The data of manifests
    is in data_index.py."""

    FORMAT_VERSION = 5

    def __init__(self, file: Path | None = None, fingerprint: str = "") -> None:
        self.file = file
        self.fingerprint = fingerprint
        self.entries: dict[str, list[Any]] = {}
        self.changed = False

    @classmethod
    def load(cls, file: Path, fingerprint: str) -> NamesIndex:
        """The index in `file`, empty unless written for `fingerprint` (envc's and the
        schema's versions)."""
        index = cls(file, fingerprint)
        stored = read_json(file)
        if (
            isinstance(stored, dict)
            and stored.get("format_version") == cls.FORMAT_VERSION
            and stored.get("fingerprint") == fingerprint
            and isinstance(stored.get("entries"), dict)
        ):
            index.entries = stored["entries"]
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

    def save(self) -> None:
        if self.file is not None and self.changed:
            document = {
                "format_version": self.FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "entries": self.entries,
            }
            write_json(self.file, document)
            self.changed = False
