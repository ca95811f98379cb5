"""envc's caches: what an earlier run already worked out.

Nothing here changes a result, only how fast it comes: a missing, stale or corrupt cache means
work is done again. Files are replaced atomically (temporary file, then rename), so concurrent runs
and interrupted ones never leave a half-written cache.

Where a cache lives depends on what it is keyed by. The repository's `.envc/cache/` holds JSON
keyed by the stat of the files it describes (`stat_stamp`: a checkout's change times and inodes
match nothing a committed file could hold); `.envc/cache/.gitignore` keeps it out of commits, but
a pull request can still commit one. What is keyed by content alone (git object ids, lock texts)
anyone can compute, so it lives in the user's cache folder (`user_cache`), never in the
repository: a committed file must not vouch for anything. So does validation's data index, a
SQLite file: a database committed into the repository is not a file envc should open.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from compiler._util.files import UnreadableFile, read_bounded, replace_atomically

CACHE_DIR = ".envc/cache"
# A file changed twice within the file system's timestamp resolution keeps its stat; a stat this
# young is not trusted to stand for the file's content (git's "racy clean" problem).
RACY_SECONDS = 2.0
MAX_CACHE_BYTES = 512 * 1024 * 1024  # the validation index of 50,000 manifests fits


def user_cache(*parts: str) -> Path:
    """A path in envc's folder of the user's cache (XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base, "envc", *parts)


def tools_cache() -> Path:
    """Where the solver, uv and the package installer keep what they download (repodata,
    wheels, conda packages). They trust an entry by its key (a URL, a hash), so a committed
    one would be solved against or installed: never in the repository."""
    return user_cache()


def repository_key(root: Path) -> str:
    """A file-name-safe key for the repository at `root` (its resolved path), for the user's
    cache files that belong to one repository."""
    import hashlib

    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]


def stat_stamp(status: os.stat_result) -> str:
    """What the caches key a file by: size, modification and change times, inode (a fresh
    checkout's change times and inodes match nothing a committed cache could hold), as one
    string (the caches' JSON parses a string twice as fast as a list of four numbers)."""
    return f"{status.st_size}:{status.st_mtime_ns}:{status.st_ctime_ns}:{status.st_ino}"


RACY = ""  # file_stamp of a file too young to vouch for its content: matches nothing


def file_stamp(file: str, now: float | None = None) -> str | None:
    """`file`'s stat_stamp (its symbolic link's, for a link), what validation's indexes key a
    file's content by; RACY when it changed too recently to stand for its content, None when
    it cannot be read. A string per file, not the stat: validation keeps one for each of tens
    of thousands of manifests."""
    try:
        status = os.stat(file, follow_symlinks=False)
    except OSError:
        return None
    return stat_stamp(status) if trusted(status, now) else RACY


def trusted(status: os.stat_result, now: float | None = None) -> bool:
    """Whether `status` is old enough to stand for its file's content (see RACY_SECONDS)."""
    return (time.time() if now is None else now) - status.st_mtime >= RACY_SECONDS


def read_json(file: Path) -> Any:
    """The cached document, or None when there is none or it cannot be read."""
    try:
        return json.loads(read_bounded(file, MAX_CACHE_BYTES))
    except (UnreadableFile, ValueError):  # a FIFO or a huge file committed there: no cache
        return None


def write_json(file: Path, document: Any) -> None:
    """Replace `file` atomically; a read-only checkout just goes without a cache."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        ignore = file.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# envc's cache; never commit it\n*\n", encoding="utf-8")
        chunks = (chunk.encode() for chunk in json_chunks(document))
        replace_atomically(file, chunks, durable=False)
    except OSError:
        pass


# A mapping with more entries than this is encoded entry by entry (json_chunks).
_WHOLE_ENTRIES = 256


def json_chunks(value: Any) -> Iterator[str]:
    """`json.dumps(value, separators=(",", ":"))` in pieces: a large mapping (a cache of 50,000
    environments) is encoded one entry at a time, so its text is never whole in memory. The
    keys of a large mapping are text, as in every cache of envc's."""
    if not _large(value):
        yield json.dumps(value, separators=(",", ":"))
        return
    yield "{"
    for number, (key, item) in enumerate(value.items()):
        if not isinstance(key, str):
            raise TypeError(f"a cache's keys are text, not {type(key).__name__}")
        yield f"{',' if number else ''}{json.dumps(key)}:"
        yield from json_chunks(item)
    yield "}"


def _large(value: Any) -> bool:
    """Whether `value` is a mapping of many entries, or holds one."""
    if not isinstance(value, dict):
        return False
    return len(value) > _WHOLE_ENTRIES or any(_large(item) for item in value.values())


@contextlib.contextmanager
def exclusive_lock(file: Path) -> Iterator[None]:
    """Hold an advisory lock on `file` (created if missing) for the block; where locks are not
    available (no fcntl, a read-only checkout), go on without one: the cache stays correct,
    only work may be done twice."""
    try:
        import fcntl

        file.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(file, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except (ImportError, OSError):
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock
