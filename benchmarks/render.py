"""Benchmark: `envc render` of thousands of locked environments against bare Jinja.

Builds a repository of N environments sharing one lock (python 3.12, numpy, pip; solved once
against tests/data/channels), then times, in the same run:

* `envc render` of all of them (validation, lock freshness, rendering, hashing, writing),
* the floors: one Python process rendering the same template with the same kind of data N times
  with a plain jinja2.Environment, without writing; the same writing the tree envc writes
  (Dockerfile, both lockfiles read and hashed as the content address needs them, the one the
  image installs copied, envc-build.json, and the SBOM: the bytes envc wrote for the first
  environment, its name replaced); and, as reported before envc wrote SBOMs, that tree without
  conda-lock.yml and the SBOM.

    .venv/bin/python benchmarks/render.py [--environments 5000] [--work DIR]

(--work: where the repository and the outputs go, the system's temporary folder by default. On
a virtual machine's disk the write floor alone can move from 1 to 9 s between runs; a memory
file system, /dev/shm, shows what envc itself costs over the floor's writes.)

and how much memory envc's process takes at its peak (it must not grow with the repository), and
`envc render` again with nothing changed, against reading every file of build/ (the first such
run reads back the outputs written by the render before it, whose stat could not vouch for them
yet, and learns their stat; it is shown apart).

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
mode = sys.argv[1]
environment = jinja2.Environment(loader=jinja2.FileSystemLoader("{templates}"),
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
template = environment.get_template("Dockerfile.conda.j2")
sbom = pathlib.Path(sys.argv[3]).read_text() if mode == "tree" else ""
for index in range({count}):
    name = f"env-{{index:05d}}"
    text = template.render(header="# " + name, base_image="debian:bookworm-slim",
                           micromamba_image="mambaorg/micromamba:2.0.5",
                           conda_lock="conda-linux-64.lock", pip_lock=None,
                           variables=[("OMP_NUM_THREADS", '"4"')],
                           labels=[('"dev.envc.environment"', f'"{{name}}"')])
    if mode == "bare":
        continue
    source = pathlib.Path("environments") / name
    lock = (source / "conda-linux-64.lock").read_bytes()
    digest = hashlib.sha256(lock + text.encode())
    folder = pathlib.Path(sys.argv[2]) / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Dockerfile").write_text(text)
    (folder / "conda-linux-64.lock").write_bytes(lock)
    if mode == "tree":
        digest.update((source / "conda-lock.yml").read_bytes())
        (folder / "sbom.cdx.json").write_text(sbom.replace("env-00000", name))
    (folder / "envc-build.json").write_text(json.dumps({{"content_address": digest.hexdigest()}}))
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
    parser.add_argument("--work", type=Path, default=None, help="where to work (a disk)")
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-render-bench-", dir=args.work))
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
        timed([ENVC, "render", "env-00000", "--out", "sample"], work, 1)
        sample_sbom = str(work / "sample" / "env-00000" / "sbom.cdx.json")
        # Every timed write goes to a folder that never existed, the floor's as envc's, and
        # nothing is deleted until the end: on a file system mounted with `discard`, writes
        # after a large delete pay for it (seen here: 5x the system time).
        written, without_sbom, envc, peaks = [], [], [], []
        for run in range(args.repeat):
            floor_run = [sys.executable, "-c", floor_code, "tree", f"floor-{run}", sample_sbom]
            written.append(median_seconds(floor_run, work, 1))
            floor_run = [sys.executable, "-c", floor_code, "write", f"floor-old-{run}"]
            without_sbom.append(median_seconds(floor_run, work, 1))
            out = f"build-{run}"
            seconds, peak = peak_megabytes([ENVC, "render", "--out", out], work, RENDER_ENV)
            envc.append(seconds)
            peaks.append(peak)
        # Outputs younger than the racy-timestamp window are not vouched for by their stat:
        # the first run after a render compares their content (and learns their stat).
        time.sleep(2)
        first_unchanged = timed([ENVC, "render", "--out", out], work, 1)
        unchanged = timed([ENVC, "render", "--out", out], work, args.repeat)
        read_build = timed([sys.executable, "-c", READ_BUILD.format(out=out)], work, args.repeat)
        _, floor_peak = peak_megabytes(
            [sys.executable, "-c", floor_code, "tree", "floor-x", sample_sbom], work
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (f"floor: bare Jinja render x{args.environments}", bare),
        (f"floor: Jinja render + write x{args.environments}", statistics.median(written)),
        ("floor: the same without the SBOM", statistics.median(without_sbom)),
        (f"envc render, {args.environments} environments", statistics.median(envc)),
        ("floor: read every file of build/", read_build),
        ("envc render, nothing changed, first run after", first_unchanged),
        (f"envc render, nothing changed ({args.environments})", unchanged),
    ]
    for label, seconds in rows:
        print(f"  {label:<46} {seconds * 1000:9.1f} ms")
    rendered = rows[3][1]
    print(f"\n  envc render / bare Jinja floor:       {rendered / bare:.1f}x")
    print(f"  envc render / render + write floor:   {rendered / rows[1][1]:.1f}x  (target <= 2x)")
    print(f"  envc render / that floor, no SBOM:    {rendered / rows[2][1]:.1f}x")
    print(f"  unchanged / reading build/:           {unchanged / read_build:.1f}x  (target <= 2x)")
    print(
        f"  peak memory: envc render {max(peaks):.0f} MB, floor {floor_peak:.0f} MB "
        "(target: flat, <= 150 MB at 50,000)"
    )


if __name__ == "__main__":
    main()
