"""envc audit: the bundled sklearn-cpu environment's committed locks against advisories written
here in OSV's shape (GitHub's `database_specific.severity`, a CVSS v3 vector, explicit versions),
offline; bad advisory files are errors naming the file."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.audit.advisories import load_advisories
from compiler.cli import main
from compiler.errors import UsageError
from tests.conftest import PROJECT, RepoFactory


def _osv(identifier: str, package: str, events: list[dict[str, str]], **extra: object) -> dict:
    return {
        "schema_version": "1.6.0",
        "id": identifier,
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "summary": f"{package}: a problem",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }


ADVISORIES = [
    # pip, direct: mlflow-skinny==3.9.0 is locked; fixed in 3.10.0.
    _osv(
        "GHSA-aaaa-bbbb-cccc",
        "mlflow-skinny",
        [{"introduced": "0"}, {"fixed": "3.10.0"}],
        database_specific={"severity": "HIGH"},
        aliases=["CVE-2026-0001"],
    ),
    # conda, transitive (scikit-learn needs threadpoolctl 3.6.0): rated by its CVSS vector.
    _osv(
        "PYSEC-2026-12",
        "threadpoolctl",
        [{"introduced": "3.0.0"}, {"last_affected": "3.6.0"}],
        severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    ),
    # Not affected: fixed before the locked version.
    _osv("GHSA-old0-0000-0000", "numpy", [{"introduced": "0"}, {"fixed": "1.0"}]),
    # Another ecosystem: never matched.
    {
        "id": "GO-2026-1",
        "modified": "2026-11-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Go", "name": "numpy"}, "versions": ["1"]}],
    },
]


@pytest.fixture
def locked(make_repo: RepoFactory) -> Path:
    root = make_repo({})
    for name in ("sklearn-cpu", "base-python"):  # and the parent it extends
        shutil.copytree(PROJECT / "environments" / name, root / "environments" / name)
    return root


def _advisories(folder: Path, records: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{record['id']}.json").write_text(json.dumps(record))
    return folder


def test_findings_name_the_fix_and_who_pulls_the_package_in(locked: Path, tmp_path: Path) -> None:
    advisories = _advisories(tmp_path / "osv", ADVISORIES)
    run = CliRunner().invoke(
        main, ["audit", "--advisories", str(advisories), "--format", "json", "--repo", str(locked)]
    )
    assert run.exit_code == 1, run.output
    findings = {f["advisory"]: f for f in json.loads(run.stdout)["findings"]}
    assert set(findings) == {"GHSA-aaaa-bbbb-cccc", "PYSEC-2026-12"}
    mlflow = findings["GHSA-aaaa-bbbb-cccc"]
    assert (mlflow["package"], mlflow["version"], mlflow["manager"]) == (
        "mlflow-skinny",
        "3.9.0",
        "pip",
    )
    assert (mlflow["severity"], mlflow["fixed"], mlflow["direct"]) == ("high", "3.10.0", True)
    assert mlflow["lockfile"] == "environments/sklearn-cpu/requirements-linux-64.txt"
    assert mlflow["platforms"] == ["linux-64", "osx-arm64"]
    pool = findings["PYSEC-2026-12"]
    assert (pool["manager"], pool["severity"], pool["direct"]) == ("conda", "critical", False)
    assert pool["via"] == "scikit-learn" and pool["fixed"] is None
    # --fail-on: a critical and a high finding; nothing at or above critical passes only if none.
    only_critical = CliRunner().invoke(
        main,
        ["audit", "--advisories", str(advisories), "--fail-on", "critical", "--repo", str(locked)],
    )
    assert only_critical.exit_code == 1
    assert "transitive, via scikit-learn" in only_critical.output
    harmless = _advisories(tmp_path / "harmless", ADVISORIES[2:])
    clean = CliRunner().invoke(
        main, ["audit", "--advisories", str(harmless), "--repo", str(locked)]
    )
    assert clean.exit_code == 0 and clean.stdout == ""


def test_every_output_format_and_a_zip(locked: Path, tmp_path: Path) -> None:
    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for record in ADVISORIES:
            bundle.writestr(f"{record['id']}.json", json.dumps(record))

    root = str(locked)

    def audit(output_format: str) -> str:
        run = CliRunner().invoke(
            main,
            ["audit", "--advisories", str(archive), "--format", output_format, "--repo", str(root)],
        )
        assert run.exit_code == 1, run.output
        return run.stdout

    sarif = json.loads(audit("sarif"))
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"GHSA-aaaa-bbbb-cccc", "PYSEC-2026-12"}
    assert all(r["level"] == "error" for r in results)
    github = audit("github").splitlines()
    assert github[0].startswith("::error file=environments/sklearn-cpu/conda-linux-64.lock")
    markdown = audit("markdown")
    assert "| `sklearn-cpu` | mlflow-skinny (pip) | 3.9.0 | GHSA-aaaa-bbbb-cccc | high |" in (
        markdown
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not JSON"),
        ('{"affected": []}', r"not an OSV record \(no 'id'\)"),
        (
            json.dumps(_osv("X-1", "numpy", [], database_specific={"severity": "SEVERE"})),
            "unknown severity 'SEVERE'",
        ),
        (json.dumps(_osv("X-2", "numpy", [{"introduced": "not a version"}])), "not PEP 440"),
        (
            json.dumps(_osv("X-3", "numpy", [], severity=[{"type": "CVSS_V3", "score": "x"}])),
            "bad CVSS vector",
        ),
    ],
)
def test_a_bad_advisory_is_an_error_naming_its_file(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(UsageError, match=message) as raised:
        load_advisories(tmp_path)
    assert str(tmp_path / "bad.json") in str(raised.value)
    with pytest.raises(UsageError, match="neither a folder nor a zip"):
        load_advisories(tmp_path / "bad.json")
