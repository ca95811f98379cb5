"""Validation's data index: what it learnt about each manifest, remembered until the file changes,
so that a whole-repository run does not parse or check an unchanged manifest again.

One SQLite file per repository in the user's cache folder (`validate/<repository>/manifests.db`):
a row per manifest, keyed by its path inside the repository and valid while the file's stat is
unchanged, holding whether it conformed to the schema, whether it passed every single-file
check ("clean"), its name and parent, and its data as JSON text. The facts of every manifest
are read at once; a text is read when a stage asks for that manifest's data (`IndexedText`),
so a run over 50,000 manifests holds their names, not their texts. Every write is a short
transaction: concurrent runs (and a killed one) leave the file consistent, and a file SQLite
cannot read is started afresh. Each row is marked with the envc version and schema that parsed
it (its stamp's prefix): another version's rows are parsed again, never read. It lives outside
the repository: a database file committed into it would be opened by every CI job that checks
the repository out.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from compiler._util.cache import repository_key, user_cache
from compiler._util.sqlite import CacheFile

_BATCH = 1000  # rows written per transaction
_READ_AHEAD = 256  # texts read at once (text)


class Facts(NamedTuple):
    """What the index holds of a manifest besides its text."""

    stamp: str  # its file's stat when it was read (file_stamp)
    schema_ok: bool
    clean: bool  # passed every single-file check and names no other file
    name: str | None
    parent: str | None


class DataIndex(CacheFile):
    """The data index of one repository; without a file (`--no-cache`, a cache folder that
    cannot be written), it remembers nothing."""

    FORMAT_VERSION = 5
    TABLES = (
        (
            "manifests",
            "CREATE TABLE IF NOT EXISTS manifests (key TEXT PRIMARY KEY, stamp TEXT NOT NULL, "
            "schema_ok INTEGER NOT NULL, clean INTEGER NOT NULL, name TEXT, parent TEXT, "
            "text TEXT NOT NULL)",
        ),
    )

    def __init__(self, file: Path | None = None, fingerprint: str = "") -> None:
        super().__init__(file)
        # Rows are this envc's (and schema's) by their stamps' prefix: two versions working on
        # one repository each read only what they parsed themselves.
        self.prefix = hashlib.sha256(fingerprint.encode()).hexdigest()[:12] + "|"
        self.facts: dict[str, Facts] = {}
        self._foreign: set[str] = set()  # keys of rows another version wrote
        # The state of a repository in which every manifest passed every check, cross-file
        # rules included, the last time (see validate/repository.py).
        self.clean_state: str | None = None
        self._stored_clean: str | None = None
        self._version = 0  # PRAGMA data_version when the facts were read
        self._pending = 0  # rows written in the open transaction
        self._ahead: dict[str, tuple[str, str]] = {}  # key -> (stamp, text), read ahead

    @classmethod
    def open(cls, root: Path, fingerprint: str) -> DataIndex:
        """The index of the repository at `root`, its rows read for `fingerprint` (envc's and
        the schema's versions)."""
        index = cls(user_cache("validate", repository_key(root), "manifests.db"), fingerprint)
        # (stages read texts from worker threads too: SQLite serializes the calls)
        return index if index._open(threads=True) else cls()

    def _opened(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read every manifest's facts (again: another process may have filled the index)."""
        if self.db is None:
            return
        self._version = self.db.execute("PRAGMA data_version").fetchone()[0]
        rows = self.db.execute("SELECT key, stamp, schema_ok, clean, name, parent FROM manifests")
        prefix, start = self.prefix, len(self.prefix)
        self.facts, self._foreign = {}, set()
        for key, stamp, schema_ok, clean, name, parent in rows:
            if stamp.startswith(prefix):
                self.facts[key] = Facts(stamp[start:], bool(schema_ok), bool(clean), name, parent)
            else:
                self._foreign.add(key)
        clean_key = f"clean:{self.prefix}"
        found = self.db.execute("SELECT value FROM meta WHERE name = ?", (clean_key,)).fetchone()
        self.clean_state = self._stored_clean = found[0] if found else None

    def unchanged_on_disk(self) -> bool:
        """Whether no other process has written the index since its facts were read."""
        if self.db is None:
            return True
        return self._guarded(lambda db: db.execute("PRAGMA data_version").fetchone()[0]) in (
            self._version,
            None,
        )

    def get(self, key: str, stamp: str) -> Facts | None:
        """What the index holds of a file unchanged since (`stamp`: its file_stamp), else None."""
        facts = self.facts.get(key)
        return facts if facts is not None and facts.stamp == stamp else None

    def text(self, key: str, stamp: str) -> str | None:
        """The data (as JSON text) of the manifest at `key` as it was with `stamp`; None when
        the index no longer holds it (another run saw the file change, or go). Stages go
        through manifests in path order: the ones after `key` are read with it."""
        found = self._ahead.get(key)
        if found is None:
            query = "SELECT key, stamp, text FROM manifests WHERE key >= ? ORDER BY key LIMIT ?"
            rows = self._guarded(lambda db: db.execute(query, (key, _READ_AHEAD)).fetchall())
            self._ahead = {row[0]: (row[1], row[2]) for row in rows or ()}
            found = self._ahead.get(key)
        return found[1] if found is not None and found[0] == self.prefix + stamp else None

    def put(
        self,
        key: str,
        stamp: str,
        text: str,
        schema_ok: bool,
        clean: bool,
        name: str | None,
        parent: str | None,
    ) -> IndexedText | None:
        """Remember a manifest read now (`stamp`: its file_stamp then, `text`: its data as
        JSON text); where its text is from now on, or None when the index does not hold it."""
        if self.db is None or not stamp:  # (a racy file is not remembered)
            return None
        facts = Facts(stamp, schema_ok, clean, name, parent)
        if self.facts.get(key) != facts:
            row = (key, self.prefix + stamp, schema_ok, clean, name, parent, text)
            statement = "INSERT OR REPLACE INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?)"
            if not self._write(lambda db: db.execute(statement, row)):
                return None
            self.facts[key] = facts
            self._foreign.discard(key)
        return IndexedText(self, key, stamp)

    def keep_only(self, keys: set[str]) -> None:
        """Forget manifests that no longer exist."""
        gone = [(key,) for key in (set(self.facts) | self._foreign) - keys]
        statement = "DELETE FROM manifests WHERE key = ?"
        if gone and self._write(lambda db: db.executemany(statement, gone)):
            for (key,) in gone:
                self.facts.pop(key, None)
                self._foreign.discard(key)

    def remember_clean(self, state: str | None) -> None:
        self.clean_state = state

    def save(self) -> None:
        """Write what is pending."""
        if self.db is None:
            return
        state = self.clean_state
        if state != self._stored_clean:
            clean_key = f"clean:{self.prefix}"
            statement, values = (
                ("INSERT OR REPLACE INTO meta VALUES (?, ?)", (clean_key, state))
                if state is not None
                else ("DELETE FROM meta WHERE name = ?", (clean_key,))
            )
            if self._write(lambda db: db.execute(statement, values)):
                self._stored_clean = state
        if self._pending:
            self._guarded(lambda db: db.execute("COMMIT"))
            self._pending = 0

    def release(self) -> None:
        """Let go of the facts; texts can still be read."""
        self.facts = {}

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> bool:
        """Run `change` in the open transaction (begun when none is), committed every _BATCH
        changes; on an error (the file locked for long, a full disk), the index is dropped for
        the rest of the run."""

        def write(db: sqlite3.Connection) -> bool:
            if not self._pending:
                db.execute("BEGIN IMMEDIATE")
            change(db)
            self._pending += 1
            if self._pending >= _BATCH:
                db.execute("COMMIT")
                self._pending = 0
            return True

        return self._guarded(write) is True


class IndexedText(NamedTuple):
    """Where a manifest's data is, when the data index holds it: read when asked."""

    data_index: DataIndex
    key: str
    stamp: str

    def read(self) -> str | None:
        return self.data_index.text(self.key, self.stamp)
