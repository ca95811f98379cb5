"""Progress of long steps (solving, building, the CI job's steps).

Stages report through a `Progress` callback: `progress(item, done, total)` says that work on
`item` starts and `done` of `total` are finished. The CLI picks how it is shown: a live bar on
a terminal (rich, on standard error, gone when the step ends), a plain line per item in CI logs
(no terminal), nothing with `--quiet`. Stages never print themselves.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

Progress = Callable[[str, int, int], None]


def no_progress(item: str, done: int, total: int) -> None:
    """The default: report nothing."""


class Reporter:
    """A `Progress` for one command: use it as a context manager around the work."""

    def __init__(self, what: str, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.what, self.quiet = what, quiet
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._live: Any = None  # rich's Progress, on a terminal
        self._task: Any = None

    def __enter__(self) -> Reporter:
        if not self.quiet and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._live = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()

    def __call__(self, item: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._live is None:
            elapsed = time.monotonic() - self.started
            self.stream.write(
                f"envc {self.what}: [{done + 1}/{total}] {item} (started at {elapsed:.1f} s)\n"
            )
            self.stream.flush()
            return
        description = f"{self.what}: {item}"
        if self._task is None:
            self._task = self._live.add_task(description, total=total)
        self._live.update(self._task, description=description, completed=done, total=total)
