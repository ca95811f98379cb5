"""Reading a repository's history with the real `git`, for the plan stage (and its index, for
`envc validate --staged`): no checkout, no index changes, no working-tree writes.

Paths are relative to the envc repository root (which may be a sub-folder of the git work tree)
and use '/'. A side of a comparison is a commit, or the working tree (`commit` None): tracked
changes, staged or not, and untracked files that are not ignored.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from compiler._util.files import UnreadableFile, read_bounded, too_large
from compiler.errors import EnvcError, UsageError

SYMLINK_MODE = "120000"
FETCH_MORE = "fetch more history (git fetch --unshallow, or actions/checkout with fetch-depth: 0)"
SUBMODULE_MODE = "160000"
MAX_PATHSPECS = 256  # paths given to one git status; more are filtered here (uncommitted)
MAX_PLAN_FILE_BYTES = 256 * 1024 * 1024  # a file a plan reads, committed or in the working tree


class FileRef(NamedTuple):
    """A file of one side: its git mode and blob id, or `oid` None to read it from the disk (a
    named tuple: a side of 50,000 environments has a hundred thousand)."""

    mode: str
    oid: str | None


@dataclass(frozen=True, slots=True)
class Change:
    status: str  # git's letter: A (also untracked files), M, D, R (renamed), T (type changed)
    path: str  # the path on the head side (for D: the deleted path)
    old_path: str | None  # for R: where it was
    new: FileRef | None  # None for D


class Git:
    def __init__(self, root: Path) -> None:
        if not git_installed():
            raise UsageError("git is not installed; envc plan reads history with git")
        self.root = root
        prefix = self._run("rev-parse", "--show-prefix", what=f"{root} is not in a git repository")
        self.prefix = os.fsdecode(prefix).rstrip("\n")  # the root, inside the work tree
        # Working-tree files as first read: whatever reads one again (a render after its key
        # was computed) gets the same bytes, however the file changes meanwhile.
        self._from_disk: dict[str, bytes] = {}

    def _run(self, *args: str, what: str | None = None, input: bytes | None = None) -> bytes:
        result = subprocess.run(
            self._command(args), cwd=self.root, input=input, capture_output=True, env=_environment()
        )
        return self._output(args, what, result.returncode, result.stdout, result.stderr)

    def _later(self, *args: str) -> Callable[[], bytes]:
        """Start git now; the returned function waits for it and gives its output as _run does.
        The output goes to a temporary file, so git runs to its end while this process does
        other work (a pipe would stall it once full)."""
        import tempfile

        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115 (finish closes)
        process = subprocess.Popen(
            self._command(args), cwd=self.root, stdout=out, stderr=err, env=_environment()
        )

        def finish() -> bytes:
            with out, err:
                process.wait()
                out.seek(0)
                err.seek(0)
                return self._output(args, None, process.returncode, out.read(), err.read())

        return finish

    @staticmethod
    def _command(args: Sequence[str]) -> list[str]:
        return ["git", "-c", "core.quotePath=false", *args]

    @staticmethod
    def _output(args: Sequence[str], what: str | None, code: int, out: bytes, err: bytes) -> bytes:
        if code != 0:
            detail = err.decode(errors="replace").strip().splitlines()
            raise UsageError(what or f"git {args[0]} failed: {detail[-1] if detail else ''}")
        return out

    def is_shallow(self) -> bool:
        return self._run("rev-parse", "--is-shallow-repository").strip() == b"true"

    def commit(self, ref: str) -> str:
        """The commit `ref` names; a clear error for unknown refs and shallow clones."""
        if ref.startswith("-"):
            raise UsageError(f"not a git revision: {ref!r}")
        try:
            out = self._run("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}")
        except UsageError:
            if self.is_shallow():
                raise UsageError(f"{ref!r} is not in this shallow clone; {FETCH_MORE}") from None
            raise UsageError(f"unknown git revision {ref!r}") from None
        return out.decode().strip()

    def merge_base(self, base: str, head: str) -> str:
        try:
            return self._run("merge-base", base, head).decode().strip()
        except UsageError:
            if self.is_shallow():
                raise UsageError(f"no merge base in this shallow clone; {FETCH_MORE}") from None
            raise UsageError(
                "the base and head have no common ancestor (unrelated histories); "
                "pass --direct to compare the two trees as they are"
            ) from None

    def tree(self, commit: str) -> dict[str, FileRef]:
        """Every file under the root at `commit` (empty when the root did not exist then)."""
        return self.tree_later(commit)()

    def tree_later(self, commit: str) -> Callable[[], dict[str, FileRef]]:
        """tree(), with git started now and its output read when the returned function is
        called (a plan reads its caches meanwhile)."""
        listing = self._later("ls-tree", "-r", "-z", "--full-name", commit, "--", ".")
        start = len(self.prefix)

        def files() -> dict[str, FileRef]:
            found = {}
            # "<mode> <kind> <oid>\t<path>": decoded at once (the meta part is ASCII)
            for entry in os.fsdecode(listing()).split("\0"):
                if entry:
                    meta, path = entry.split("\t", 1)
                    mode, kind, oid = meta.split(" ")
                    if kind == "blob":
                        found[path[start:]] = FileRef(mode, oid)
            return found

        return files

    def tree_id(self, commit: str) -> str | None:
        """The id of the root's tree at `commit` (None when the root did not exist then)."""
        try:
            return self._run("rev-parse", "--verify", f"{commit}:{self.prefix}").decode().strip()
        except UsageError:
            return None

    def changes(self, base: str, head: str | None) -> list[Change]:
        """What differs between commit `base` and `head` (None: the working tree), renames found."""
        sides = [base] if head is None else [base, head]
        out = self._run(
            "diff",
            "--raw",
            "--no-abbrev",
            "-z",
            "-M",
            "--no-ext-diff",
            "--relative",
            *sides,
            "--",
            ".",
        )
        fields = out.split(b"\0")
        changes = []
        position = 0
        while position < len(fields) - 1:
            meta = fields[position].decode().lstrip(":").split()
            new_mode, new_oid, status = meta[1], meta[3], meta[4][0]
            path = os.fsdecode(fields[position + 1])
            position += 2
            old_path = None
            if status == "R":
                old_path, path = path, os.fsdecode(fields[position])
                position += 1
            new = None
            if status != "D":
                # All zeros: not hashed yet (a working-tree file); read it from the disk.
                new = FileRef(new_mode, None if set(new_oid) == {"0"} else new_oid)
            changes.append(Change(status, path, old_path, new))
        if head is None:
            untracked = self._run("ls-files", "-z", "--others", "--exclude-standard", "--", ".")
            for path_bytes in filter(None, untracked.split(b"\0")):
                if path_bytes.endswith(b"/"):  # another git repository inside: not our files
                    continue
                path = os.fsdecode(path_bytes)
                mode = SYMLINK_MODE if (self.root / path).is_symlink() else "100644"
                changes.append(Change("A", path, None, FileRef(mode, None)))
        return changes

    def read(self, files: Mapping[str, FileRef]) -> dict[str, bytes]:
        """The bytes of `files`: blobs through one `git cat-file --batch`, the rest from disk."""
        committed = {path: ref.oid for path, ref in files.items() if ref.oid is not None}
        sizes = self.sizes(sorted(set(committed.values())))
        for path, oid in sorted(committed.items()):  # what a pull request committed, bounded
            if sizes[oid] > MAX_PLAN_FILE_BYTES:
                raise EnvcError(f"{path}: {too_large(MAX_PLAN_FILE_BYTES)}")
        blobs = self._blobs(sorted(sizes))
        contents = {}
        for path, ref in files.items():
            if ref.oid is not None:
                contents[path] = blobs[ref.oid]
            elif ref.mode == SYMLINK_MODE:
                contents[path] = os.readlink(self.root / path).encode()
            else:
                contents[path] = self._on_disk(path)
        return contents

    def content_id(self, path: str) -> str:
        """The blob id of working-tree file `path` (not a symbolic link): what git would name
        the bytes read() gives for it."""
        return blob_id(self._on_disk(path))

    def _on_disk(self, path: str) -> bytes:
        """The working tree's `path`: what a pull request put there, read within limits."""
        if path not in self._from_disk:
            try:
                self._from_disk[path] = read_bounded(self.root / path, MAX_PLAN_FILE_BYTES)
            except UnreadableFile as exc:
                raise EnvcError(f"{path}: {exc}") from None
        return self._from_disk[path]

    def sizes(self, oids: list[str]) -> dict[str, int]:
        """The size of each blob, from its header alone (`git cat-file --batch-check`)."""
        if not oids:
            return {}
        out = self._run("cat-file", "--batch-check", input="".join(f"{o}\n" for o in oids).encode())
        sizes = {}
        for line in out.decode().splitlines():
            header = line.split()
            if len(header) != 3:
                raise _missing(header[0])
            sizes[header[0]] = int(header[2])
        return sizes

    def _blobs(self, oids: Iterable[str]) -> dict[str, bytes]:
        request = "".join(f"{oid}\n" for oid in oids).encode()
        if not request:
            return {}
        out = self._run("cat-file", "--batch", input=request)
        blobs = {}
        position = 0
        while position < len(out):
            end = out.index(b"\n", position)
            header = out[position:end].decode().split()
            if len(header) != 3:
                raise _missing(header[0])
            oid, _, size = header
            start = end + 1
            blobs[oid] = out[start : start + int(size)]
            position = start + int(size) + 1
        return blobs

    def head(self) -> tuple[str, str] | None:
        """The commit checked out and its author date (ISO 8601); None before the first commit."""
        try:
            out = self._run("log", "-1", "--format=%H %aI", "HEAD").decode().split()
        except UsageError:
            return None
        return out[0], out[1]

    def commit_paths(self, paths: Iterable[str], message: str) -> str:
        """Commit the current state of `paths` (files or folders) alone, leaving anything else
        staged as it was; the new commit's id."""
        listed = list(paths)
        self._run("add", "--all", "--", *listed)
        self._run("commit", "--quiet", "-m", message, "--", *listed)
        return self._run("rev-parse", "HEAD").decode().strip()

    def uncommitted(self, paths: Iterable[str]) -> list[str]:
        """Which of `paths` (files or folders) differ from HEAD, untracked files included.
        Many paths are asked as the whole root, and what git lists is kept here if it is one
        of them or below one: git matches every file against every path it is given (5,000
        folders of a repository of 50,000 took 7 s; 50,000 would not fit a command line)."""
        wanted = list(paths)
        many = len(wanted) > MAX_PATHSPECS
        arguments = ["."] if many else wanted
        out = self._run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *arguments)
        changed = self._status_paths(out)
        if many:
            # (git lists paths from the top of the work tree, the root's prefix included)
            kept = {f"{self.prefix}{path}".rstrip("/") for path in wanted}
            changed = {path for path in changed if _at_or_under(path, kept)}
        return sorted(changed)

    @staticmethod
    def _status_paths(out: bytes) -> set[str]:
        """The paths `git status --porcelain=v1 -z` lists (both of a rename)."""
        entries = out.split(b"\0")
        changed = set()
        position = 0
        while position < len(entries):
            entry = entries[position]
            position += 1
            if len(entry) < 4:
                continue
            changed.add(os.fsdecode(entry[3:]))
            if b"R" in entry[:2] or b"C" in entry[:2]:  # `R  new\0old`: the source path follows
                changed.add(os.fsdecode(entries[position]))
                position += 1
        return changed


def _missing(oid: str) -> UsageError:
    """`<oid> missing`: a shallow or partial clone lacks it."""
    return UsageError(
        f"git object {oid} is missing from this clone (shallow or partial?): "
        "fetch the history the comparison needs (git fetch --unshallow)"
    )


def _environment() -> dict[str, str]:
    """git's environment: no optional locks (envc only reads; the user's git must not wait on
    it), messages in English (some are parsed)."""
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def staged_files(root: Path, pattern: str) -> dict[str, FileRef]:
    """The files matching glob `pattern` (relative to `root`; `**` for any folders) as git's
    index holds them: what the next commit will contain. One `git ls-files`, no working-tree
    read; a path in a merge conflict (no stage 0) is left out, as no commit can be made with
    it."""
    args = ("ls-files", "--stage", "-z", "--", f":(glob){pattern}")
    try:
        command = Git._command(args)
        result = subprocess.run(command, cwd=root, capture_output=True, env=_environment())
    except FileNotFoundError:
        raise UsageError("git is not installed; --staged reads git's index") from None
    what = f"{root} is not in a git repository"
    out = Git._output(args, what, result.returncode, result.stdout, result.stderr)
    found = {}
    # "<mode> <oid> <stage>\t<path>" (the path relative to `root`)
    for entry in os.fsdecode(out).split("\0"):
        if entry:
            meta, path = entry.split("\t", 1)
            mode, oid, stage = meta.split(" ")
            if stage == "0":
                found[path] = FileRef(mode, oid)
    return found


def blob_id(raw: bytes, like: str = "") -> str:
    """The id git names a blob of `raw` by, in the object format of the id `like` (SHA-256's
    64 hex digits, else SHA-1's 40)."""
    digest = hashlib.new("sha256" if len(like) == 64 else "sha1", usedforsecurity=False)
    digest.update(b"blob %d\0" % len(raw))
    digest.update(raw)
    return digest.hexdigest()


def git_installed() -> bool:
    import shutil  # (~2 ms: not on the pre-commit hook's path)

    return shutil.which("git") is not None


def tracked(file: Path) -> bool:
    """Whether git tracks `file` (False outside a work tree, or where git is not installed)."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "-z", "--", file.name],
            cwd=file.parent,
            capture_output=True,
            env=_environment(),
        )
    except OSError:
        return False
    return result.returncode == 0 and bool(result.stdout)


def _at_or_under(path: str, folders: set[str]) -> bool:
    """Whether `path` is one of `folders` (or files), or below one."""
    while path:
        if path in folders:
            return True
        path = posixpath.dirname(path)
    return False
