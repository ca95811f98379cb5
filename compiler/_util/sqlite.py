"""SQLite files envc keeps (the embedded registry, validation's data index, the plan's remembered
renders): opened in WAL mode, so readers never wait for a writer; the caches share `CacheFile`."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def connect_wal(file: Path, busy_seconds: float, *, threads: bool = False) -> sqlite3.Connection:
    """A connection to `file` (created when missing) in WAL mode, in autocommit: transactions
    are begun explicitly. Switching a new file to WAL takes a lock that SQLite's busy timeout
    does not wait for, so two processes creating the file at once retry. `threads`: the
    connection may be used from other threads (SQLite serializes the calls)."""
    db = sqlite3.connect(
        file, timeout=busy_seconds, isolation_level=None, check_same_thread=not threads
    )
    deadline = time.monotonic() + busy_seconds
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.02)


class CacheFile:
    """A cache kept in one SQLite file: its tables made at a format version (tables of another
    version are dropped), a file SQLite cannot read deleted and made anew, and on any SQLite
    error (a file locked for long, a full disk) the cache let go of for the rest of the run: a
    cache never fails a command. Without a file, or once let go of, it holds nothing."""

    FORMAT_VERSION = 1
    # (name, CREATE TABLE IF NOT EXISTS …) of each table, the meta table aside
    TABLES: tuple[tuple[str, str], ...] = ()
    BUSY_SECONDS = 10.0  # then the run goes without the cache

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self.db: sqlite3.Connection | None = None

    def _open(self, *, threads: bool = False) -> bool:
        """Connect to `file`, make its tables, then `_opened`; whether the cache can be used."""
        assert self.file is not None
        for _ in range(2):  # a damaged file is removed, then made anew
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                self.db = connect_wal(self.file, self.BUSY_SECONDS, threads=threads)
                # A cache: a power cut may lose the last writes.
                self.db.execute("PRAGMA synchronous=NORMAL")
                with self._transaction() as db:
                    self._make_tables(db)
                self._opened()
                return True
            except (sqlite3.OperationalError, OSError):  # locked for long, or not writable
                break
            except sqlite3.DatabaseError:  # not a database, or a damaged one: start afresh
                self.close()
                for suffix in ("", "-wal", "-shm"):
                    with suppress(OSError):
                        os.unlink(f"{self.file}{suffix}")
        self.close()
        return False

    def _make_tables(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for _, statement in self.TABLES:
            db.execute(statement)
        version = str(self.FORMAT_VERSION)
        found = db.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()
        if found is None or found[0] != version:  # tables of another shape
            for name, statement in self.TABLES:
                db.execute(f"DROP TABLE {name}")
                db.execute(statement)
            db.execute("DELETE FROM meta")
            db.execute("INSERT INTO meta VALUES ('format', ?)", (version,))

    def _opened(self) -> None:
        """What a cache reads once it is open (nothing here)."""

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        assert self.db is not None
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _guarded(self, action: Callable[[sqlite3.Connection], T]) -> T | None:
        """`action` on the connection; None when there is none, or SQLite fails (the cache is
        then let go of)."""
        if self.db is None:
            return None
        try:
            return action(self.db)
        except sqlite3.Error:
            self.close()
            return None

    def close(self) -> None:
        if self.db is not None:
            with suppress(sqlite3.Error):
                self.db.close()
            self.db = None
