"""Processes that register at the same time, for the registry tests of both backends."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping

from tests.conftest import PROJECT

# Registers (name, address) pairs read as JSON from stdin, printing one line per acknowledged
# registration.
WORKER = """
import json, sys
from pathlib import Path
from compiler.registry.base import Candidate, open_registry
registry = open_registry(sys.argv[1], Path("."), plain_http=True)
for name, address in json.loads(sys.stdin.read()):
    result = registry.register(Candidate(name, address, {"name": name}))
    print(json.dumps([name, address, result.record.version]), flush=True)
"""

Pair = tuple[str, str]


def address(number: int) -> str:
    return f"sha256:{number:064x}"


def start(url: str, pairs: list[Pair]) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, url],
        cwd=PROJECT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None
    worker.stdin.write(json.dumps(pairs))
    worker.stdin.close()
    worker.stdin = None  # communicate() must not flush it again
    return worker


def acknowledged(output: str) -> Iterable[tuple[Pair, int]]:
    """What a worker printed in full (a line cut by a kill was never acknowledged)."""
    for line in output.splitlines():
        if line.endswith("]"):
            name, digest, version = json.loads(line)
            yield (name, digest), version


def answers(workers: list[subprocess.Popen[str]]) -> dict[Pair, set[int]]:
    """Every version each (name, address) was given, once all workers exited cleanly."""
    given: dict[Pair, set[int]] = {}
    for worker in workers:
        out, errors = worker.communicate(timeout=600)
        assert worker.returncode == 0, errors
        for pair, version in acknowledged(out):
            given.setdefault(pair, set()).add(version)
    return given


def assert_contiguous(stored: Mapping[Pair, int]) -> None:
    """Each name's versions are 1..n: none skipped or duplicated."""
    for name in {name for name, _ in stored}:
        versions = sorted(v for (n, _), v in stored.items() if n == name)
        assert versions == list(range(1, len(versions) + 1)), name
