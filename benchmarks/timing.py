"""Wall-clock timing of whole commands, shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path


def _run(
    command: list[str], cwd: Path, env: Mapping[str, str] | None
) -> tuple[float, int, str, float]:
    """(seconds, exit code, the end of stderr, peak resident MB) of one run; the peak is that of
    the largest single process of the command's tree (the kernel's wait4 accounting)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        tail = errors.read()[-2000:].decode(errors="replace")
    return seconds, process.returncode, tail, usage.ru_maxrss / 1024


def run_once(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[float, int, str]:
    """(seconds, exit code, the end of stderr) of one run."""
    seconds, code, tail, _ = _run(command, cwd, env)
    return seconds, code, tail


def median_seconds(
    command: list[str],
    cwd: Path,
    repeat: int,
    *,
    env: Mapping[str, str] | None = None,
    warmup: bool = False,
    before: Callable[[], None] | None = None,
) -> float:
    """Median of `repeat` successful runs (after one untimed run with `warmup`); `before` is
    called ahead of each run, untimed."""
    times = []
    for attempt in range(repeat + int(warmup)):
        if before is not None:
            before()
        seconds, code, errors = run_once(command, cwd, env)
        if code != 0:
            raise SystemExit(f"{command[:3]} exited {code}: {errors}")
        if attempt >= int(warmup):
            times.append(seconds)
    return statistics.median(times)


def peak_megabytes(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[float, float]:
    """(seconds, peak resident memory in MB) of one successful run."""
    seconds, code, tail, peak = _run(command, cwd, env)
    if code != 0:
        raise SystemExit(f"{command[:3]} exited {code}: {tail}")
    return seconds, peak


def compile_envc(project: Path) -> None:
    """Give envc the compiled bytecode an installed package has (an editable install under
    PYTHONDONTWRITEBYTECODE would otherwise recompile envc on every start)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(project / "compiler")], check=True
    )
