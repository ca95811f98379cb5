"""Reading and writing files safely: one bounded reader, one atomic writer.

The reader refuses what a hostile repository could put where envc expects a file: a symbolic link
(it could name any file on the machine), a FIFO or device (it blocks or never ends), a file larger
than the cap (it exhausts memory). The writer replaces a file by rename, so a reader never sees a
half-written file and a crash leaves the old one.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from compiler.errors import EnvcError

MAX_FILE_BYTES = 1024 * 1024


class UnreadableFile(EnvcError):
    """A file envc cannot or will not read; `rule` names the kind of problem."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def shown_path(path: Path, root: Path) -> str:
    """`path` as messages name it: relative to the repository `root` when inside it."""
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def read_bounded(file: Path | str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of regular file `file`, at most `max_bytes` of them; symbolic links are not
    followed. Raises UnreadableFile with a message that does not repeat the path."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        handle = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        if os.path.islink(file):
            raise UnreadableFile(
                "is a symbolic link; expected a regular file", "not-a-file"
            ) from None
        if exc.errno == errno.ENOENT:
            raise UnreadableFile("does not exist", "not-a-file") from None
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            what = "a directory" if stat.S_ISDIR(status.st_mode) else "not a regular file"
            raise UnreadableFile(f"is {what}", "not-a-file")
        if status.st_size > max_bytes:
            raise UnreadableFile(too_large(max_bytes), "too-large")
        chunks, size = [], 0
        while size <= max_bytes:
            # As much as fstat says is left (a buffer of the cap would cost more than the read).
            wanted = min(max_bytes + 1 - size, max(status.st_size + 1 - size, 1 << 16))
            chunk = os.read(handle, wanted)
            chunks.append(chunk)
            size += len(chunk)
            # A short read past the size fstat gave is the end: no second read to hear it.
            if not chunk or (len(chunk) < wanted and size >= status.st_size):
                break
    except OSError as exc:
        raise UnreadableFile(f"cannot read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(handle)
    if size > max_bytes:  # grew while we read it
        raise UnreadableFile(too_large(max_bytes), "too-large")
    return b"".join(chunks)


def read_text(file: Path | str, max_bytes: int = MAX_FILE_BYTES, *, bom: bool = False) -> str:
    """The text of `file` (UTF-8; a leading byte-order mark dropped with `bom`), read as
    read_bounded reads, line endings made `\n` (a checkout with core.autocrlf must read the same
    text). Raises UnreadableFile, with rule "encoding" when the bytes are not UTF-8 or hold NUL."""
    raw = read_bounded(file, max_bytes)
    try:
        text = raw.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile("file is not valid UTF-8", "encoding") from None
    if "\x00" in text:
        raise UnreadableFile("file holds a NUL byte; expected text", "encoding")
    return normalized_newlines(text)


def normalized_newlines(text: str) -> str:
    if "\r" not in text:  # (one scan: most files have none, and locks are read by thousands)
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def too_large(max_bytes: int) -> str:
    """What a file over `max_bytes` is told (by read_bounded, and by what reads other ways)."""
    return f"file is larger than {max_bytes // 1024} KiB"


def write_atomically(target: Path, content: str | bytes, *, durable: bool = True) -> bool:
    """Write `content` unless the file already holds it; True when the file changed. Without
    `durable` (caches, which may be lost), the data is not flushed to the disk first."""
    data = content.encode() if isinstance(content, str) else content
    try:  # bounded: a FIFO or a huge file where the output goes is replaced, never waited on
        if read_bounded(target, len(data)) == data:
            return False
    except UnreadableFile:
        pass
    replace_atomically(target, [data], durable=durable)
    return True


def replace_atomically(target: Path, chunks: Iterable[bytes], *, durable: bool = True) -> None:
    """Replace `target` with `chunks`, one after the other (a large file need never be whole
    in memory): written to a temporary file, then renamed over it, so that nothing
    half-written stays behind, whatever fails on the way."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # name the file the caller asked for, not the temporary
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        raise


def remove_abandoned_temporaries(folder: Path, suffixes: tuple[str, ...] = (".tmp",)) -> None:
    """Delete temporary files (or folders) named `.NAME.PID<suffix>` that a killed writer left:
    their process is gone."""
    for suffix in suffixes:
        for temporary in folder.glob(f".*.*{suffix}"):
            pid = temporary.name.rsplit(".", 2)[-2]
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                if temporary.is_dir() and not temporary.is_symlink():
                    import shutil  # (~2 ms: not on the path of the hook or `envc list`)

                    shutil.rmtree(temporary, ignore_errors=True)
                else:
                    temporary.unlink(missing_ok=True)
            except PermissionError:
                pass  # alive, and someone else's


class FolderSnapshot:
    """A folder's files as they are now, to put back if a change made in it fails (an
    environment written, locked and registered from a script: all of it or none). Symbolic
    links are neither read nor touched."""

    def __init__(self, folder: Path, max_bytes: int = 64 * MAX_FILE_BYTES) -> None:
        self.folder = folder
        self.folders = {folder} if folder.is_dir() else set()
        self.files: dict[Path, bytes] = {}
        for item in sorted(folder.rglob("*")) if self.folders else ():
            if item.is_symlink():
                continue
            if item.is_dir():
                self.folders.add(item)
            else:
                self.files[item] = read_bounded(item, max_bytes)

    def restore(self) -> None:
        """Remove what was added, rewrite what changed (unchanged files are left alone)."""
        present = sorted(self.folder.rglob("*"), reverse=True) if self.folder.is_dir() else []
        for item in present:  # deepest first, so emptied folders can go
            if item.is_symlink() or item in self.files or item in self.folders:
                continue
            if item.is_dir():
                if not any(item.iterdir()):
                    item.rmdir()
            else:
                item.unlink()
        for file, content in self.files.items():
            file.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(file, content)
        if not self.folders and self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()
