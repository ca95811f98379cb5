"""Build contexts on disk: written into a staging folder beside the target and swapped in by
renames (a reader never sees a half-written context; a crash leaves the old one), and compared
with what render would write (`envc render --check`)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from compiler.errors import EnvcError

RENAME_ATTEMPTS = 20

# A rendered file: text, or bytes for a binary file copied into a build context.
FileContent = str | bytes


def as_bytes(content: FileContent) -> bytes:
    return content.encode() if isinstance(content, str) else content


def file_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def content(data: bytes) -> FileContent:
    """Text when `data` is UTF-8 (diffable), else the bytes themselves."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def stage_folder(target: Path, files: Mapping[str, FileContent], run: int) -> None:
    """Write `files` into a sibling folder of `target`, to be swapped in by swap_in (`run`:
    the render's process id, which names its staging folders)."""
    staging = staging_folder(target, run)
    try:
        staging.mkdir(parents=True)
    except FileExistsError:  # left by a run of this process id that was killed
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
    folders = {staging}  # made already (creating files is the slow part on real disks)
    for name, content in files.items():
        path = staging / name
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        path.write_bytes(as_bytes(content))
        if name.endswith(".sh"):
            path.chmod(0o755)


def staging_folder(target: Path, run: int) -> Path:
    return target.with_name(f".{target.name}.{run}.new")


def swap_in(target: Path, run: int) -> None:
    """Replace `target` with its folder staged by `run`, by renames."""
    staging = staging_folder(target, run)
    old = target.with_name(f".{target.name}.{run}.old")
    # Another run may put its own folder in place between the two renames: move it aside
    # too and try again (both hold what the same inputs render).
    for _ in range(RENAME_ATTEMPTS):
        try:
            os.replace(target, old)
            moved = True
        except FileNotFoundError:  # a first render: nothing to move aside, nor to remove
            moved = False
        try:
            os.replace(staging, target)
            break
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        finally:
            if moved:
                shutil.rmtree(old, ignore_errors=True)
    else:
        raise EnvcError(f"{target}: another process keeps replacing it; try again")


def on_disk(folder: Path) -> dict[str, FileContent]:
    """What an output folder holds, to compare with a render. Read bounded: the folder may
    come from a checkout (a FIFO or a link to a huge file would hang or fill memory), and
    what cannot be read so is a note that differs from any render, so it gets replaced."""
    from compiler._util.files import UnreadableFile, read_bounded
    from compiler.load.buildcontext import MAX_CONTEXT_FILE_BYTES

    if not folder.is_dir():
        return {}
    found: dict[str, FileContent] = {}
    for parent, folders, files in os.walk(folder):
        folders.sort()
        for name in files:
            path = Path(parent, name)
            try:
                data = content(read_bounded(path, MAX_CONTEXT_FILE_BYTES))
            except UnreadableFile as exc:
                data = f"({exc})\n"  # (what no render writes)
            found[path.relative_to(folder).as_posix()] = data
    return dict(sorted(found.items()))


def diff_against(
    target: Path, current: Mapping[str, FileContent], files: Mapping[str, FileContent]
) -> str:
    """A unified diff from what is on disk to what would be rendered; binary files by name."""
    import difflib  # (only where `envc render --check` finds a difference: plans import this)

    chunks = []
    for name in sorted(set(current) | set(files)):
        old, new = current.get(name, ""), files.get(name, "")
        if old == new:
            continue
        if isinstance(old, bytes) or isinstance(new, bytes):
            chunks.append(f"Binary files {target}/{name} (on disk) and (rendered) differ\n")
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(True),
                new.splitlines(True),
                f"{target}/{name} (on disk)",
                f"{target}/{name} (rendered)",
            )
        )
    return "".join(chunks)
