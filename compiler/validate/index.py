"""The validation index in `.envc/cache/`: parsed manifests keyed by their stat, so that the
pre-commit hook does not parse an unchanged repository again."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.cache import read_json, write_json

# A file changed twice within the file system's timestamp resolution keeps its stat; entries this
# young are not trusted (git's "racy clean" problem).
_RACY_SECONDS = 2.0


def _stamp(status: os.stat_result) -> list[int]:
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]


class ManifestIndex:
    """Parsed data of manifests, keyed by their stat, for cross-file rules; and whether the
    manifest passed every single-file check.

    The pre-commit hook validates a few files, but unique names and `extends` need every
    manifest of the repository; this index spares parsing the ones that did not change. A
    manifest that passed its single-file checks and references no other file is not checked
    again until it changes (cross-file rules always run)."""

    FORMAT_VERSION = 2

    def __init__(self, file: Path | None = None, fingerprint: str = "") -> None:
        self.file = file
        self.fingerprint = fingerprint
        self.entries: dict[str, list[Any]] = {}
        self.changed = False

    @classmethod
    def load(cls, file: Path, schema: Path) -> ManifestIndex:
        digest = hashlib.sha256(schema.read_bytes()).hexdigest()[:16]
        index = cls(file, f"{__version__}|{digest}")
        stored = read_json(file)
        if (
            isinstance(stored, dict)
            and stored.get("format_version") == cls.FORMAT_VERSION
            and stored.get("fingerprint") == index.fingerprint
            and isinstance(stored.get("entries"), dict)
        ):
            index.entries = stored["entries"]
        return index

    def get(self, key: str, status: os.stat_result) -> tuple[Any, bool, bool] | None:
        """(data, conforms to the schema, passed every single-file check) of an unchanged
        manifest, else None."""
        entry = self.entries.get(key)
        if isinstance(entry, list) and len(entry) == 4 and entry[0] == _stamp(status):
            return entry[1], bool(entry[2]), bool(entry[3])
        return None

    def put(
        self, key: str, status: os.stat_result, data: Any, schema_ok: bool, clean: bool
    ) -> None:
        if self.file is None or time.time() - status.st_mtime < _RACY_SECONDS:
            return
        entry = [_stamp(status), data, schema_ok, clean]
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
            write_json(
                self.file,
                {
                    "format_version": self.FORMAT_VERSION,
                    "fingerprint": self.fingerprint,
                    "entries": self.entries,
                },
            )
