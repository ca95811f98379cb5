"""Work on several keys at once, in threads: for what waits on a server, not on the CPU."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

T = TypeVar("T")


class Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=Closable)


def side_by_side(
    keys: Sequence[str], act: Callable[[C, int], T], connect: Callable[[], C], at_once: int
) -> list[T]:
    """`act(connection, i)` for each index of `keys`, `at_once` keys at a time, each thread on a
    connection of its own (`connect`, closed at the end); a key's indexes in their order, the
    first to fail ending its key's. The answers in order; the first error (by index) is raised
    once the others are done."""
    by_key: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        by_key.setdefault(key, []).append(index)
    answers: dict[int, T] = {}
    errors: dict[int, Exception] = {}
    connections: list[C] = []
    local = threading.local()

    def each_of(indexes: list[int]) -> None:
        if not hasattr(local, "connection"):  # opened once per thread
            local.connection = connect()
            connections.append(local.connection)
        for index in indexes:
            try:
                answers[index] = act(local.connection, index)
            except Exception as exc:  # raised below, in order
                errors[index] = exc
                return

    pool = ThreadPoolExecutor(at_once, thread_name_prefix="envc")
    try:
        for future in [pool.submit(each_of, indexes) for indexes in by_key.values()]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for connection in connections:
            connection.close()
    if errors:
        raise errors[min(errors)]
    return [answers[index] for index in range(len(keys))]
