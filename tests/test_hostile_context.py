"""A pull request's base Dockerfile cannot ship what is not its own: a generated corpus of build
contexts (links out of the folder, special files, huge files, paths out of the folder, each
reached by name, by a pattern, through a folder and through `.`), each expected to be reported
by `validate` at its COPY line and refused by `render`, with nothing of the machine in `build/`;
and the legitimate shapes (`COPY . /app`, a link inside the folder, heredocs) accepted.

Bounds: every case runs under a 10 s alarm and may raise the process's peak memory by less than
256 MiB; the 1 GiB sparse file is never read.
"""

from __future__ import annotations

import os
import resource
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from compiler.render.repository import render_repository
from compiler.validate.repository import validate

SECRET = "envc-hostile-secret-6f1d"
MANIFEST = (
    "schema_version: 1\nname: evil\npython:\n  user_managed_dependencies: true\n"
    "  interpreter_path: /usr/bin/python3\ndocker:\n  base_dockerfile: ctx/Dockerfile\n"
)


@dataclass(frozen=True)
class Hazard:
    name: str
    make: Callable[[Path, Path], None]  # (the entry to create, a folder outside the repository)
    words: str  # what the finding says


def _link_to_environ(entry: Path, outside: Path) -> None:
    entry.symlink_to("/proc/self/environ")


def _link_to_outside_file(entry: Path, outside: Path) -> None:
    (outside / "secret.txt").write_text(SECRET)
    entry.symlink_to(outside / "secret.txt")


def _relative_link_up(entry: Path, outside: Path) -> None:
    entry.symlink_to("../../../../" + str(outside / "secret.txt").lstrip("/"))
    (outside / "secret.txt").write_text(SECRET)


def _link_to_outside_folder(entry: Path, outside: Path) -> None:
    (outside / "folder").mkdir(exist_ok=True)
    (outside / "folder" / "key").write_text(SECRET)
    entry.symlink_to(outside / "folder", target_is_directory=True)


def _link_to_inside_folder(entry: Path, outside: Path) -> None:
    (entry.parent / "real").mkdir(exist_ok=True)
    entry.symlink_to("real", target_is_directory=True)


def _fifo(entry: Path, outside: Path) -> None:
    os.mkfifo(entry)


def _socket(entry: Path, outside: Path) -> None:
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(entry))
    server.close()


def _sparse(entry: Path, outside: Path) -> None:
    with open(entry, "wb") as handle:
        handle.truncate(1024**3)  # 1 GiB, no blocks on disk


def _broken_link(entry: Path, outside: Path) -> None:
    entry.symlink_to("nowhere")


HAZARDS = [
    Hazard("link-to-environ", _link_to_environ, "symbolic link out of the Dockerfile's folder"),
    Hazard("link-to-file-outside", _link_to_outside_file, "symbolic link out of"),
    Hazard("relative-link-up", _relative_link_up, "symbolic link out of"),
    Hazard("link-to-folder-outside", _link_to_outside_folder, "symbolic link out of"),
    Hazard("link-to-folder-inside", _link_to_inside_folder, "other than a file"),
    Hazard("fifo", _fifo, "not a regular file"),
    Hazard("socket", _socket, "not a regular file"),
    Hazard("sparse-1gib", _sparse, "larger than 64 MiB"),
    Hazard("broken-link", _broken_link, "broken symbolic link"),
]
# How a COPY reaches the entry `leak` (in ctx/, or ctx/sub/ for the folder cases).
REACHES = {
    "by-name": ("leak", "COPY leak /app/leak"),
    "by-pattern": ("leak", "COPY le?k* /app/"),
    "through-folder": ("sub/leak", "COPY sub /app/sub"),
    "through-dot": ("leak", "COPY . /app"),
    "json-form": ("leak", 'COPY ["leak", "/app/leak"]'),
    "add": ("leak", "ADD leak /app/leak"),
    "second-source": ("leak", "COPY ok.txt leak /app/"),
}
CASES = [(h, r) for h in HAZARDS for r in REACHES]


@pytest.fixture(autouse=True)
def bounded() -> Iterator[None]:
    """Every case within 10 s, and the process's peak memory grows by less than 256 MiB."""

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("a hostile build context hung envc")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown < 256 * 1024, f"peak memory grew by {grown // 1024} MiB"


def _repository(tmp_path: Path, dockerfile: str) -> tuple[Path, Path]:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    context = root / "environments" / "evil" / "ctx"
    context.mkdir(parents=True)
    outside.mkdir()
    (root / "environments" / "evil" / "env.yaml").write_text(MANIFEST)
    (context / "Dockerfile").write_text(dockerfile)
    (context / "ok.txt").write_text("fine\n")
    return root, context


def _nothing_leaked(root: Path) -> None:
    for file in (root / "build").rglob("*") if (root / "build").exists() else ():
        if file.is_file() and not file.is_symlink():
            assert SECRET.encode() not in file.read_bytes(), file


@pytest.mark.parametrize(("hazard", "reach"), CASES, ids=[f"{h.name}-{r}" for h, r in CASES])
def test_a_hostile_context_entry_is_found_at_its_copy_line_and_never_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hazard: Hazard, reach: str
) -> None:
    monkeypatch.setenv("ENVC_REGISTRY_PASSWORD", SECRET)
    where, copy = REACHES[reach]
    root, context = _repository(tmp_path, f"FROM debian:bookworm-slim\nRUN true\n{copy}\n")
    entry = context / where
    entry.parent.mkdir(parents=True, exist_ok=True)
    hazard.make(entry, tmp_path / "outside")

    report = validate(root=root, cwd=root)
    found = [(d.path, d.line, d.rule) for d in report.diagnostics]
    assert found == [("environments/evil/ctx/Dockerfile", 3, "build-context")], report.diagnostics
    assert hazard.words in report.diagnostics[0].message
    assert len(report.diagnostics[0].message) < 300  # an excerpt, never the input

    [outcome] = render_repository(root, report.manifests)
    assert outcome.status == "failed"
    assert outcome.error.startswith("environments/evil/ctx/Dockerfile:3: ")
    assert not (root / "build" / "evil").exists()
    _nothing_leaked(root)


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("/etc/passwd", "outside the Dockerfile's folder"),
        ("../env.yaml", "outside"),
        ("sub/../../env.yaml", "outside"),
        ("missing.txt", "does not exist"),
    ],
)
def test_sources_outside_the_folder_or_missing_are_findings(
    tmp_path: Path, source: str, words: str
) -> None:
    root, _ = _repository(tmp_path, f"FROM debian:bookworm-slim\nCOPY {source} /x\n")
    report = validate(root=root, cwd=root)
    assert [(d.line, d.rule) for d in report.diagnostics] == [(2, "build-context")]
    assert words in report.diagnostics[0].message


@pytest.mark.parametrize(
    ("dockerfile", "line", "words"),
    [
        ("RUN true\n", 1, "no FROM instruction"),
        ("FROM debian AS\nRUN true\n", 1, "needs a stage name"),
        ("FROM a AS one\nFROM b AS\n", 2, "needs a stage name"),
        ("", 1, "no instructions"),
    ],
)
def test_a_dockerfile_envc_cannot_build_on_is_a_finding(
    tmp_path: Path, dockerfile: str, line: int, words: str
) -> None:
    root, _ = _repository(tmp_path, dockerfile)
    report = validate(root=root, cwd=root)
    assert [(d.line, d.rule) for d in report.diagnostics] == [(line, "base-dockerfile")]
    assert words in report.diagnostics[0].message


def test_legitimate_contexts_render(tmp_path: Path) -> None:
    """`COPY . /app` (its own Dockerfile included), a link to a file inside the folder, a
    heredoc and a URL: accepted, and what is copied is the files' own bytes."""
    root, context = _repository(
        tmp_path,
        "FROM debian:bookworm-slim\nCOPY . /app\nCOPY alias.txt /alias\n"
        "COPY <<EOF /etc/motd\nhello\nEOF\nADD https://example.com/x.tgz /x\n",
    )
    (context / "data").mkdir()
    (context / "data" / "model.bin").write_bytes(bytes(range(256)))
    (context / "alias.txt").symlink_to("ok.txt")
    report = validate(root=root, cwd=root)
    assert report.ok, report.diagnostics
    [outcome] = render_repository(root, report.manifests)
    assert outcome.status == "rendered", outcome.error
    build = root / "build" / "evil"
    assert (build / "alias.txt").read_text() == "fine\n" and not (build / "alias.txt").is_symlink()
    assert (build / "data" / "model.bin").read_bytes() == bytes(range(256))
    assert "FROM debian:bookworm-slim AS envc-base" in (build / "Dockerfile").read_text()


def test_the_bounded_reader_reads_whole_files_of_any_reported_size(tmp_path: Path) -> None:
    """read_bounded reads what fstat promises in one go, and goes on past it: a file that
    reports no size (/proc) or grew since is read whole, up to the cap and never past it."""
    from compiler._util.files import UnreadableFile, read_bounded

    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    assert read_bounded(status).startswith(b"Name:")
    with pytest.raises(UnreadableFile, match="larger than"):
        read_bounded(status, 64)
    for size in (0, 1, 65535, 65536, 65537, 300_000):
        data = os.urandom(size)
        (tmp_path / "file").write_bytes(data)
        assert read_bounded(tmp_path / "file", 300_000) == data
    with pytest.raises(UnreadableFile, match="larger than"):
        read_bounded(tmp_path / "file", 299_999)
