"""The embedded registry: one SQLite file (default `.envc/registry.db`).

WAL mode, so readers never wait for a writer; every change is one `BEGIN IMMEDIATE` transaction,
so two writers never both read "the next version is 4" (the second waits for the first, up to
`BUSY_SECONDS`). Unique constraints on (name, version) and (name, content address) make a lost
race an error instead of a duplicate. `synchronous=FULL`: an acknowledged version survives a
killed process and a power cut. The schema has a version in `PRAGMA user_version`; opening an
older file migrates it, a newer one is refused.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from compiler._util.sqlite import connect_wal
from compiler.errors import UsageError
from compiler.registry.base import (
    LATEST,
    Candidate,
    EnvironmentRecord,
    Registration,
    Registry,
    RegistryError,
    TrackedRegistry,
    check_label,
    sbom_files,
)

SCHEMA_VERSION = 2
BUSY_SECONDS = 60.0
# Versions registered per transaction by register_all: one commit (a sync to disk) for many,
# while another writer waits for at most a few tens of milliseconds.
_REGISTER_BATCH = 200
_SCHEMA = [
    """CREATE TABLE versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version > 0),
        content_address TEXT NOT NULL,
        image TEXT,
        image_digest TEXT,
        commit_id TEXT,
        author_time TEXT,
        registered_at TEXT NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0,
        lock_digests TEXT NOT NULL,
        manifest TEXT NOT NULL,
        PRIMARY KEY (name, version),
        UNIQUE (name, content_address)
    )""",
    """CREATE TABLE labels (
        name TEXT NOT NULL,
        label TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, label),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    )""",
]
# Version 2: each version's SBOMs (zlib-compressed CycloneDX JSON), written with it.
_SBOMS = [
    """CREATE TABLE sboms (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        file TEXT NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (name, version, file),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    )""",
]
# Migrations from user_version N to N + 1, in order; version 1 is the first schema.
_MIGRATIONS: list[list[str]] = [_SCHEMA, _SBOMS]
_COLUMNS = (
    "name, version, content_address, image, image_digest, commit_id, author_time, "
    "registered_at, archived, lock_digests, manifest"
)


class SqliteRegistry(Registry):
    def __init__(self, file: Path, *, new: bool = False) -> None:
        """The registry in `file`, created when there is none (`new`: `file` is a fresh file
        to write the schema into, for _create)."""
        self.file = file
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            ignore = file.parent / ".gitignore"
            if file.parent.name == ".envc" and not ignore.exists():
                # The embedded registry is shared state, not source: keep it out of commits.
                ignore.write_text("# envc's registry and cache; never commit them\n*\n")
            if not new and not file.exists():
                _create(file)
            self._tracked: bool | None = None  # asked of git when first needed (_trusted)
            if not new and file.stat().st_size == 0:
                # envc creates a registry whole (below); an empty one lost its contents, and
                # starting it anew would hand out version numbers a second time.
                raise UsageError(
                    f"the registry {file} is empty (0 bytes): restore it from a backup, or "
                    "delete it to start a new registry"
                )
            self.db = connect_wal(file, BUSY_SECONDS)
            self._set_up()
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"cannot open the registry {file}: {exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot create the registry {file}: {exc.strerror}") from None

    def _set_up(self) -> None:
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._transaction():
            current = self.db.execute("PRAGMA user_version").fetchone()[0]
            if current > len(_MIGRATIONS):
                raise UsageError(
                    f"{self.file} has registry schema {current}; this envc reads up to "
                    f"{len(_MIGRATIONS)}: upgrade envc"
                )
            for number in range(current, len(_MIGRATIONS)):
                for statement in _MIGRATIONS[number]:
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE: take the write lock first, so that what is read stays true."""
        with self._damage_reported():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def _damage_reported(self) -> Iterator[None]:
        """A damaged file (malformed pages, a dropped table, a cell that is not JSON) is a
        usage error that names it, never a crash and never a silent new start."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"the registry {self.file} is damaged ({exc}); restore it") from None
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise UsageError(
                f"the registry {self.file} holds a record envc cannot read ({exc}); restore it"
            ) from None

    def close(self) -> None:
        self.db.close()

    def register(self, candidate: Candidate) -> Registration:
        return self.register_all([candidate])[0]

    def _trusted(self) -> None:
        """Refuse a registry file git tracks, before it decides anything (a plan's "reuse")
        or takes a change. A pull request could commit one holding its own head's versions
        (nothing to build, nothing to review), and once merged it would be the main job's.
        Listings do not ask: one git call less for `envc list`, and they decide nothing."""
        if self._tracked is None:
            from compiler._util.git import tracked  # (git: only for what decides)

            self._tracked = tracked(self.file)
        if self._tracked:
            raise TrackedRegistry(
                f"the registry {self.file} is tracked by git: a registry is shared state, not "
                f"source; take it out of git (git rm --cached {self.file.name}) and keep it "
                "where pull requests cannot change it"
            )

    def register_all(self, candidates: Sequence[Candidate]) -> list[Registration]:
        self._trusted()
        registrations: list[Registration] = []
        for start in range(0, len(candidates), _REGISTER_BATCH):
            with self._transaction():
                batch = candidates[start : start + _REGISTER_BATCH]
                registrations.extend(self._register(candidate) for candidate in batch)
        return registrations

    def _register(self, candidate: Candidate) -> Registration:
        """One candidate, inside the caller's transaction."""
        existing = self._find(candidate.name, candidate.content_address)
        if existing is not None:
            # A version registered before SBOMs were kept gets them now.
            if not self._sbom_names(existing.name, existing.version):
                self._store_sboms(existing.name, existing.version, candidate)
            return Registration(existing, created=False)
        version = candidate.requested_version
        if version is not None:
            taken = self._row("WHERE name = ? AND version = ?", (candidate.name, version))
            if taken is not None:
                raise RegistryError(
                    f"{candidate.name}: version {version} (the manifest's version:) is "
                    f"taken by content address {taken.content_address}; remove version: "
                    "or pick a free one"
                )
        else:
            (highest,) = self.db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?",
                (candidate.name,),
            ).fetchone()
            version = highest + 1
        image = f"{candidate.image_repository}:{version}" if candidate.image_repository else None
        row = (
            candidate.name,
            version,
            candidate.content_address,
            image,
            candidate.image_digest,
            candidate.commit,
            candidate.author_time,
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            0,  # not archived
            json.dumps(dict(candidate.lock_digests), sort_keys=True),
            json.dumps(dict(candidate.manifest), sort_keys=True),
        )
        self.db.execute(f"INSERT INTO versions ({_COLUMNS}) VALUES ({', '.join('?' * 11)})", row)
        self._store_sboms(candidate.name, version, candidate)
        # The row as a record without reading it back: no label can name a version that did
        # not exist, and it is the latest unless a live version is above it (a requested one).
        above = (
            candidate.requested_version is not None
            and self.db.execute(
                "SELECT 1 FROM versions WHERE name = ? AND version > ? AND archived = 0 LIMIT 1",
                (candidate.name, version),
            ).fetchone()
        )
        record = _record(row, () if above else (LATEST,))
        return Registration(record, created=True)

    def _store_sboms(self, name: str, version: int, candidate: Candidate) -> None:
        import zlib

        self.db.executemany(
            "INSERT INTO sboms (name, version, file, content) VALUES (?, ?, ?, ?)",
            [
                (name, version, file, zlib.compress(content, 6))
                for file, content in sbom_files(candidate.context).items()
            ],
        )

    def _sbom_names(self, name: str, version: int) -> list[str]:
        rows = self.db.execute(
            "SELECT file FROM sboms WHERE name = ? AND version = ?", (name, version)
        ).fetchall()
        return [row[0] for row in rows]

    def sboms(self, name: str, version: int) -> dict[str, bytes]:
        import zlib

        rows = self.db.execute(
            "SELECT file, content FROM sboms WHERE name = ? AND version = ? ORDER BY file",
            (name, version),
        ).fetchall()
        return {file: zlib.decompress(content) for file, content in rows}

    def find(self, name: str, content_address: str) -> EnvironmentRecord | None:
        self._trusted()
        return self._find(name, content_address)

    def _find(self, name: str, content_address: str) -> EnvironmentRecord | None:
        return self._row("WHERE name = ? AND content_address = ?", (name, content_address))

    def get(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> EnvironmentRecord:
        if version is not None:
            record = self._row("WHERE name = ? AND version = ?", (name, version))
            what = f"{name}@{version}"
        elif label is not None and label != LATEST:
            record = self._row(
                "WHERE name = ? AND version = "
                "(SELECT version FROM labels WHERE name = ? AND label = ?)",
                (name, name, label),
            )
            what = f"{name}:{label}"
        else:
            record = self._row(
                "WHERE name = ? AND archived = 0 ORDER BY version DESC LIMIT 1", (name,)
            )
            what = f"{name}:{LATEST}"
        if record is None:
            raise RegistryError(f"{what} is not registered")
        return record

    def versions(self, name: str | None = None, archived: bool = False) -> list[EnvironmentRecord]:
        where, parameters = _listing(name, archived, "versions")
        return self._rows(f"WHERE {where} ORDER BY name, version", parameters, manifests=False)

    def versions_json(self, name: str | None = None, archived: bool = False) -> str:
        # SQLite writes the JSON (a tenth of the time Python takes to make records of 10,000
        # rows and encode them): the same document, keys in the order summaries_json sorts
        # them, a version's labels sorted (the subquery's ORDER BY feeds the aggregate).
        where, parameters = _listing(name, archived, "v")
        query = f"""SELECT json_object(
                'archived', json(CASE WHEN v.archived THEN 'true' ELSE 'false' END),
                'author_time', v.author_time, 'commit', v.commit_id,
                'content_address', v.content_address, 'image', v.image,
                'image_digest', v.image_digest,
                'labels', (SELECT json_group_array(label) FROM (
                    SELECT label FROM labels l WHERE l.name = v.name AND l.version = v.version
                    UNION ALL SELECT '{LATEST}' WHERE v.version = latest.version
                    ORDER BY 1)),
                'lock_digests', json(v.lock_digests), 'name', v.name,
                'registered_at', v.registered_at, 'version', v.version)
            FROM versions v LEFT JOIN (
                SELECT name, MAX(version) AS version FROM versions WHERE archived = 0
                GROUP BY name) latest ON latest.name = v.name
            WHERE {where} ORDER BY v.name, v.version"""
        with self._damage_reported():
            rows = self.db.execute(query, parameters).fetchall()
        return "[" + ",".join(row[0] for row in rows) + "]"

    def label(self, name: str, version: int, label: str) -> EnvironmentRecord:
        check_label(label)
        self._trusted()
        with self._transaction():
            self.get(name, version)
            self.db.execute(
                "INSERT INTO labels (name, label, version) VALUES (?, ?, ?) "
                "ON CONFLICT (name, label) DO UPDATE SET version = excluded.version",
                (name, label, version),
            )
        return self.get(name, version)

    def archive(self, name: str, version: int) -> EnvironmentRecord:
        self._trusted()
        with self._transaction():
            self.get(name, version)
            self.db.execute(
                "UPDATE versions SET archived = 1 WHERE name = ? AND version = ?", (name, version)
            )
        return self.get(name, version)

    def _row(self, where: str, parameters: tuple[Any, ...]) -> EnvironmentRecord | None:
        rows = self._rows(where, parameters)
        return rows[0] if rows else None

    def _rows(
        self, where: str, parameters: tuple[Any, ...], manifests: bool = True
    ) -> list[EnvironmentRecord]:
        with self._damage_reported():
            return self._read_rows(where, parameters, manifests)

    def _read_rows(
        self, where: str, parameters: tuple[Any, ...], manifests: bool
    ) -> list[EnvironmentRecord]:
        columns = _COLUMNS if manifests else _COLUMNS.replace("manifest", "NULL")
        rows = self.db.execute(f"SELECT {columns} FROM versions {where}", parameters).fetchall()
        labels: dict[tuple[str, int], list[str]] = {}
        names = {row[0] for row in rows}
        if rows:
            # One name (the usual case: an index lookup, not a scan of every version) or all of
            # them: no parameter list to outgrow.
            one, parameters = ("name = ?", (rows[0][0],)) if len(names) == 1 else ("1", ())
            for name, label, version in self.db.execute(
                f"SELECT name, label, version FROM labels WHERE {one}", parameters
            ):
                labels.setdefault((name, version), []).append(label)
            for name, version in self.db.execute(
                f"SELECT name, MAX(version) FROM versions WHERE archived = 0 AND {one} "
                "GROUP BY name",
                parameters,
            ):
                labels.setdefault((name, version), []).append(LATEST)
        return [_record(row, tuple(sorted(labels.get((row[0], row[1]), [])))) for row in rows]


def _record(row: Sequence[Any], labels: tuple[str, ...]) -> EnvironmentRecord:
    """A `versions` row (the columns of _COLUMNS, in order) as a record with its labels."""
    return EnvironmentRecord(
        name=row[0],
        version=row[1],
        content_address=row[2],
        image=row[3],
        image_digest=row[4],
        commit=row[5],
        author_time=row[6],
        registered_at=row[7],
        archived=bool(row[8]),
        lock_digests=json.loads(row[9]),
        manifest=None if row[10] is None else json.loads(row[10]),
        labels=labels,
    )


def _listing(name: str | None, archived: bool, table: str) -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameters) on `table` that lists `name`'s versions, or every
    name's, archived ones only when asked; one name goes through the index."""
    conditions = ([f"{table}.name = ?"] if name is not None else []) + (
        [] if archived else [f"{table}.archived = 0"]
    )
    return " AND ".join(conditions) or "1", (() if name is None else (name,))


def _create(file: Path) -> None:
    """Create the registry at `file` whole: its schema written in a file of its own, then linked
    into place (two processes creating it at once: the second keeps the first's)."""
    temporary = file.with_name(f".{file.name}.{os.getpid()}.new")
    temporary.unlink(missing_ok=True)
    try:
        SqliteRegistry(temporary, new=True).close()
        with suppress(FileExistsError):
            os.link(temporary, file)
    finally:
        for leftover in (temporary, *temporary.parent.glob(f"{temporary.name}-*")):
            leftover.unlink(missing_ok=True)
