"""side_by_side: several keys at once, each key's work in order, errors in order."""

from __future__ import annotations

import threading
from typing import ClassVar

import pytest

from compiler._util.threads import side_by_side


class Connection:
    opened: ClassVar[list[Connection]] = []

    def __init__(self) -> None:
        self.closed = False
        self.thread = threading.get_ident()
        Connection.opened.append(self)

    def close(self) -> None:
        self.closed = True


def test_each_key_in_order_a_failure_ends_its_key_and_the_first_error_is_raised() -> None:
    Connection.opened.clear()
    keys = ["a", "b", "a", "c", "b", "a"]
    done: list[int] = []

    def act(connection: Connection, index: int) -> str:
        assert connection.thread == threading.get_ident()  # the thread's own connection
        if index in (3, 1):
            raise ValueError(f"index {index}")
        done.append(index)
        return f"{keys[index]}{index}"

    with pytest.raises(ValueError, match="index 1"):  # the first by index, not by time
        side_by_side(keys, act, Connection, 3)
    assert sorted(done) == [0, 2, 5]  # b's 4 is not tried after its 1 failed
    assert [i for i in done if keys[i] == "a"] == [0, 2, 5]
    assert Connection.opened and all(c.closed for c in Connection.opened)
    answers = side_by_side(["x", "y", "x"], lambda c, i: i * 10, Connection, 2)
    assert answers == [0, 10, 20]
