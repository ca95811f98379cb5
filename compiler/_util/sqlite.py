"""SQLite files envc keeps (the embedded registry, validation's data index): opened in WAL mode,
so readers never wait for a writer."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


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
