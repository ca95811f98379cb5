"""Worker processes, for work spread over the CPU cores (validation, render)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # multiprocessing is imported when a pool is made (~20 ms)
    from concurrent.futures import ProcessPoolExecutor

MAX_WORKERS = 8


def worker_count() -> int:
    """How many worker processes: the cores this process may run on, at most MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, MAX_WORKERS)


def can_fork() -> bool:
    """Whether workers may be forked: the platform has fork and this process runs one thread,
    native ones counted (a child gets only the forking thread: a lock another one held, the
    runtime of py-rattler or of the Go Dockerfile parser, would be left broken in it). Without
    /proc to count them, no."""
    import multiprocessing

    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        return False
    return threads == 1 and "fork" in multiprocessing.get_all_start_methods()


def forked_pool(workers: int) -> ProcessPoolExecutor | None:
    """A pool of `workers` forked processes (they start in milliseconds, with this process's
    modules and state), or None when forking is not safe here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if not can_fork():
        return None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def spawned_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` fresh processes (each imports what it needs: ~0.5 s)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes: forked when that is safe, else spawned."""
    return forked_pool(workers) or spawned_pool(workers)
