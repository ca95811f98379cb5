"""Benchmark: the embedded SQLite registry.

Times, in the same run:

* registrations per second, one process, and 8 processes at once on one registry (each a
  `BEGIN IMMEDIATE` transaction with `synchronous=FULL`);
* `envc list` and `envc show` on a registry holding 10,000 versions, against the floor: a Python
  interpreter starting and running the same SELECT with the sqlite3 module.

    .venv/bin/python benchmarks/registry.py [--registrations 2000] [--versions 10000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_envc, median_seconds

PROJECT = Path(__file__).resolve().parent.parent
ENVC = str(Path(sys.executable).parent / "envc")
WORKER = """
import sys, time
from pathlib import Path
from compiler.registry import Candidate
from compiler.registry_sqlite import SqliteRegistry
registry = SqliteRegistry(Path(sys.argv[1]))
worker, count = int(sys.argv[2]), int(sys.argv[3])
for index in range(count):
    address = f"sha256:{worker:032x}{index:032x}"
    registry.register(Candidate(f"env-{index % 50:02d}", address, {"name": "x"}))
"""
FLOOR = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT * FROM versions ORDER BY name, version").fetchall()
"""


def registrations_per_second(database: Path, workers: int, each: int) -> float:
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(database), str(w), str(each)], cwd=PROJECT
        )
        for w in range(workers)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("a registering worker failed")
    return workers * each / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-registry-bench-"))
    try:
        sequential = registrations_per_second(work / "one.db", 1, args.registrations)
        concurrent = registrations_per_second(work / "eight.db", 8, args.registrations // 8)
        big = work / "big.db"
        registrations_per_second(big, 1, args.versions)
        registry = ["--registry", f"sqlite:///{big}", "--repo", str(PROJECT)]
        floor = median_seconds([sys.executable, "-c", FLOOR, str(big)], work, args.repeat)
        listed = median_seconds([ENVC, "list", "--format", "json", *registry], work, args.repeat)
        shown = median_seconds([ENVC, "show", "env-07@150", *registry], work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("registrations/s, 1 process", f"{sequential:8.0f}"),
        ("registrations/s, 8 processes", f"{concurrent:8.0f}"),
        ("floor: python + SELECT all versions", f"{floor * 1000:8.1f} ms"),
        (f"envc list ({args.versions} versions, json)", f"{listed * 1000:8.1f} ms"),
        ("envc show NAME@VERSION", f"{shown * 1000:8.1f} ms"),
    ]
    for label, figure in rows:
        print(f"  {label:<40} {figure}")
    print(f"\n  list / floor: {listed / floor:.1f}x   show / floor: {shown / floor:.1f}x")


if __name__ == "__main__":
    main()
