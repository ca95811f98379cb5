"""Benchmark: how envc's costs grow, each benchmark run at 500, 5,000 and 50,000 environments.

Runs validate.py, render.py, plan.py and registry.py (each generates its own corpus) at every
size, then prints one table per benchmark: its rows side by side, a column per size, and the
growth from one size to the next (10x more environments: a time growing "10.0x" is linear,
less is better; a rate per second that stays "1.0x" is linear, more is better).
Rows that do not depend on the size (one file, python start) stay flat. Large sizes repeat
fewer times (a 50,000-environment render takes minutes).

    .venv/bin/python benchmarks/scale.py [--sizes 500,5000,50000] [--only render,plan]
"""

from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# A row as the benchmarks print it: two spaces, a label, a figure in ms or per second.
_ROW = re.compile(r"^  (?P<label>\S.*?)\s{2,}(?P<value>[\d.]+)(?: ms)?(?:\s|$)")


def _arguments(benchmark: str, size: int) -> list[str]:
    """The benchmark's own options for `size` environments."""
    large = size >= 20000
    return {
        "validate": ["--count", str(size), "--repeat", "1" if large else "3"],
        "render": ["--environments", str(size), "--repeat", "1" if large else "3"],
        "plan": ["--environments", str(size), "--repeat", "1" if large else "3"],
        "registry": [
            "--environments", str(size), "--versions", str(size), "--repeat", "3",
            "--registrations", str(min(size, 2000)),
        ],
    }[benchmark]  # fmt: skip


def _rows(output: str, size: int) -> tuple[dict[str, float], list[str]]:
    """Label (with the size written as N) -> figure, of every row a benchmark printed; and the
    lines that are not rows (peak memory, ratios with their targets)."""
    rows, others = {}, []
    for line in output.splitlines():
        match = _ROW.match(line)
        if match:
            label = re.sub(rf"(?<![\d,])({size}|{size:,})(?![\d,])", "N", match["label"])
            rows[label] = float(match["value"])
        elif line.strip():
            others.append(line.strip())
    return rows, others


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,5000,50000")
    parser.add_argument("--only", default="validate,render,plan,registry")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    for benchmark in args.only.split(","):
        figures: list[dict[str, float]] = []
        notes: list[str] = []
        for size in sizes:
            command = [sys.executable, str(HERE / f"{benchmark}.py"), *_arguments(benchmark, size)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{benchmark} at {size}: failed\n{done.stderr[-2000:]}")
            rows, others = _rows(done.stdout, size)
            figures.append(rows)
            notes += [f"N = {size:,}: {line}" for line in others]
        labels = list(dict.fromkeys(label for rows in figures for label in rows))
        print(f"\n{benchmark}.py (ms, or per second where the label says so)")
        header = "".join(f"{size:>12,}" for size in sizes)
        sizes_paired = itertools.pairwise(sizes)
        growth = "".join(f"{f'x{later // earlier}':>9}" for earlier, later in sizes_paired)
        print(f"  {'N =':<44}{header}{growth}")
        for label in labels:
            values = [figure.get(label) for figure in figures]
            cells = "".join(f"{v:>12.1f}" if v is not None else f"{'-':>12}" for v in values)
            steps = "".join(
                f"{later / earlier:>8.1f}x" if earlier and later else f"{'-':>9}"
                for earlier, later in itertools.pairwise(values)
            )
            print(f"  {label[:43]:<44}{cells}{steps}")
        print(*(f"  {note}" for note in notes), sep="\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
