"""Benchmark: the registries, through the API and through `envc register`.

Works on the disk of the working directory (--work; /tmp is often memory, where fsync is free).
Times, in the same run:

* `envc register` of a committed repository of N environments, one command, and 8 commands at
  once each registering an eighth (caches cold), and one command after `envc validate` (as in a
  CI job), against the floor: bare sqlite3 running the same kind of
  transactions (`BEGIN IMMEDIATE`, one version per transaction, WAL, `synchronous=FULL`);
* registrations per second through the Python API, one process and 8 at once: SQLite and an OCI
  registry on loopback (Debian's docker-registry, started here); and for OCI, one process
  registering 50 environments at a time with `register_all`, as `envc register` does, on
  loopback and through a relay that delays every packet (--latency-ms), as a cloud registry is;
* `envc list` and `envc show` on a registry holding 10,000 versions, against the floor: a Python
  interpreter starting and running the same SELECT with the sqlite3 module; for `envc list`,
  the issue's floor: that SELECT with its rows printed (as JSON arrays).

    .venv/bin/python benchmarks/registry.py [--environments 1000] [--registrations 2000]
        [--versions 10000] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from timing import compile_envc, median_seconds

PROJECT = Path(__file__).resolve().parent.parent
ENVC = str(Path(sys.executable).parent / "envc")
WORKER = """
import sys, time
from pathlib import Path
from compiler.registry.base import Candidate, open_registry
registry = open_registry(sys.argv[1], Path("."), plain_http=True)
worker, count = int(sys.argv[2]), int(sys.argv[3])
candidates = [
    Candidate(f"env-{index % 50:02d}", f"sha256:{worker:032x}{index:032x}", {"name": "x"})
    for index in range(count)
]
if sys.argv[4:] == ["all"]:  # as envc register does: its environments at once, 50 at a time
    for start in range(0, count, 50):
        registry.register_all(candidates[start : start + 50])
else:
    for candidate in candidates:
        registry.register(candidate)
"""
MANIFEST = (
    "schema_version: 1\nname: {name}\npython:\n  user_managed_dependencies: true\n"
    "  interpreter_path: /usr/bin/python3\ndocker:\n  base_image: example.com/runtime:1\n"
)
TRANSACTIONS_FLOOR = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS versions (name TEXT, version INTEGER, address TEXT, "
           "record TEXT, PRIMARY KEY (name, version))")
for index in range(int(sys.argv[2])):
    db.execute("BEGIN IMMEDIATE")
    db.execute("SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?", (f"env-{index}",))
    db.execute("INSERT INTO versions VALUES (?, 1, ?, ?)",
               (f"env-{index}", f"sha256:{index:064x}", "{}" * 200))
    db.execute("COMMIT")
"""
FLOOR = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT * FROM versions ORDER BY name, version").fetchall()
"""
# The floor for `envc list`: the SELECT, and its rows printed (as JSON arrays).
PRINTED_FLOOR = FLOOR.replace("import sqlite3", "import json, sqlite3") + (
    "sys.stdout.write(json.dumps(rows))\n"
)


def committed_repository(root: Path, count: int) -> list[str]:
    """A git repository of `count` environments that need no lock, committed."""
    names = [f"env-{index:04d}" for index in range(count)]
    for name in names:
        (root / "environments" / name).mkdir(parents=True)
        (root / "environments" / name / "env.yaml").write_text(MANIFEST.format(name=name))
    for command in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@envc.invalid", "commit", "-q", "-m", "envs"],
    ):
        subprocess.run(["git", *command], cwd=root, check=True)
    return names


def register_commands_per_second(
    root: Path, names: list[str], processes: int, warm: bool = False
) -> float:
    """Versions per second of `processes` concurrent `envc register` commands on one registry.
    Each run starts with envc's caches cold (the repository's and the user's, a folder of its
    own, where validation's data index would be), or with `warm`, as a CI job's register
    follows its `envc validate` (run first, not timed)."""
    database = root / f"registry-{processes}{'-warm' if warm else ''}.db"
    shutil.rmtree(root / ".envc", ignore_errors=True)
    cache = root.parent / f"user-cache-{processes}{'-warm' if warm else ''}"
    environment = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    if warm:
        subprocess.run([ENVC, "--quiet", "validate"], cwd=root, env=environment, check=True)
    shares = [names[start::processes] for start in range(processes)]
    command = [ENVC, "--quiet", "register", "--registry", f"sqlite:///{database}"]
    started = time.perf_counter()
    running = [subprocess.Popen([*command, *share], cwd=root, env=environment) for share in shares]
    if any(process.wait() != 0 for process in running):
        raise SystemExit("envc register failed")
    return len(names) / (time.perf_counter() - started)


def registrations_per_second(
    database: Path | str, workers: int, each: int, *, batched: bool = False
) -> float:
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(database), str(w), str(each)]
            + (["all"] if batched else []),
            cwd=PROJECT,
        )
        for w in range(workers)
    ]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit("a registering worker failed")
    return workers * each / (time.perf_counter() - started)


@contextmanager
def delayed(target: str, milliseconds: float) -> Iterator[str]:
    """A TCP relay on loopback to `target` (host:port) that holds every chunk `milliseconds`
    before passing it on, either way: a registry as far away as a cloud one (a request and its
    answer take twice that)."""
    listener = socket.create_server(("127.0.0.1", 0))
    host, port = target.rsplit(":", 1)

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while chunk := source.recv(65536):
                time.sleep(milliseconds / 1000)
                sink.sendall(chunk)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        with suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection((host, int(port)))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pump, args=(a, b), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@contextmanager
def oci_registry(folder: Path) -> Iterator[str]:
    """Debian's docker-registry serving `folder` on a free loopback port."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed: apt-get install docker-registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{probe.getsockname()[1]}"
    folder.mkdir()
    config = folder / "config.yml"
    config.write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder}/data\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n"
    )
    server = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://{host}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        yield host
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--latency-ms", type=float, default=10.0, help="one way, for the distant OCI rows"
    )
    parser.add_argument("--work", type=Path, default=Path("."), help="where to work (a disk)")
    args = parser.parse_args()
    compile_envc(PROJECT)
    work = Path(tempfile.mkdtemp(prefix="envc-registry-bench-", dir=args.work)).resolve()
    try:
        repository = work / "repository"
        names = committed_repository(repository, args.environments)
        time.sleep(2)  # past the cache's racy-timestamp window
        command_one = register_commands_per_second(repository, names, 1)
        command_eight = register_commands_per_second(repository, names, 8)
        command_warm = register_commands_per_second(repository, names, 1, warm=True)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", TRANSACTIONS_FLOOR, str(work / "floor.db"), str(len(names))],
            check=True,
        )
        transactions_floor = len(names) / (time.perf_counter() - started)
        sequential = registrations_per_second(f"sqlite:///{work}/one.db", 1, args.registrations)
        concurrent = registrations_per_second(
            f"sqlite:///{work}/eight.db", 8, args.registrations // 8
        )
        with oci_registry(work / "oci") as host:
            count = args.registrations // 10
            oci_sequential = registrations_per_second(f"oci://{host}/one", 1, count)
            oci_concurrent = registrations_per_second(f"oci://{host}/eight", 8, count // 8)
            oci_batched = registrations_per_second(f"oci://{host}/all", 1, count, batched=True)
            with delayed(host, args.latency_ms) as far:
                far_count = max(16, count // 10)
                oci_far = registrations_per_second(f"oci://{far}/far-one", 1, far_count)
                oci_far_batched = registrations_per_second(
                    f"oci://{far}/far-all", 1, far_count, batched=True
                )
        big = work / "big.db"
        registrations_per_second(f"sqlite:///{big}", 1, args.versions)
        registry = ["--registry", f"sqlite:///{big}", "--repo", str(PROJECT)]
        floor = median_seconds([sys.executable, "-c", FLOOR, str(big)], work, args.repeat)
        printed = [sys.executable, "-c", PRINTED_FLOOR, str(big)]
        printed_floor = median_seconds(printed, work, args.repeat)
        listed = median_seconds([ENVC, "list", "--format", "json", *registry], work, args.repeat)
        # A version from the middle of env-07's (the registrations go round 50 names).
        middle = f"env-07@{max(1, args.versions // 100)}"
        shown = median_seconds([ENVC, "show", middle, *registry], work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        (f"floor: sqlite3 transactions/s ({args.environments})", f"{transactions_floor:8.0f}"),
        ("envc register versions/s, 1 command", f"{command_one:8.0f}"),
        ("envc register versions/s, 8 commands", f"{command_eight:8.0f}"),
        ("envc register versions/s, after validate", f"{command_warm:8.0f}"),
        ("API registrations/s, 1 process", f"{sequential:8.0f}"),
        ("API registrations/s, 8 processes", f"{concurrent:8.0f}"),
        ("OCI registrations/s, 1 process", f"{oci_sequential:8.0f}"),
        ("OCI registrations/s, 8 processes", f"{oci_concurrent:8.0f}"),
        ("OCI registrations/s, register_all", f"{oci_batched:8.0f}"),
        (f"OCI, {args.latency_ms:g} ms away: registrations/s", f"{oci_far:8.1f}"),
        (f"OCI, {args.latency_ms:g} ms away: register_all/s", f"{oci_far_batched:8.1f}"),
        ("floor: python + SELECT all versions", f"{floor * 1000:8.1f} ms"),
        ("floor: the same, rows printed as JSON", f"{printed_floor * 1000:8.1f} ms"),
        (f"envc list ({args.versions} versions, json)", f"{listed * 1000:8.1f} ms"),
        ("envc show NAME@VERSION", f"{shown * 1000:8.1f} ms"),
    ]
    for label, figure in rows:
        print(f"  {label:<40} {figure}")
    print(
        f"\n  floor / envc register: {transactions_floor / command_one:.1f}x (1 command), "
        f"{transactions_floor / command_eight:.1f}x (8 commands), "
        f"{transactions_floor / command_warm:.1f}x (1 command after envc validate)"
    )
    print(
        f"  list / floor (rows printed): {listed / printed_floor:.1f}x (target <= 2x), "
        f"without printing: {listed / floor:.1f}x   show / floor: {shown / floor:.1f}x"
    )


if __name__ == "__main__":
    main()
