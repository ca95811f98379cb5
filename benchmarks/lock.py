"""Benchmark: locking, the staleness gate, and the py-rattler exit crash.

Against the real conda-forge metadata in tests/data/channels (served as a mirror of conda-forge),
in one run:

* a cold solve of python 3.12, numpy, pandas, scikit-learn and pip on four platforms (`envc lock`
  in a fresh repository, empty solver cache);
* `envc lock --check` over 1,000 locked environments, against the floor of a Python process that
  reads and hashes the same lockfiles: on a machine that verified them before, and on a fresh
  one (every lock's contents verified); and a no-op `envc lock` over the same (which must solve
  nothing);
* the exit crash: N processes that solve with py-rattler in-process and exit normally, against
  N `envc lock --force` runs (which solve in a child that leaves with os._exit).

    .venv/bin/python benchmarks/lock.py [--environments 1000] [--crash-runs 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from timing import compile_envc, median_seconds, run_once

PROJECT = Path(__file__).resolve().parent.parent
CHANNEL = (PROJECT / "tests" / "data" / "channels" / "conda-forge").as_uri()
ENVC = str(Path(sys.executable).parent / "envc")
MANIFEST = (
    "schema_version: 1\nname: {name}\npython: '3.12'\n"
    "conda: [numpy, pandas, scikit-learn, pip]\n"
    "platforms: [linux-64, osx-64, osx-arm64, win-64]\n"
)
IN_PROCESS_SOLVE = f"""
import asyncio
from rattler import solve, GenericVirtualPackage, PackageName, Version, BuildString
vp = [GenericVirtualPackage(PackageName(n), Version(v), BuildString("0"))
      for n, v in (("__unix", "0"), ("__glibc", "2.28"))]
asyncio.run(solve(["{CHANNEL}"], ["python 3.12.*", "numpy", "pip"], platforms=["linux-64",
                  "noarch"], virtual_packages=vp))
"""


MIRROR_ENV = {**os.environ, "ENVC_MIRRORS": f"conda-forge={CHANNEL}"}


def exit_code(command: list[str], cwd: Path) -> int:
    return run_once(command, cwd, MIRROR_ENV)[1]


def median(command: list[str], cwd: Path, repeat: int) -> float:
    return median_seconds(command, cwd, repeat, env=MIRROR_ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--crash-runs", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-lock-bench-"))
    try:
        cold = []
        for attempt in range(args.repeat):
            repo = work / f"cold-{attempt}"
            (repo / "environments" / "ml").mkdir(parents=True)
            (repo / "environments" / "ml" / "env.yaml").write_text(MANIFEST.format(name="ml"))
            seconds, code, _ = run_once([ENVC, "lock"], repo, MIRROR_ENV)
            assert code == 0
            cold.append(seconds)
        many = work / "many"
        source = work / "cold-0" / "environments" / "ml"
        for index in range(args.environments):
            target = many / "environments" / f"env-{index:04d}"
            shutil.copytree(source, target)
            (target / "env.yaml").write_text(MANIFEST.format(name=f"env-{index:04d}"))
            for lockfile in target.iterdir():  # each lock names its environment, as envc's do
                if lockfile.name != "env.yaml":
                    text = lockfile.read_text().replace(
                        "envc lock ml", f"envc lock env-{index:04d}"
                    )
                    lockfile.write_text(text)
        floor_code = (
            "import hashlib, pathlib\n"
            "for p in sorted(pathlib.Path('environments').glob('*/*')):\n"
            "    if p.name == 'env.yaml': continue\n"
            "    hashlib.sha256(p.read_bytes()).digest()\n"
        )
        rows = [
            ("cold solve, 4 platforms (envc lock)", statistics.median(cold)),
            (
                f"floor: read + sha256 lockfiles of {args.environments}",
                median([sys.executable, "-c", floor_code], many, args.repeat),
            ),
            (
                f"envc lock --check ({args.environments}), verified",
                median([ENVC, "lock", "--check"], many, args.repeat),
            ),
            (
                f"envc lock --check ({args.environments}), first run",
                statistics.median(
                    run_once(
                        [ENVC, "lock", "--check"],
                        many,
                        {**MIRROR_ENV, "XDG_CACHE_HOME": str(work / f"fresh-cache-{attempt}")},
                    )[0]
                    for attempt in range(args.repeat)
                ),
            ),
            (
                f"envc lock, nothing to do ({args.environments})",
                median([ENVC, "lock"], many, args.repeat),
            ),
        ]
        crash_repo = work / "cold-0"
        in_process = sum(
            exit_code([sys.executable, "-c", IN_PROCESS_SOLVE], work) != 0
            for _ in range(args.crash_runs)
        )
        through_envc = sum(
            exit_code([ENVC, "lock", "--force"], crash_repo) != 0 for _ in range(args.crash_runs)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for label, seconds in rows:
        print(f"  {label:<44} {seconds * 1000:9.1f} ms")
    print(
        f"\n  envc lock --check / floor: {rows[2][1] / rows[1][1]:.1f}x verified, "
        f"{rows[3][1] / rows[1][1]:.1f}x first run (every lock read with py-rattler)"
    )
    print(f"  failed exits, in-process rattler solve: {in_process}/{args.crash_runs}")
    print(f"  failed exits, envc lock --force:        {through_envc}/{args.crash_runs}")


if __name__ == "__main__":
    main()
