"""Benchmark: `envc validate` against check-jsonschema and the floor of reading the files.

Generates a repository of 5,000 varied, valid manifests (extends chains, conda and pip lists,
requirements files, docker and python settings), then times, in the same run:

* envc validate over all of them (YAML + schema + semantic rules, cross-file rules included),
  without envc's cache, as a fresh CI checkout runs it, and again with its cache warm (what
  passed before and did not change is not checked again; cross-file rules always run),
* check-jsonschema over the same files with our schema (schema only),
* the floor: a Python process that reads and hashes every file;

and for one file (as the pre-commit hook runs): envc validate in the bundled environments/
repository, cold (--no-cache) and with its cache warm, check-jsonschema, and `python -c pass`; and
envc validate of one file inside the 5,000-environment repository (the others known by name): as
the hook runs it (`--staged`: the others as git's index holds them, every file staged), with
the names it remembers per blob and without them (a fresh clone's first commit), and against
the working tree with its cache warm and without it.

    .venv/bin/python benchmarks/validate.py [--count 5000] [--repeat 3]

and the peak memory of envc and check-jsonschema over all files.

Targets (issue #19): all files in at most 0.3x check-jsonschema's time and 2x its memory; one
file of the generated repository (the pre-commit hook) in at most 0.5x check-jsonschema's time
(the hook, and the working tree with envc's cache), and 1x without the cache (a fresh clone).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_envc, median_seconds, peak_megabytes

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCHEMA = PROJECT / "schemas" / "manifest.schema.json"

CONDA = [
    "numpy >=1.26",
    "pandas 2.2.*",
    "scikit-learn >=1.5,<1.7",
    "scipy",
    "pip",
    "pyarrow >=17",
    "matplotlib-base",
    "xgboost 2.1.*",
    "lightgbm",
    "polars >=1.0",
    "conda-forge::openssl >=3",
    "pytorch >=2.4 cuda*",
    "cuda-version 12.4.*",
]
PIP = [
    "mlflow-skinny==2.16.2",
    "azureml-mlflow>=1.57; python_version >= '3.9'",
    "requests[socks]>=2.32",
    "fastapi==0.115.0",
    "pydantic>=2,<3",
    "rich",
    "torchmetrics==1.4.2",
    "evaluate @ https://example.com/evaluate-0.4.3-py3-none-any.whl",
]
PLATFORMS = ["linux-64", "linux-aarch64", "osx-64", "osx-arm64", "win-64"]


def manifest(index: int, rng: random.Random, folder: Path) -> str:
    lines = [
        "# yaml-language-server: $schema=../../schemas/manifest.schema.json",
        "schema_version: 1",
        f"name: env-{index:05d}",
        f"description: Generated environment number {index} for the validation benchmark.",
        "tags:",
        f"  owner: team-{index % 37}",
        f"  cost-center: cc{rng.randint(100, 999)}",
    ]
    if index % 10 and index >= 10:
        lines.append(f"extends: env-{index - index % 10:05d}")
    else:
        lines.append(f'python: "3.{rng.randint(9, 13)}"')
        lines += ["channels:", "  - conda-forge"]
    lines.append("conda:")
    lines += [f"  - {spec}" for spec in rng.sample(CONDA, rng.randint(2, 6))]
    # Pins vary between environments, as in real repositories (hundreds of distinct specs).
    lines.append(f"  - python-dateutil >=2.{rng.randint(0, 9)}.{rng.randint(0, 30)}")
    if rng.random() < 0.7:
        lines.append("pip:")
        lines += [f'  - "{spec}"' for spec in rng.sample(PIP, rng.randint(1, 4))]
    if rng.random() < 0.1:
        (folder / "requirements.txt").write_text("\n".join(rng.sample(PIP, 3)) + "\n")
        lines.append("requirements_file: requirements.txt")
    lines.append("platforms:")
    lines += [f"  - {p}" for p in rng.sample(PLATFORMS, rng.randint(1, 3))]
    if rng.random() < 0.3:
        lines += ["docker:", "  compute: gpu", '  cuda: "12.4"']
    elif rng.random() < 0.2:
        lines += ["docker:", "  base_image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"]
    lines += ["variables:", f'  OMP_NUM_THREADS: "{rng.randint(1, 16)}"', '  PYTHONUNBUFFERED: "1"']
    return "\n".join(lines) + "\n"


def generate(root: Path, count: int) -> list[Path]:
    rng = random.Random(20261124)
    files = []
    for index in range(count):
        folder = root / "environments" / f"env-{index:05d}"
        folder.mkdir(parents=True)
        target = folder / "env.yaml"
        target.write_text(manifest(index, rng, folder))
        files.append(target)
    return files


def timed(command: list[str], cwd: Path, repeat: int) -> float:
    """Median wall time of `repeat` runs, after one warm-up run (page cache, envc's cache)."""
    return median_seconds(command, cwd, repeat, warmup=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-one", type=int, default=15)
    args = parser.parse_args()
    envc, cjs, python = str(BIN / "envc"), str(BIN / "check-jsonschema"), sys.executable
    compile_envc(PROJECT)
    workdir = Path(tempfile.mkdtemp(prefix="envc-bench-"))
    try:
        files = generate(workdir, args.count)
        relative = [str(f.relative_to(workdir)) for f in files]
        for command in (["init", "-q"], ["add", "-A"]):  # staged, as at a commit (the hook)
            subprocess.run(["git", *command], cwd=workdir, check=True)
        floor_code = (
            "import hashlib, pathlib, sys\n"
            "for p in sorted(pathlib.Path('environments').rglob('env.yaml')):\n"
            "    hashlib.sha256(p.read_bytes()).digest()\n"
        )
        one = relative[len(relative) // 2 + 3]
        one_here = "environments/sklearn-cpu/env.yaml"
        time.sleep(2)  # let the generated files age past the cache's racy-timestamp window
        rows = [
            (
                "floor: read + sha256 all files",
                timed([python, "-c", floor_code], workdir, args.repeat),
            ),
            (
                "envc validate (all, no cache)",
                timed([envc, "validate", "--no-cache"], workdir, args.repeat),
            ),
            (
                # Unchanged manifests that passed last time are not checked again.
                "envc validate (all, cached)",
                timed([envc, "validate"], workdir, args.repeat),
            ),
            (
                "check-jsonschema (all)",
                timed([cjs, "--schemafile", str(SCHEMA), *relative], workdir, args.repeat),
            ),
            ("python -c pass", timed([python, "-c", "pass"], PROJECT, args.repeat_one)),
            (
                "envc validate (one file, cold)",
                timed([envc, "validate", "--no-cache", one_here], PROJECT, args.repeat_one),
            ),
            (
                "envc validate (one file, cached)",
                timed([envc, "validate", one_here], PROJECT, args.repeat_one),
            ),
            (
                "check-jsonschema (one file)",
                timed([cjs, "--schemafile", str(SCHEMA), one_here], PROJECT, args.repeat_one),
            ),
            (
                f"envc validate (one file of {args.count})",
                timed([envc, "validate", one], workdir, args.repeat),
            ),
            (
                # What the hook runs: the other manifests as git's index holds them.
                f"envc validate --staged (one file of {args.count})",
                timed([envc, "validate", "--staged", one], workdir, args.repeat),
            ),
            (
                # A fresh clone has no .envc/cache: --no-cache reads and writes none.
                f"envc validate (one file of {args.count}, no cache)",
                timed([envc, "validate", "--no-cache", one], workdir, args.repeat),
            ),
            (
                # The hook's first run in a fresh clone: no names remembered per blob.
                f"envc validate --staged (one file of {args.count}, no cache)",
                timed([envc, "validate", "--staged", "--no-cache", one], workdir, args.repeat),
            ),
            (
                f"check-jsonschema (one file of {args.count})",
                timed([cjs, "--schemafile", str(SCHEMA), one], workdir, args.repeat),
            ),
        ]
        _, envc_peak = peak_megabytes([envc, "validate", "--no-cache"], workdir)
        _, cjs_peak = peak_megabytes([cjs, "--schemafile", str(SCHEMA), *relative], workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = dict(rows)
    print(
        f"{args.count} generated manifests, median of {args.repeat} runs "
        f"({args.repeat_one} for one file)\n"
    )
    for label, seconds in rows:
        print(f"  {label:<52} {seconds * 1000:9.1f} ms")
    cjs_all, cjs_one = results["check-jsonschema (all)"], results["check-jsonschema (one file)"]
    envc_all = results["envc validate (all, no cache)"]
    print()
    print(
        f"  envc / check-jsonschema, all files:        {envc_all / cjs_all:.2f}  (target <= 0.30)"
    )
    for label in ("cold", "cached"):
        ratio = results[f"envc validate (one file, {label})"] / cjs_one
        print(f"  envc / check-jsonschema, one file, {label:<6}: {ratio:.2f}  (target <= 0.50)")
    floor = results["floor: read + sha256 all files"]
    print(f"  envc / floor, all files:                   {envc_all / floor:.1f}x")
    cached_all = results["envc validate (all, cached)"]
    print(f"  envc cached / floor, all files:            {cached_all / floor:.1f}x")
    print(f"  envc per file, all files:                  {envc_all / args.count * 1e6:.0f} us")
    print(
        f"  peak memory, all files: envc {envc_peak:.0f} MB, check-jsonschema {cjs_peak:.0f} MB"
        f" ({envc_peak / cjs_peak:.1f}x; target <= 2x)"
    )
    cjs_here = results[f"check-jsonschema (one file of {args.count})"]
    for label, row, target in (
        ("the hook (--staged)", f"envc validate --staged (one file of {args.count})", 0.5),
        ("cached", f"envc validate (one file of {args.count})", 0.5),
        ("no cache", f"envc validate (one file of {args.count}, no cache)", 1.0),
        ("the hook, no cache", f"envc validate --staged (one file of {args.count}, no cache)", 1.0),
    ):
        ratio = results[row] / cjs_here
        print(
            f"  one file in {args.count} envs, {label}: envc / check-jsonschema "
            f"{ratio:.2f}  (target <= {target})"
        )


if __name__ == "__main__":
    main()
