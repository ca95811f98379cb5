"""Worker processes, for work spread over the CPU cores (validation, render)."""

from __future__ import annotations

import gc
import os
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from compiler.errors import UsageError

if TYPE_CHECKING:  # multiprocessing is imported when a pool is made (~20 ms)
    from concurrent.futures import Future, ProcessPoolExecutor

MAX_WORKERS = 8
T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")


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
    # A worker forked while the parent had cycle collection paused (heap.py) collects again:
    # its renders leave cycles, and it would grow with every job.
    return ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=gc.enable
    )


def spawned_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` fresh processes (each imports what it needs: ~0.5 s)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


# From this many jobs of a few milliseconds each, workers pay: forked ones start in
# milliseconds, spawned ones import what they need first (~0.5 s each).
FORKED_FROM = 64
SPAWNED_FROM = 400
# Chunks of jobs handed to each worker ahead of the answers read (in_workers).
WINDOW_PER_WORKER = 4


def worker_pool(jobs: int) -> ProcessPoolExecutor | None:
    """Worker processes for `jobs` jobs of a few milliseconds each, when they pay."""
    workers = worker_count()
    if jobs < FORKED_FROM or workers < 2:
        return None
    pool = forked_pool(workers)
    if pool is None and jobs >= SPAWNED_FROM:
        pool = spawned_pool(workers)
    return pool


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes: forked when that is safe, else spawned."""
    return forked_pool(workers) or spawned_pool(workers)


# What each process made for a setting (a renderer for a repository): see made_once.
_made: dict[Hashable, Any] = {}


def made_once(setting: Hashable, make: Callable[[], T]) -> T:
    """What `make` makes for `setting`, made once in this process; a forked worker finds what
    its parent shared before forking it (in_workers)."""
    if setting not in _made:
        _made[setting] = make()
    made: T = _made[setting]
    return made


def in_workers(
    pool: ProcessPoolExecutor,
    function: Callable[[J], R],
    jobs: Iterable[J],
    shared: tuple[Hashable, Any] | None = None,
    chunksize: int = 1,
) -> Iterator[R]:
    """`function` of each job, in order, computed by the workers of `pool`; a worker forked for
    them finds `shared` (setting, value) with made_once, if given. The pool is shut down at the
    end, or when the caller stops early (a failure, an interruption). A worker that dies (killed,
    out of memory) is a UsageError, not a crash of envc."""
    from concurrent.futures.process import BrokenProcessPool

    if shared is not None:
        _made[shared[0]] = shared[1]
    try:
        # Executor.map would take every job at once and hold each until its answer came:
        # a few chunks per worker are handed out at a time, so what waits stays bounded.
        window = WINDOW_PER_WORKER * worker_count()
        waiting: deque[Future[list[R]]] = deque()
        for chunk in _chunks(jobs, chunksize):
            waiting.append(pool.submit(_run_chunk, function, chunk))
            if len(waiting) >= window:
                yield from waiting.popleft().result()
        while waiting:
            yield from waiting.popleft().result()
    except BrokenProcessPool:
        raise UsageError(
            "a worker process stopped without an answer (killed, or out of memory?); run again"
        ) from None
    finally:
        if shared is not None:
            _made.pop(shared[0], None)
        pool.shutdown(wait=True, cancel_futures=True)


def _chunks(jobs: Iterable[J], size: int) -> Iterator[list[J]]:
    chunk: list[J] = []
    for job in jobs:
        chunk.append(job)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_chunk(function: Callable[[J], R], chunk: list[J]) -> list[R]:
    """In a worker: `function` of each job of a chunk."""
    return [function(job) for job in chunk]
