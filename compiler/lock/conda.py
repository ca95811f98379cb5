"""The conda solver (py-rattler's resolvo), run in a throwaway child process.

py-rattler 0.28 sometimes crashes while the interpreter shuts down after it has used its async
runtime (SIGSEGV/SIGABRT in about one run in ten, after all work is done). So envc never solves
in its own process: a fresh interpreter (started with `python -c`, so it inherits no state and,
unlike multiprocessing's spawn, never re-runs the caller's script: a Python script calling envc
needs no `if __name__ == "__main__"` guard) reads the requests on stdin, writes plain data back
on stdout and leaves with `os._exit`, skipping the interpreter shutdown where the race lives.
The parent only reads the answer; a child that dies without one is an error, not a hang.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from compiler._util.credentials import redact, without_credentials
from compiler._util.files import UnreadableFile, read_bounded, write_atomically
from compiler.errors import EnvcError, UsageError
from compiler.lock.logins import ChannelLogins, rattler_client

CANONICAL_CHANNEL_BASE = "https://conda.anaconda.org"
# conda-forge's linux-64 repodata.json is ~300 MB uncompressed; a local channel's is smaller.
MAX_REPODATA_BYTES = 2 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class ChannelSource:
    """A channel as recorded in locks (`canonical`), and where it is read from (`source`):
    the same URL, or a mirror or local folder that serves the same packages."""

    canonical: str
    source: str


@dataclass(frozen=True)
class SolveRequest:
    channels: tuple[ChannelSource, ...]
    specs: tuple[str, ...]
    platform: str
    virtual_packages: tuple[tuple[str, str, str], ...]  # (name, version, build)
    cache_dir: str
    # Previously locked records ("name ==version build") the solver keeps where it can.
    preferred: tuple[str, ...] = ()
    # Bounds on packages the specs may pull in, requiring none (the policy's floors).
    constraints: tuple[str, ...] = ()


class SolveError(EnvcError):
    """The specs cannot be satisfied; the message is the solver's explanation."""


# What conda means by `defaults`: Anaconda's main and r channels (and msys2 for Windows).
DEFAULTS_CHANNELS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
DEFAULTS_WINDOWS_CHANNEL = "https://repo.anaconda.com/pkgs/msys2"


def expand_channels(channels: Sequence[str], platforms: Sequence[str]) -> tuple[str, ...]:
    """Channels as URLs, in order, `defaults` expanded as conda expands it (`nodefaults`, conda's
    "add no defaults", is nothing: envc adds no channel the manifest does not list)."""
    expanded: list[str] = []
    for channel in channels:
        if channel == "nodefaults":
            continue
        if channel == "defaults":
            windows = any(platform.startswith("win-") for platform in platforms)
            found = [*DEFAULTS_CHANNELS, *([DEFAULTS_WINDOWS_CHANNEL] if windows else [])]
        else:
            found = [canonical_channel(channel)]
        expanded += [url for url in found if url not in expanded]
    return tuple(expanded)


def canonical_channel(channel: str) -> str:
    """`conda-forge` -> https://conda.anaconda.org/conda-forge; URLs stay as they are."""
    if "://" in channel:
        return channel.rstrip("/")
    return f"{CANONICAL_CHANNEL_BASE}/{channel.strip('/')}"


# The child runs from the folder that holds the `compiler` package, so it imports this envc
# (installed or not) and never a `compiler/` of the repository it is run in.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
_CHILD = "from compiler.lock.conda import serve_child; serve_child()"


def serve_child() -> None:
    """The solver process: pickled requests on stdin, the pickled answer on stdout."""
    try:
        requests = pickle.load(sys.stdin.buffer)
        answer: tuple[str, Any] = ("ok", [_solve(request) for request in requests])
    except BaseException as exc:  # everything goes back to the parent as data, redacted
        kind = "unsat" if type(exc).__name__ == "SolverError" else "error"
        platform = getattr(exc, "envc_platform", "?")
        answer = (kind, (platform, f"{type(exc).__name__}: {exc}"))
    sys.stdout.buffer.write(pickle.dumps(answer))
    sys.stdout.buffer.flush()
    os._exit(0)


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value else None


def _solve(request: SolveRequest) -> list[dict[str, Any]]:
    import asyncio
    import datetime

    from rattler import (
        BuildString,
        Gateway,
        GenericVirtualPackage,
        PackageName,
        Subdir,
        Version,
        solve,
    )

    virtual = [
        GenericVirtualPackage(PackageName(name), Version(version), BuildString(build))
        for name, version, build in request.virtual_packages
    ]
    subdirs = (request.platform, "noarch")
    # Read from (a sanitized copy of) the source; compare without credentials, which never
    # leave this process.
    read_from = {
        channel.canonical: _without_nulls(channel.source, subdirs, Path(request.cache_dir))
        for channel in request.channels
    }
    # A record is told by its URL's prefix, not by its channel: rattler's record.channel drops
    # an anaconda.org `/t/<token>/`, which then stayed, filled, in the URLs locks recorded.
    sources = sorted(
        (
            (without_credentials(source).rstrip("/") + "/", canonical.rstrip("/"))
            for canonical, source in read_from.items()
        ),
        key=lambda pair: -len(pair[0]),
    )

    async def run() -> list[Any]:
        gateway = Gateway(cache_dir=Path(request.cache_dir), client=rattler_client())
        platforms = [Subdir(request.platform), Subdir("noarch")]
        locked = []
        if request.preferred:
            found = await gateway.query(
                list(read_from.values()), platforms, list(request.preferred), recursive=False
            )
            locked = [record for group in found for record in group]
        return await solve(
            list(read_from.values()),
            list(request.specs),
            gateway=gateway,
            platforms=platforms,
            locked_packages=locked,
            virtual_packages=virtual,
            constraints=list(request.constraints),
            timeout=datetime.timedelta(minutes=5),
        )

    try:
        solved = asyncio.run(run())
    except Exception as exc:
        exc.envc_platform = request.platform  # type: ignore[attr-defined]
        raise
    records = []
    for record in solved:
        url = without_credentials(str(record.url))
        canonical = without_credentials(str(record.channel)).rstrip("/")
        for source, channel in sources:
            if url.startswith(source):  # record the canonical channel, not the mirror
                url, canonical = f"{channel}/{url[len(source) :]}", channel
                break
        records.append(
            {
                "name": record.name.normalized,
                "version": str(record.version),
                "build": str(record.build),
                "build_number": int(record.build_number),
                "subdir": str(record.subdir),
                "url": url,
                "channel": canonical,
                "md5": _hex(record.md5),
                "sha256": _hex(record.sha256),
                "size": record.size,
                "depends": list(record.depends),
                "constrains": list(record.constrains),
                "license": record.license or "",
            }
        )
    return records


def _holds(record: dict[str, Any], secrets: list[str]) -> bool:
    """Whether one of `secrets` is in a solved record's URL or channel."""
    return any(secret in record[key] for secret in secrets for key in ("url", "channel"))


def _without_nulls(source: str, subdirs: tuple[str, ...], cache_dir: Path) -> str:
    """A local channel whose repodata has `"depends": null` (real channels hold such records,
    and rattler refuses them) is read from a copy with empty lists instead."""
    import hashlib
    import json
    from urllib.parse import unquote, urlparse

    if "://" in source and not source.startswith("file://"):
        return source
    folder = Path(unquote(urlparse(source).path)) if source.startswith("file://") else Path(source)
    copy = cache_dir / "sanitized" / hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    needed = False
    for subdir in subdirs:
        original = folder / subdir / "repodata.json"
        try:  # bounded: a channel folder may be the repository's, a link or a FIFO in it
            raw = read_bounded(original, MAX_REPODATA_BYTES)
        except UnreadableFile:
            continue  # rattler reports the missing subdir itself
        repodata = json.loads(raw) if b"null" in raw else None
        if repodata is None:
            continue
        changed = False
        for key in ("packages", "packages.conda"):
            for record in (repodata.get(key) or {}).values():
                for field in ("depends", "constrains"):
                    if field in record and record[field] is None:
                        record[field] = []
                        changed = True
        if changed:
            needed = True
            target = copy / subdir / "repodata.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, json.dumps(repodata), durable=False)
    if not needed:
        return source
    for subdir in subdirs:  # subdirs without nulls go into the copy as they are
        target = copy / subdir / "repodata.json"
        original = folder / subdir / "repodata.json"
        with suppress(UnreadableFile):
            raw = read_bounded(original, MAX_REPODATA_BYTES)
            if b"null" not in raw:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(raw)
    return copy.as_uri()


def solve_in_child(requests: list[SolveRequest]) -> list[list[dict[str, Any]]]:
    """Solve each request (one per platform) in one fresh process; records sorted by name.

    `${VAR}` placeholders in channel sources are filled from the environment here and sent as
    logins (lock/logins.py); lockfiles record channels without credentials, and the values never
    appear in an error message."""
    logins = ChannelLogins()
    expanded = []
    for request in requests:
        channels = []
        for channel in request.channels:
            source = logins.source(channel.source, without_credentials(channel.source))
            channels.append(ChannelSource(without_credentials(channel.canonical), source))
        expanded.append(replace(request, channels=tuple(channels)))
    secrets = logins.secrets
    with logins.file() as variables:
        child = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=pickle.dumps(expanded),
            capture_output=True,
            cwd=_PACKAGE_PARENT,
            env={**os.environ, **variables},
        )
    try:
        kind, payload = pickle.loads(child.stdout)
    except Exception:  # no answer: the child died before writing one
        last = (child.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        died = f"the solver process died (exit code {child.returncode}) {last}"
        kind, payload = "error", ("?", died.strip())
    if kind == "ok":
        leaked = [r["url"] for records in payload for r in records if _holds(r, secrets)]
        if leaked:  # (never written: a lock is committed)
            raise UsageError(
                f"a credential would be written into the lock, in {redact(leaked[0], secrets)}"
                f"{f' and {len(leaked) - 1} more' if len(leaked) > 1 else ''}: its channel was "
                "not told apart; report this to envc's maintainers"
            )
        return [sorted(records, key=lambda r: (r["name"], r["subdir"])) for records in payload]
    platform, message = payload
    message = redact(message, secrets)
    if kind == "unsat":
        raise SolveError(f"cannot solve for {platform}: {message.split(': ', 1)[-1].strip()}")
    raise UsageError(f"solving for {platform} failed: {message}")
