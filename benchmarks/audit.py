"""Benchmark: `envc audit` of N locked environments against an advisory set of PyPI's size, and
`envc lock --check` of the same with a policy of 100 rules against it without one.

The environments are copies of the bundled, locked sklearn-cpu (conda and pip locks for two
platforms, ~150 packages each); the advisories are generated in OSV's shape (~15,000 records,
most for packages no environment has, some affecting versions the locks pin). The floor, in the
same run: a Python process that reads every lockfile and json-loads every advisory, nothing
matched.

    .venv/bin/python benchmarks/audit.py [--environments 1000] [--advisories 15000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from timing import compile_envc, median_seconds

PROJECT = Path(__file__).resolve().parent.parent
ENVC = str(Path(sys.executable).parent / "envc")
LOCKED = ("numpy", "scipy", "pandas", "joblib", "threadpoolctl", "mlflow-skinny", "requests")


def _advisory(index: int) -> dict[str, object]:
    package = LOCKED[index % len(LOCKED)] if index % 50 == 0 else f"package-{index % 6000}"
    return {
        "schema_version": "1.6.0",
        "id": f"GHSA-bench-{index:06d}",
        "modified": "2026-11-01T00:00:00Z",
        "summary": f"{package}: generated",
        "database_specific": {"severity": ("LOW", "MODERATE", "HIGH", "CRITICAL")[index % 4]},
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}
                ],
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environments", type=int, default=1000)
    parser.add_argument("--advisories", type=int, default=15000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    compile_envc(PROJECT)
    with tempfile.TemporaryDirectory(prefix="envc-bench-audit-") as scratch:
        work = Path(scratch)
        repo = work / "repo"
        shutil.copytree(PROJECT / "environments" / "base-python", repo / "environments/base")
        for index in range(arguments.environments):
            target = repo / "environments" / f"env-{index:04d}"
            shutil.copytree(PROJECT / "environments" / "sklearn-cpu", target)
            manifest = target / "env.yaml"
            manifest.write_text(
                manifest.read_text()
                .replace("name: sklearn-cpu", f"name: env-{index:04d}")
                .replace("extends: base-python", "extends: base")
            )
        base = repo / "environments/base/env.yaml"
        base.write_text(base.read_text().replace("name: base-python", "name: base"))
        advisories = work / "osv"
        advisories.mkdir()
        for index in range(arguments.advisories):
            (advisories / f"{index:06d}.json").write_text(json.dumps(_advisory(index)))
        audit = [ENVC, "audit", "--advisories", str(advisories), "--fail-on", "critical"]
        seconds_audit = _median_allowing_findings(audit, repo, arguments.repeat)
        floor_code = (
            "import json, pathlib\n"
            "for p in sorted(pathlib.Path('environments').glob('*/*')):\n"
            "    if p.name != 'env.yaml': p.read_bytes()\n"
            f"for p in sorted(pathlib.Path({str(advisories)!r}).glob('*.json')):\n"
            "    json.loads(p.read_bytes())\n"
        )
        floor = median_seconds([sys.executable, "-c", floor_code], repo, arguments.repeat)
        print(
            f"envc audit, {arguments.environments} locked environments x "
            f"{arguments.advisories} OSV advisories"
        )
        print(f"  envc audit:                          {seconds_audit:6.2f} s")
        print(f"  floor (read locks + load advisories): {floor:6.2f} s")
        print(f"  ratio: {seconds_audit / floor:.1f}x")
        check = [ENVC, "lock", "--check"]
        without = _median_allowing_findings(check, repo, arguments.repeat)
        rules = "".join(
            f"    - {{package: package-{i}, minimum: '1.0', reason: generated}}\n"
            for i in range(97)
        )
        real = "".join(
            f"    - {{package: {p}, minimum: '0.1', reason: generated}}\n" for p in LOCKED[:3]
        )
        (repo / "envc.yaml").write_text(f"config_version: 1\npolicy:\n  floors:\n{rules}{real}")
        with_policy = _median_allowing_findings(check, repo, arguments.repeat)
        print(f"envc lock --check, {arguments.environments} environments")
        print(f"  without a policy:        {without:6.2f} s")
        print(f"  with 100 policy rules:   {with_policy:6.2f} s   ({with_policy / without:.2f}x)")


def _median_allowing_findings(command: list[str], cwd: Path, repeat: int) -> float:
    """The audit finds what the generated advisories plant: exit 1 is its success here."""
    import statistics

    from timing import run_once

    times = []
    for _ in range(repeat):
        seconds, code, errors = run_once(command, cwd)
        if code not in (0, 1):
            raise SystemExit(f"envc audit exited {code}: {errors}")
        times.append(seconds)
    return statistics.median(times)


if __name__ == "__main__":
    main()
