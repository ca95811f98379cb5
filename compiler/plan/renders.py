"""The plan's renders, remembered by what they read: an environment whose inputs on a side are ones
a plan rendered before is not rendered again (a pull request's base, planned at every push; the
environments of a shared template's change, planned again after a fix elsewhere).

An environment's inputs are the git ids of what `Side.inputs` lists for it (its folder's files,
its parents', the files it references and those beside them, the templates, envc.yaml) with the
paths, its name and envc's version: the same ids, the same render. A file of the working tree
is named by the blob id of its bytes as read (the render reads those same bytes). One with a
symbolic link among its inputs is rendered every time.

One SQLite file per repository in the user's cache folder (`plan/<repository>/renders.db`), a
row per digest of inputs: the address and its document, the base image, the manifest as the
model dumps it, and the names of the lockfiles (their texts are the side's files, read from git
when a reason asks for them). A row says whether the head's validation passed it; only those
stand in for the head's validation. Keyed by ids anyone can compute: never in the repository. A
cache that cannot be read or written is done without; a damaged one is started afresh.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from compiler import __version__
from compiler._util.files import normalized_newlines
from compiler._util.git import SYMLINK_MODE, FileRef, Git
from compiler._util.sqlite import CacheFile
from compiler.plan.graph import Graph, referenced_paths
from compiler.plan.sides import Side, plan_cache
from compiler.render.rendered import Address, RenderedEnvironment

RENDERS_CACHE = "renders.db"
MAX_ROWS = 50_000  # then the least recently used go (a row is ~2 KB)
_CHUNK = 500  # keys asked for per query


class _Blobs:
    """The side's lockfiles of every remembered render, read in one go from git the first time
    a text is asked for (a reason about locked packages asks for most of them)."""

    def __init__(self, git: Git) -> None:
        self._git = git
        self._wanted: dict[str, FileRef] = {}
        self._texts: dict[str, str] = {}

    def want(self, path: str, ref: FileRef) -> None:
        self._wanted[path] = ref

    def text(self, path: str) -> str:
        if path not in self._texts:
            found = self._git.read(self._wanted)
            self._texts = {p: normalized_newlines(raw.decode()) for p, raw in found.items()}
        return self._texts[path]


class SideLockfiles(Mapping[str, str]):
    """An environment's lockfiles as a side holds them (name -> text, as render reads them),
    read from git when a text is first asked for."""

    def __init__(self, blobs: _Blobs, paths: Mapping[str, str]) -> None:
        self._blobs, self._paths = blobs, paths

    def __getitem__(self, name: str) -> str:
        return self._blobs.text(self._paths[name])

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class PlanRenders(CacheFile):
    """The remembered renders of one repository; without a file, it remembers nothing."""

    FORMAT_VERSION = 1
    TABLES = (
        (
            "renders",
            "CREATE TABLE IF NOT EXISTS renders (key TEXT PRIMARY KEY, "
            "validated INTEGER NOT NULL, used INTEGER NOT NULL, value TEXT NOT NULL)",
        ),
    )
    BUSY_SECONDS = 5.0

    @classmethod
    def open(cls, root: Path) -> PlanRenders:
        renders = cls(plan_cache(root, RENDERS_CACHE))
        return renders if renders._open() else cls()

    def keys(self, git: Git, side: Side, graph: Graph, names: Collection[str]) -> dict[str, str]:
        """name -> the digest of its inputs on `side`, for the names without a symbolic link
        among them (a working-tree file is named by the blob id of its content)."""
        if self.db is None:
            return {}
        found = {}
        for name in names:
            chain = graph.chain(name)
            references = sorted(set(referenced_paths(graph.merged(name))))
            inputs = side.inputs(chain, references)
            if any(ref.mode == SYMLINK_MODE for ref in inputs.values()):
                continue
            listed = [
                [path, ref.mode, ref.oid or git.content_id(path)]
                for path, ref in sorted(inputs.items())
            ]
            document = [self.FORMAT_VERSION, __version__, name, chain, references, listed]
            found[name] = hashlib.sha256(json.dumps(document).encode()).hexdigest()
        return found

    def recall(
        self, git: Git, side: Side, keys: Mapping[str, str], validated: bool
    ) -> dict[str, RenderedEnvironment]:
        """The remembered renders of `keys` (only those the head's validation passed, when
        `validated`), marked as used."""
        rows = self._guarded(lambda db: list(_rows(db, sorted(set(keys.values())))))
        if not rows:
            return {}
        by_key = {key: value for key, passed, value in rows if passed or not validated}
        found = {}
        folders, blobs = side.names(), _Blobs(git)
        for name, key in keys.items():
            if key not in by_key:
                continue
            try:
                value = json.loads(by_key[key])
                paths = {n: f"{folders[name]}/{n}" for n in value["lockfiles"]}
                rendered = _rendered(value, SideLockfiles(blobs, paths))
            except (ValueError, KeyError, TypeError):  # a row of another shape: rendered anew
                continue
            # (a lockfile the side lacks: the row cannot stand for this render)
            if all(path in side.files for path in paths.values()):
                for path in paths.values():
                    blobs.want(path, side.files[path])
                found[name] = rendered
        now = int(time.time())
        used = [(now, key) for key in {keys[name] for name in found}]
        self._write(lambda db: db.executemany("UPDATE renders SET used = ? WHERE key = ?", used))
        return found

    def remember(
        self, keys: Mapping[str, str], rendered: Mapping[str, RenderedEnvironment], validated: bool
    ) -> None:
        """Keep the renders of `rendered` that have keys; `validated`: the head's validation
        passed them."""
        now = int(time.time())
        rows = [
            (keys[name], int(validated), now, _stored(environment))
            for name, environment in rendered.items()
            if name in keys
        ]
        if not rows:
            return

        def write(db: sqlite3.Connection) -> None:
            # A row the head validated is not replaced by the base's render of the same inputs.
            db.executemany(
                "INSERT INTO renders VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "validated = MAX(validated, excluded.validated), used = excluded.used, "
                "value = excluded.value",
                rows,
            )
            (count,) = db.execute("SELECT COUNT(*) FROM renders").fetchone()
            if count > MAX_ROWS:
                db.execute(
                    "DELETE FROM renders WHERE key IN "
                    "(SELECT key FROM renders ORDER BY used, key LIMIT ?)",
                    (count - MAX_ROWS,),
                )

        self._write(write)

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> None:
        def transaction(db: sqlite3.Connection) -> None:
            with self._transaction():
                change(db)

        self._guarded(transaction)


def _rows(db: sqlite3.Connection, keys: list[str]) -> Iterator[tuple[str, int, str]]:
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        yield from db.execute(
            f"SELECT key, validated, value FROM renders WHERE key IN ({marks})", chunk
        )


def _stored(environment: RenderedEnvironment) -> str:
    return json.dumps(
        {
            "name": environment.name,
            "base_image": environment.base_image,
            "address": environment.address.digest,
            "document": environment.address.document,
            "manifest": environment.manifest,
            "lockfiles": sorted(environment.lockfiles),
        },
        sort_keys=True,
    )


def _rendered(value: dict[str, Any], lockfiles: SideLockfiles) -> RenderedEnvironment:
    return RenderedEnvironment(
        value["name"],
        {},
        lockfiles,
        value["base_image"],
        Address(value["address"], value["document"]),
        value["manifest"],
    )
