"""Benchmark: `envc render` of thousands of locked environments against bare Jinja.

Builds a repository of N environments sharing one lock (python 3.12, numpy, pip; solved once
against tests/data/channels), then times, in the same run:

* `envc render` of all of them (validation, lock freshness, rendering, hashing, writing),
* the floors: one Python process rendering the same template with the same kind of data N times
  with a plain jinja2.Environment, without writing; and the same writing the tree envc writes
  (Dockerfile, the lockfile read and hashed, envc-build.json) per environment.

    .venv/bin/python benchmarks/render.py [--environments 5000]

and how much memory envc's process takes at its peak (it must not grow with the repository), and
`envc render` again with nothing changed, against reading every file of build/ (the first such
run re-renders the outputs written in the last 2 s, which their stat cannot vouch for yet; it is
shown apart).

Targets (issue #19): within 2x of the render + write floor; unchanged within 2x of reading
build/; peak memory flat, at most 150 MB at 50,000 environments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_envc, median_seconds, peak_megabytes

PROJECT = Path(__file__).resolve().parent.parent
CHANNEL = (PROJECT / "tests" / "data" / "channels" / "conda-forge").as_uri()
ENVC = str(Path(sys.executable).parent / "envc")
MANIFEST = (
    "schema_version: 1\nname: {name}\npython: '3.12'\nconda: [numpy, pip]\n"
    "variables:\n  OMP_NUM_THREADS: '4'\n"
)
FLOOR = """
import hashlib, json, sys, jinja2, pathlib
write = sys.argv[1] == "write"
environment = jinja2.Environment(loader=jinja2.FileSystemLoader("{templates}"),
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
template = environment.get_template("Dockerfile.conda.j2")
for index in range({count}):
    name = f"env-{{index:05d}}"
    text = template.render(header="# " + name, base_image="debian:bookworm-slim",
                           micromamba_image="mambaorg/micromamba:2.0.5",
                           conda_lock="conda-linux-64.lock", pip_lock=None,
                           variables=[("OMP_NUM_THREADS", '"4"')],
                           labels=[('"dev.envc.environment"', f'"{{name}}"')])
    if write:
        # The tree envc writes: the Dockerfile, the lockfile it installs (read and hashed, as
        # the content address needs), and envc-build.json.
        lock = (pathlib.Path("environments") / name / "conda-linux-64.lock").read_bytes()
        folder = pathlib.Path(sys.argv[2]) / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(text)
        (folder / "conda-linux-64.lock").write_bytes(lock)
        digest = hashlib.sha256(lock + text.encode()).hexdigest()
        (folder / "envc-build.json").write_text(json.dumps({{"content_address": digest}}))
"""


READ_BUILD = """
import os
for folder, _, files in os.walk("{out}"):
    for name in files:
        with open(os.path.join(folder, name), "rb") as handle:
            handle.read()
"""
RENDER_ENV = {**os.environ, "ENVC_MIRRORS": f"conda-forge={CHANNEL}"}


def timed(command: list[str], cwd: Path, repeat: int, warmup: bool = False) -> float:
    return median_seconds(command, cwd, repeat, env=RENDER_ENV, warmup=warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-render-bench-"))
    try:
        source = work / "environments" / "env-00000"
        source.mkdir(parents=True)
        (source / "env.yaml").write_text(MANIFEST.format(name="env-00000"))
        timed([ENVC, "lock"], work, 1)
        for index in range(1, args.environments):
            target = work / "environments" / f"env-{index:05d}"
            shutil.copytree(source, target)
            (target / "env.yaml").write_text(MANIFEST.format(name=f"env-{index:05d}"))
        time.sleep(2)  # past the cache's racy-timestamp window
        floor_code = FLOOR.format(templates=PROJECT / "templates", count=args.environments)
        bare = timed([sys.executable, "-c", floor_code, "bare", "-"], work, args.repeat)
        # Every timed write goes to a folder that never existed, the floor's as envc's, and
        # nothing is deleted until the end: on a file system mounted with `discard`, writes
        # after a large delete pay for it (seen here: 5x the system time).
        written, envc, peaks = [], [], []
        for run in range(args.repeat):
            floor_run = [sys.executable, "-c", floor_code, "write", f"floor-{run}"]
            written.append(median_seconds(floor_run, work, 1))
            out = f"build-{run}"
            seconds, peak = peak_megabytes([ENVC, "render", "--out", out], work, RENDER_ENV)
            envc.append(seconds)
            peaks.append(peak)
        # Outputs younger than the racy-timestamp window are not vouched for by their stat:
        # the first run after a render renders those again (and remembers them).
        time.sleep(2)
        first_unchanged = timed([ENVC, "render", "--out", out], work, 1)
        unchanged = timed([ENVC, "render", "--out", out], work, args.repeat)
        read_build = timed([sys.executable, "-c", READ_BUILD.format(out=out)], work, args.repeat)
        _, floor_peak = peak_megabytes([sys.executable, "-c", floor_code, "write", "floor-x"], work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (f"floor: bare Jinja render x{args.environments}", bare),
        (f"floor: Jinja render + write x{args.environments}", statistics.median(written)),
        (f"envc render, {args.environments} environments", statistics.median(envc)),
        ("floor: read every file of build/", read_build),
        ("envc render, nothing changed, first run after", first_unchanged),
        (f"envc render, nothing changed ({args.environments})", unchanged),
    ]
    for label, seconds in rows:
        print(f"  {label:<46} {seconds * 1000:9.1f} ms")
    print(f"\n  envc render / bare Jinja floor:       {rows[2][1] / bare:.1f}x")
    print(f"  envc render / render + write floor:   {rows[2][1] / rows[1][1]:.1f}x  (target <= 2x)")
    print(f"  unchanged / reading build/:           {unchanged / read_build:.1f}x  (target <= 2x)")
    print(
        f"  peak memory: envc render {max(peaks):.0f} MB, floor {floor_peak:.0f} MB "
        "(target: flat, <= 150 MB at 50,000)"
    )


if __name__ == "__main__":
    main()
