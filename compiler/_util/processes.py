"""Worker processes, for work spread over the CPU cores (validation, render)."""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
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
# run_jobs times the jobs it does here in stretches this long, deciding after each where the
# rest go.
PROBE_SECONDS = 0.03
# Handing a job to a worker and reading its answer back costs the main process about 0.1 ms,
# as much as a quick job (a user-managed environment's render, ~0.09 ms): measured on 2 cores,
# 1,000 and 5,000 of those took 10-20% longer in workers; locked environments' (~1 ms), which
# workers must take, are well above. Jobs shorter than this stay here.
WORKER_JOB_SECONDS = 0.0003


def worker_pool(jobs: int) -> ProcessPoolExecutor | None:
    """Worker processes for `jobs` jobs of a few milliseconds each, when they pay."""
    workers = worker_count()
    if jobs < FORKED_FROM or workers < 2:
        return None
    pool = forked_pool(workers)
    if pool is None and jobs >= SPAWNED_FROM:
        pool = spawned_pool(workers)
    return pool


def run_jobs(
    jobs: Sequence[J],
    here: Callable[[J], R],
    in_pool: Callable[[ProcessPoolExecutor, Sequence[J]], Iterator[R]],
) -> Iterator[R]:
    """The answer to each job, in order: `here` answers them in this process, timed, and each
    time they have taken PROBE_SECONDS, if they took WORKER_JOB_SECONDS or more each, `in_pool`
    answers the rest with a pool of workers (worker_pool), when one can be had. The first job
    is not counted: it pays for what the others reuse (a first render compiles the templates).
    Workers forked then inherit what the jobs done here loaded."""
    done, counted, spent = 0, 0, 0.0
    pool_possible = True
    while done < len(jobs):
        if spent >= PROBE_SECONDS:  # a stretch of jobs timed (none, without a probe)
            slow = counted == 0 or spent / counted >= WORKER_JOB_SECONDS
            if slow and pool_possible:
                pool = worker_pool(len(jobs) - done)
                if pool is not None:
                    yield from in_pool(pool, jobs[done:])
                    return
                pool_possible = False  # (fewer jobs are left each time)
            counted, spent = 0, 0.0
        started = time.perf_counter()
        answer = here(jobs[done])
        if done:
            spent += time.perf_counter() - started
            counted += 1
        done += 1
        yield answer


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
