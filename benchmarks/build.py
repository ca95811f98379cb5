"""Benchmark: `envc build` of N small environments with buildah, one at a time vs in parallel,
and a rebuild after a variable change (the layers of unchanged steps reused) vs --no-cache.

Offline: the base image is busybox-static in a scratch image, in a throwaway buildah storage
(vfs, chroot isolation, as the tests use). Each environment's Dockerfile runs two steps that take
about a second, so the figures show what parallel builds and layer reuse save, not buildah's
start-up cost.

    .venv/bin/python benchmarks/build.py [--environments 8] [--jobs 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import run_once

ENVC = str(Path(sys.executable).parent / "envc")
IMAGE = "localhost/envc-bench/busybox:1"
MANIFEST = (
    "schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
    "  interpreter_path: /bin/sh\ndocker:\n  base_dockerfile: Dockerfile\n"
)
DOCKERFILE = (
    f"FROM {IMAGE}\nRUN sleep 1 && echo {{n}} > /step1.txt\nRUN sleep 1 && echo done > /step2\n"
)


def _buildah(*args: str) -> str:
    result = subprocess.run(["buildah", *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _base_image(folder: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None or shutil.which("buildah") is None:
        raise SystemExit(
            "needs buildah and busybox-static (apt-get install buildah busybox-static)"
        )
    rootfs = folder / "rootfs" / "bin"
    rootfs.mkdir(parents=True)
    shutil.copy(busybox, rootfs / "busybox")
    for tool in ("sh", "echo", "sleep"):
        (rootfs / tool).symlink_to("busybox")
    container = _buildah("from", "scratch")
    _buildah("copy", container, str(folder / "rootfs"), "/")
    _buildah("config", "--env", "PATH=/bin", container)
    _buildah("commit", "--quiet", container, IMAGE)
    _buildah("rm", container)


def _build(root: Path, *options: str) -> float:
    seconds, code, errors = run_once([ENVC, "build", *options], root)
    if code != 0:
        raise SystemExit(f"envc build {' '.join(options)} exited {code}: {errors}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=4)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="envc-bench-build-") as scratch:
        folder = Path(scratch)
        storage = folder / "storage.conf"
        storage.write_text(
            f'[storage]\ndriver = "vfs"\nrunroot = "{folder}/run"\ngraphroot = "{folder}/graph"\n'
        )
        os.environ.update(CONTAINERS_STORAGE_CONF=str(storage), BUILDAH_ISOLATION="chroot")
        _base_image(folder)
        root = folder / "repo"
        for n in range(arguments.environments):
            environment = root / "environments" / f"env{n}"
            environment.mkdir(parents=True)
            (environment / "env.yaml").write_text(MANIFEST.format(name=f"env{n}"))
            (environment / "Dockerfile").write_text(DOCKERFILE.format(n=n))
        count = arguments.environments
        serial = _build(root, "--jobs", "1", "--no-cache")
        parallel = _build(root, "--jobs", str(arguments.jobs), "--no-cache")
        print(
            f"envc build, {count} environments (2 one-second steps each), on {os.cpu_count()} CPUs"
        )
        print(f"  --jobs 1:  {serial:6.1f} s")
        print(f"  --jobs {arguments.jobs}:  {parallel:6.1f} s   ({serial / parallel:.1f}x faster)")
        manifest = root / "environments/env0/env.yaml"
        _build(root, "env0")  # layers recorded
        manifest.write_text(manifest.read_text() + "variables:\n  CHANGED: '1'\n")
        cached = _build(root, "env0")
        manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
        uncached = _build(root, "env0", "--no-cache")
        print("rebuild of one environment after a variable change")
        print(f"  cached layers: {cached:6.1f} s")
        print(f"  --no-cache:    {uncached:6.1f} s   ({uncached / cached:.1f}x the cached rebuild)")


if __name__ == "__main__":
    main()
