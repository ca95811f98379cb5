"""Benchmark: `envc plan` on a generated repository with a long history, against its floor.

Builds a git repository of N environments (a fifth conda environments sharing one lock, solved
once against tests/data/channels and copied; the rest user-managed) and a history of C commits,
each changing one environment (written with `git fast-import`), plus a branch that overrides
the conda Dockerfile template. Then times, in the same run:

* the floor: a Python interpreter starting, plus `git diff --name-only base head` (with the
  working tree as the head: `git diff --name-only base` and the untracked files too);
* `envc plan` with no change, a one-environment change (last commit), and the shared-template
  change (touches every conda environment), with a warm cache; the same two plans the first time
  (no render remembered: the sides are rendered); the one-environment plan again without the
  cache (every manifest of the base parsed); and the working tree as the head with one manifest
  edited.

    .venv/bin/python benchmarks/plan.py [--environments 5000] [--commits 2000]

Targets (issue #19): no-change and one-environment plans within 2x of the working-tree floor;
the shared-template plan (1,000 environments changed) under 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import compile_envc, median_seconds

PROJECT = Path(__file__).resolve().parent.parent
CHANNEL = (PROJECT / "tests" / "data" / "channels" / "conda-forge").as_uri()
ENVC = str(Path(sys.executable).parent / "envc")
CONDA = "schema_version: 1\nname: {name}\npython: '3.12'\nconda: [numpy, pip]\n"
USER_MANAGED = (
    "schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
    "  interpreter_path: /usr/bin/python3\ndocker:\n  base_image: example.com/runtime:1\n"
    "variables:\n  REVISION: '{revision}'\n"
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@envc.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@envc.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(root: Path, *args: str, input: bytes | None = None) -> None:
    subprocess.run(
        ["git", *args],
        cwd=root,
        check=True,
        input=input,
        env={**os.environ, **GIT_ENV},
        stdout=subprocess.DEVNULL,
    )


def name(index: int) -> str:
    return f"env-{index:05d}"


def build_repository(work: Path, environments: int, commits: int) -> None:
    conda = environments // 5
    source = work / "environments" / name(0)
    source.mkdir(parents=True)
    (source / "env.yaml").write_text(CONDA.format(name=name(0)))
    subprocess.run(
        [ENVC, "--quiet", "lock"],
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "ENVC_MIRRORS": f"conda-forge={CHANNEL}"},
    )
    for index in range(1, environments):
        target = work / "environments" / name(index)
        if index < conda:
            shutil.copytree(source, target)
            (target / "env.yaml").write_text(CONDA.format(name=name(index)))
        else:
            target.mkdir()
            (target / "env.yaml").write_text(USER_MANAGED.format(name=name(index), revision=0))
    (work / ".gitignore").write_text(".envc/\nbuild/\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "environments")
    # One commit per change, each bumping a user-managed environment's variable.
    stream = []
    for number in range(1, commits):
        index = conda + number % (environments - conda)
        body = USER_MANAGED.format(name=name(index), revision=number).encode()
        stream.append(
            b"commit refs/heads/main\n"
            b"committer bench <bench@envc.invalid> %d +0000\n"
            b"data 6\nchange\n"
            % (1_700_000_000 + number)
            + (b"from refs/heads/main^0\n" if number == 1 else b"")
            + b"M 100644 inline environments/%s/env.yaml\ndata %d\n%s\n"
            % (name(index).encode(), len(body), body)
        )
    git(work, "fast-import", "--quiet", input=b"".join(stream))
    git(work, "checkout", "-q", "-f", "main")
    git(work, "checkout", "-q", "-b", "template")
    (work / "templates").mkdir()
    template = (PROJECT / "templates" / "Dockerfile.conda.j2").read_text()
    (work / "templates" / "Dockerfile.conda.j2").write_text("# house style\n" + template)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "template")
    git(work, "checkout", "-q", "main")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=5000)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-plan-bench-"))
    # envc's user cache, the benchmark's own: the plan's renders are forgotten for some rows.
    environment = {**os.environ, "XDG_CACHE_HOME": str(work / ".user-cache")}
    try:
        build_repository(work, args.environments, args.commits)
        time.sleep(2)  # past the cache's racy-timestamp window

        def timed(command: list[str]) -> float:
            return median_seconds(command, work, args.repeat, env=environment, warmup=True)

        def forget_renders() -> None:
            for remembered in (work / ".user-cache").glob("envc/plan/*/renders.db*"):
                remembered.unlink()

        def first_time(command: list[str]) -> float:
            """Runs that find no render remembered (every other cache warm)."""
            return median_seconds(
                command, work, args.repeat, env=environment, before=forget_renders
            )

        python = timed([sys.executable, "-c", "pass"])
        diff = timed(["git", "diff", "--name-only", "main~1", "main"])
        plan = [ENVC, "plan", "--format", "json"]
        one = [*plan, "--base", "main~1", "--head", "main"]
        shared = [*plan, "--base", "main", "--head", "template"]
        rows = {
            "no change": timed([*plan, "--base", "main", "--head", "main"]),
            "one environment": timed(one),
            "one environment, first time": first_time(one),
            "one environment, no cache": timed([*one, "--no-cache"]),
            f"shared template ({args.environments // 5} envs)": timed(shared),
            "shared template, first time": first_time(shared),
        }
        # The head as a pre-merge check sees it: the working tree, one manifest edited.
        edited = work / "environments" / name(args.environments - 1) / "env.yaml"
        edited.write_text(edited.read_text() + "# edited\n")
        time.sleep(2)
        tree_diff = timed(["git", "diff", "--name-only", "main"])
        untracked = timed(["git", "ls-files", "--others", "--exclude-standard"])
        working_tree = timed([*plan, "--base", "main"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = python + diff
    tree_floor = python + tree_diff + untracked
    print(f"  {args.environments} environments, {args.commits} commits")
    print(f"  {'floor: python start':<40} {python * 1000:9.1f} ms")
    print(f"  {'floor: git diff --name-only':<40} {diff * 1000:9.1f} ms")
    print(f"  {'floor: python + diff + untracked (tree)':<40} {tree_floor * 1000:9.1f} ms")
    rows["working tree (one edited)"] = working_tree
    for label, seconds in rows.items():
        print(
            f"  {'envc plan, ' + label:<40} {seconds * 1000:9.1f} ms  "
            f"({seconds / floor:.1f}x python + diff, {seconds / tree_floor:.1f}x tree floor)"
        )
    print(
        "\n  targets (issue #19): no change and one environment <= 2x the working-tree floor;"
        " shared template (1,000 environments) < 1000 ms (a first plan renders both sides;"
        " a later one of the same inputs, a pull request pushed again, renders neither)"
    )


if __name__ == "__main__":
    main()
