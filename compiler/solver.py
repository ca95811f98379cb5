"""The conda solver (py-rattler's resolvo), run in a throwaway child process.

py-rattler 0.28 sometimes crashes while the interpreter shuts down after it has used its async
runtime (SIGSEGV/SIGABRT in about one run in ten, after all work is done). So envc never solves
in its own process: a child process (spawned, so it inherits no state) solves, sends plain data
back through a pipe and leaves with `os._exit`, skipping the interpreter shutdown where the race
lives. The parent only reads the answer; a child that dies without one is an error, not a hang.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError, UsageError

CANONICAL_CHANNEL_BASE = "https://conda.anaconda.org"


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


class SolveError(EnvcError):
    """The specs cannot be satisfied; the message is the solver's explanation."""


def canonical_channel(channel: str) -> str:
    """`conda-forge` -> https://conda.anaconda.org/conda-forge; URLs stay as they are."""
    if "://" in channel:
        return channel.rstrip("/")
    return f"{CANONICAL_CHANNEL_BASE}/{channel.strip('/')}"


def _child(requests: list[SolveRequest], connection: Any) -> None:
    try:
        connection.send(("ok", [_solve(request) for request in requests]))
    except BaseException as exc:  # everything goes back to the parent as data
        kind = "unsat" if type(exc).__name__ == "SolverError" else "error"
        platform = getattr(exc, "envc_platform", "?")
        connection.send((kind, (platform, f"{type(exc).__name__}: {exc}")))
    finally:
        connection.close()
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
    sources = {channel.source.rstrip("/"): channel.canonical for channel in request.channels}

    async def run() -> list[Any]:
        return await solve(
            list(sources),
            list(request.specs),
            gateway=Gateway(cache_dir=Path(request.cache_dir)),
            platforms=[Subdir(request.platform), Subdir("noarch")],
            virtual_packages=virtual,
            timeout=datetime.timedelta(minutes=5),
        )

    try:
        solved = asyncio.run(run())
    except Exception as exc:
        exc.envc_platform = request.platform  # type: ignore[attr-defined]
        raise
    records = []
    for record in solved:
        source = str(record.channel).rstrip("/")
        canonical = sources.get(source, source)
        url = str(record.url)
        if url.startswith(source):  # record the canonical channel, not the mirror
            url = canonical + url[len(source) :]
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
            }
        )
    return records


def solve_in_child(requests: list[SolveRequest]) -> list[list[dict[str, Any]]]:
    """Solve each request (one per platform) in one fresh process; records sorted by name."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(requests, sender), daemon=True)
    child.start()
    sender.close()
    try:
        answer = receiver.recv()
    except EOFError:
        child.join(10)
        answer = ("error", ("?", f"the solver process died (exit code {child.exitcode})"))
    finally:
        receiver.close()
        child.join(10)
    kind, payload = answer
    if kind == "ok":
        return [sorted(records, key=lambda r: (r["name"], r["subdir"])) for records in payload]
    platform, message = payload
    if kind == "unsat":
        raise SolveError(f"cannot solve for {platform}: {message.split(': ', 1)[-1].strip()}")
    raise UsageError(f"solving for {platform} failed: {message}")
