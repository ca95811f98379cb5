"""An environment's own Dockerfile (`docker.base_dockerfile`) and the files its COPY and ADD read.

In: the repository root and the Dockerfile's path. Out: its text with the last stage named, and
the context files (relative to the Dockerfile's folder), or problems located at the Dockerfile's
line. Validation asks for the problems only (no file is read whole); render for the files.

The files of a pull request reach `build/`, the registry and the image, so what a Dockerfile may
name is confined: nothing outside its folder, no symbolic link that leads out of it (a link to
`/proc/self/environ` would ship the CI job's secrets), no FIFO, device or socket, no folder link,
and sizes capped per file and in all. The folder is walked without following links, and every
file is read through the one bounded reader, so what is copied never depends on the machine.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from compiler._util.files import MAX_FILE_BYTES, UnreadableFile, read_bounded

BASE_STAGE = "envc-base"  # the name given to the last stage when it has none
MAX_DOCKERFILE_BYTES = MAX_FILE_BYTES
MAX_CONTEXT_FILE_BYTES = 64 * 1024 * 1024
MAX_CONTEXT_BYTES = 256 * 1024 * 1024
MAX_CONTEXT_ENTRIES = 20_000


@dataclass(frozen=True)
class Problem:
    line: int  # in the Dockerfile; 1 for the file as a whole
    message: str
    rule: str = "build-context"  # a COPY/ADD source; else the Dockerfile's own problem


@dataclass(frozen=True)
class BaseDockerfile:
    text: str  # the Dockerfile with its last stage named
    stage: str  # that name
    files: dict[str, bytes] = field(default_factory=dict)  # relative to the Dockerfile's folder
    named: frozenset[str] = frozenset()  # the files a source names itself (not in a folder)


@dataclass(frozen=True)
class _Entry:
    kind: str  # "file", "folder", "link", "special"
    size: int


def read_base_dockerfile(
    root: Path, path: str, *, read: bool = True
) -> tuple[BaseDockerfile | None, list[Problem]]:
    """The Dockerfile at `path` (relative to `root`) and, with `read`, its context files; or the
    problems that stop it being used, each at its line."""
    import dockerfile

    file = root / path
    try:
        raw = read_bounded(file, MAX_DOCKERFILE_BYTES)
        text = raw.decode("utf-8")
    except UnreadableFile as exc:
        return None, [Problem(1, str(exc), exc.rule)]
    except UnicodeDecodeError:
        return None, [Problem(1, "file is not valid UTF-8", "encoding")]
    try:
        instructions = dockerfile.parse_string(text)
    except dockerfile.GoParseError as exc:
        return None, [Problem(1, _short(str(exc)), "base-dockerfile")]
    stages = [i for i in instructions if i.cmd.upper() == "FROM"]
    if not stages:
        return None, [Problem(1, "no FROM instruction, so no base stage", "base-dockerfile")]
    problems = [
        Problem(i.start_line, "FROM … AS needs a stage name", "base-dockerfile")
        for i in stages
        if len(i.value) == 2 and i.value[1].upper() == "AS"
    ]
    last = stages[-1]
    lines = text.rstrip("\n").split("\n")
    if len(last.value) >= 3 and last.value[-2].upper() == "AS":
        name = last.value[-1]
    else:
        # A name no stage has and the last one does not build on (a Dockerfile envc rendered,
        # imported again, ends in `FROM envc-base`).
        taken = {v.lower() for i in stages for v in i.value}
        name = next(
            n for n in (BASE_STAGE, *(f"{BASE_STAGE}-{k}" for k in range(2, 100))) if n not in taken
        )
        lines[last.end_line - 1] += f" AS {name}"
    context = _Context(file.parent)
    for instruction in instructions:
        if instruction.cmd.upper() not in ("COPY", "ADD") or any(
            flag.startswith("--from") for flag in instruction.flags
        ):
            continue
        for source in instruction.value[:-1]:
            if "://" in source or source.startswith("<<"):
                continue  # a URL or a heredoc reads nothing from the context
            problems += [
                Problem(instruction.start_line, message) for message in context.add(source)
            ]
    if context.truncated:
        problems.append(
            Problem(1, f"the Dockerfile's folder holds more than {MAX_CONTEXT_ENTRIES} entries")
        )
    if context.total > MAX_CONTEXT_BYTES:
        problems.append(Problem(1, f"the build context is larger than {_mib(MAX_CONTEXT_BYTES)}"))
    if problems:
        return None, problems
    files: dict[str, bytes] = {}
    if read:
        for relative, target in sorted(context.chosen.items()):
            try:
                files[relative] = read_bounded(target, MAX_CONTEXT_FILE_BYTES)
            except UnreadableFile as exc:  # changed since it was looked at
                return None, [Problem(1, f"{relative}: {exc}")]
    return BaseDockerfile("\n".join(lines), name, files, frozenset(context.named)), []


class _Context:
    """The Dockerfile's folder, walked once without following links, and the files chosen."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.real = os.path.realpath(folder)
        self.entries = _walk(folder)
        self.truncated = len(self.entries) >= MAX_CONTEXT_ENTRIES
        self.chosen: dict[str, Path] = {}  # relative path -> the regular file to read
        self.named: set[str] = set()
        self.total = 0

    def add(self, source: str) -> list[str]:
        """Choose the files `source` names; the problems with them."""
        if source.startswith("/") or ".." in source.split("/"):
            return [f"{source} is outside the Dockerfile's folder"]
        pattern = posixpath.normpath(source)
        if pattern == ".":
            matched = [relative for relative in self.entries if "/" not in relative]
        else:
            parts = pattern.split("/")
            matched = [
                relative
                for relative in self.entries
                if relative.count("/") == len(parts) - 1
                and all(map(fnmatchcase, relative.split("/"), parts))
            ]
        if not matched:
            return [f"{source} does not exist"]
        problems = []
        for relative in sorted(matched):
            if self.entries[relative].kind == "folder":
                below = [r for r in self.entries if r.startswith(f"{relative}/")]
                problems += [self._choose(r) for r in below if self.entries[r].kind != "folder"]
            else:
                if pattern != ".":  # `.` is the folder: what it holds is not named
                    self.named.add(relative)
                problems.append(self._choose(relative))
        return [problem for problem in problems if problem]

    def _choose(self, relative: str) -> str:
        """Choose one entry; a problem with it, or ""."""
        entry = self.entries[relative]
        target = self.folder / relative
        if entry.kind == "special":
            return f"{relative} is not a regular file (a FIFO, device or socket)"
        if entry.kind == "link":
            resolved = os.path.realpath(target)
            if os.path.commonpath([resolved, self.real]) != self.real:
                return f"{relative} is a symbolic link out of the Dockerfile's folder"
            try:
                status = os.stat(resolved)
            except OSError:
                return f"{relative} is a broken symbolic link"
            if not stat.S_ISREG(status.st_mode):
                return f"{relative} is a symbolic link to something other than a file"
            target, size = Path(resolved), status.st_size
        else:
            size = entry.size
        if size > MAX_CONTEXT_FILE_BYTES:
            return f"{relative} is larger than {_mib(MAX_CONTEXT_FILE_BYTES)}"
        if relative not in self.chosen:
            self.chosen[relative] = target
            self.total += size
        return ""


def _walk(folder: Path) -> dict[str, _Entry]:
    """Every entry below `folder` by '/'-separated relative path, links not followed (at most
    MAX_CONTEXT_ENTRIES: a folder that holds more is not a build context)."""
    entries: dict[str, _Entry] = {}
    pending = [""]
    while pending and len(entries) < MAX_CONTEXT_ENTRIES:
        relative = pending.pop()
        try:
            scanned = os.scandir(folder / relative if relative else folder)
        except OSError:
            continue
        with scanned:
            for item in scanned:
                path = f"{relative}/{item.name}" if relative else item.name
                try:
                    mode = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(mode.st_mode):
                    entries[path] = _Entry("link", 0)
                elif stat.S_ISDIR(mode.st_mode):
                    entries[path] = _Entry("folder", 0)
                    pending.append(path)
                elif stat.S_ISREG(mode.st_mode):
                    entries[path] = _Entry("file", mode.st_size)
                else:
                    entries[path] = _Entry("special", 0)
    return dict(sorted(entries.items()))


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def _short(text: str) -> str:
    """The first line of a message, at most 200 characters: never much of the input."""
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= 200 else first[:197] + "..."
