"""Benchmark: `envc install` from a warm package cache against its floor, and a no-op install
against `envc lock --check`.

The bundled sklearn-cpu environment's packages are not on this machine (the offline snapshot
holds repodata only), so the benchmark builds an environment of the same shape: a local channel
of N conda packages (a stand-in `python`, and small module packages) indexed by py-rattler's
indexer, and M wheels in a folder; it locks it with envc, installs once to warm the package
cache, then times, in the same run:

* `envc install NAME --prefix <fresh>` (stale-lock check, hash checks, py-rattler, uv, the
  variables, the record),
* the floor: one Python process calling py-rattler's `install` on the same records and then
  `uv pip install --require-hashes --no-deps -r <the hashed requirements>`, as envc does,
* `envc install` again into the installed prefix (a no-op), against `envc lock --check NAME`.

    .venv/bin/python benchmarks/install.py [--conda 150] [--wheels 50]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_envc, median_seconds, run_once

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from compiler.lock.pip import write_wheel  # noqa: E402
from tests.condapkg import index_channel, module_package, python_package  # noqa: E402

ENVC = str(Path(sys.executable).parent / "envc")
FLOOR = """
import asyncio, subprocess, sys
from pathlib import Path
from rattler import LockFile, install
from rattler.platform import Platform
from uv import find_uv_bin
lock, prefix, cache, channel, wheels, requirements = sys.argv[1:7]
environment = LockFile.from_path(Path(lock)).default_environment()
platform = next(p for p in environment.platforms() if p.name == "linux-64")
records = environment.conda_repodata_records_for_platform(platform)
for record in records:
    record.url = record.url.replace("https://conda.anaconda.org/conda-forge", channel)
asyncio.run(install(records, prefix, cache_dir=Path(cache), platform=Platform("linux-64"),
                    show_progress=False))
subprocess.run([find_uv_bin(), "pip", "install", f"--python={prefix}/bin/python",
                "--require-hashes", "--no-deps", "-r", requirements, f"--find-links={wheels}",
                "--no-index", "--quiet", f"--cache-dir={cache}/../uv"], check=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conda", type=int, default=150)
    parser.add_argument("--wheels", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    compile_envc(PROJECT)
    with tempfile.TemporaryDirectory(prefix="envc-bench-install-") as scratch:
        work = Path(scratch)
        channel, wheels = work / "channel", work / "wheels"
        python_package(channel)
        names = [f"mod{index:03d}" for index in range(arguments.conda - 1)]
        for name in names:
            module_package(channel, name, "1.0", depends=["python"])
        index_channel(channel)
        wheels.mkdir()
        pip = [f"wheel{index:03d}" for index in range(arguments.wheels)]
        for name in pip:
            write_wheel(wheels, name, "1.0")
        repo = work / "repo"
        (repo / "environments/app").mkdir(parents=True)
        (repo / "environments/app/env.yaml").write_text(
            "schema_version: 1\nname: app\nplatforms: [linux-64]\n"
            f"python: '{sys.version_info.major}.{sys.version_info.minor}'\n"
            f"conda: [{', '.join(names)}]\npip: [{', '.join(pip)}]\n"
            "variables:\n  MODE: benchmark\n"
        )
        (repo / "envc.yaml").write_text(
            f"config_version: 1\nmirrors:\n  conda-forge: {channel.as_uri()}\n"
            f"pip:\n  find_links: [{wheels}]\n"
        )
        seconds, code, err = run_once([ENVC, "lock"], repo)
        assert code == 0, err
        seconds, code, err = run_once(
            [ENVC, "install", "app", "--prefix", str(work / "warm")], repo
        )
        assert code == 0, err
        print(f"  environment: {arguments.conda} conda packages, {arguments.wheels} wheels")
        print(f"  first install (cold package cache)            {seconds * 1000:9.1f} ms")

        fresh = iter(range(1000))

        def fresh_prefix() -> str:
            target = work / f"p{next(fresh)}"
            shutil.rmtree(target, ignore_errors=True)
            return str(target)

        envc_times, floor_times = [], []
        cache = repo / ".envc/cache/pkgs"
        lock = repo / "environments/app/conda-lock.yml"
        requirements = repo / "environments/app/requirements-linux-64.txt"
        for _ in range(arguments.repeat):  # interleaved: the same machine state for both
            started = time.perf_counter()
            _, code, err = run_once([ENVC, "install", "app", "--prefix", fresh_prefix()], repo)
            envc_times.append(time.perf_counter() - started)
            assert code == 0, err
            started = time.perf_counter()
            floor_command = [sys.executable, "-c", FLOOR, str(lock), fresh_prefix(), str(cache)]
            _, code, err = run_once(
                [*floor_command, channel.as_uri(), str(wheels), str(requirements)], repo
            )
            floor_times.append(time.perf_counter() - started)
            assert code == 0, err
        envc_install, floor = (
            sorted(envc_times)[len(envc_times) // 2],
            sorted(floor_times)[len(floor_times) // 2],
        )
        noop = median_seconds(
            [ENVC, "install", "app", "--prefix", str(work / "warm")], repo, arguments.repeat
        )
        check = median_seconds([ENVC, "lock", "--check", "app"], repo, arguments.repeat)
        print(f"  floor: py-rattler install + uv, warm cache     {floor * 1000:9.1f} ms")
        print(f"  envc install, warm cache                      {envc_install * 1000:9.1f} ms")
        print(f"  envc install again (nothing to do)            {noop * 1000:9.1f} ms")
        print(f"  envc lock --check app                         {check * 1000:9.1f} ms")
        print()
        print(f"  envc install / floor:             {envc_install / floor:5.2f}x")
        print(f"  no-op install / lock --check:     {noop / check:5.2f}x")


if __name__ == "__main__":
    main()
