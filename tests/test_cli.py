"""The command line: output formats, exit codes, and real runs of the installed `envc`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import __version__
from compiler.cli import main
from tests.conftest import PROJECT, RepoFactory

BAD = "schema_version: 1\nname: bad\npython: 3.10\nchanels: [conda-forge]\n"


@pytest.fixture
def bad_repo(make_repo: RepoFactory) -> Path:
    return make_repo(
        {
            "environments/bad/env.yaml": BAD,
            "environments/good/env.yaml": "schema_version: 1\nname: good\n",
        }
    )


def run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args)
    return result.exit_code, result.stdout, result.stderr


def test_text_output_is_path_line_col_with_json_path_and_rule(bad_repo: Path) -> None:
    code, out, err = run(["validate", "--repo", str(bad_repo), str(bad_repo / "environments")])
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(
        "environments/bad/env.yaml:3:9: error: expected a string or a "
        "mapping, got a number (3.1): YAML reads 3.10 as a number; quote "
        'it: "3.10" [$.python] (unquoted-value)'
    )
    assert lines[1].endswith(
        'environments/bad/env.yaml:4:1: error: unknown key "chanels" '
        '(did you mean "channels"?) [$.chanels] (schema-unknown-key)'
    )
    assert "2 problem(s) in 1 file(s); 2 manifest(s) checked" in err


def test_json_output_is_versioned_and_complete(bad_repo: Path) -> None:
    code, out, _ = run(
        ["validate", "--repo", str(bad_repo), "--format", "json", str(bad_repo / "environments")]
    )
    assert code == 1
    document = json.loads(out)
    assert document["format_version"] == 1
    assert len(document["checked"]) == 2
    assert [(d["line"], d["col"], d["rule"], d["json_path"]) for d in document["diagnostics"]] == [
        (3, 9, "unquoted-value", "$.python"),
        (4, 1, "schema-unknown-key", "$.chanels"),
    ]


def test_github_output_is_workflow_annotations(bad_repo: Path) -> None:
    code, out, _ = run(
        ["validate", "--repo", str(bad_repo), "--format", "github", str(bad_repo / "environments")]
    )
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("::error file=")
    assert ",line=3,col=9,title=envc (unquoted-value)::expected a string" in first


def test_clean_repository_exits_zero(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/a/env.yaml": "schema_version: 1\nname: a\n"})
    code, out, err = run(["validate", "--repo", str(root), str(root / "environments")])
    assert (code, out) == (0, "")
    assert "1 manifest(s) valid" in err


def test_usage_errors_exit_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["validate"])
    assert code == 2
    assert "no environments/ folder" in err
    assert "Traceback" not in err
    code, _, _ = run(["validate", "--format", "xml"])
    assert code == 2


def test_schema_command_prints_the_generated_schema() -> None:
    code, out, _ = run(["schema"])
    assert code == 0
    committed = (PROJECT / "schemas" / "manifest.schema.json").read_text(encoding="utf-8")
    assert out == committed


def envc() -> str:
    found = shutil.which("envc", path=str(Path(sys.executable).parent))
    assert found, "the envc console script is installed with the package"
    return found


def test_installed_console_script_validates_the_bundled_environments() -> None:
    result = subprocess.run(
        [envc(), "validate"], cwd=PROJECT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "manifest(s) valid" in result.stderr
    version = subprocess.run([envc(), "--version"], capture_output=True, text=True, check=True)
    assert __version__ in version.stdout


def test_installed_console_script_reports_without_traceback(bad_repo: Path) -> None:
    result = subprocess.run(
        [envc(), "validate"], cwd=bad_repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stdout.startswith("environments/bad/env.yaml:3:9: error:")
    assert "Traceback" not in result.stderr


def test_bad_option_values_are_usage_errors(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/a/env.yaml": "schema_version: 1\nname: a\n"})
    code, _, err = run(["lock", "--repo", str(root), "--mirror", "no-equals-sign"])
    assert code == 2
    assert "expected CHANNEL=URL" in err and "internal error" not in err


def test_a_bug_exits_three_with_a_traceback_file(
    make_repo: RepoFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import compiler.validate.repository

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(compiler.validate.repository, "validate", broken)
    root = make_repo({"environments/a/env.yaml": "schema_version: 1\nname: a\n"})
    code, _, err = run(["validate", "--repo", str(root)])
    assert code == 3
    report = Path(err.split("please report it with ")[1].strip())
    assert "RuntimeError: simulated bug" in report.read_text()
    assert "Traceback" not in err


def test_a_path_the_file_system_refuses_is_an_error_not_a_crash(
    make_repo: RepoFactory, tmp_path: Path
) -> None:
    """An unwritable output names the path, exits 2 and leaves no temporary behind."""
    root = make_repo(
        {"environments/a/env.yaml": "schema_version: 1\nname: a\npython: '3.12'\npip: [rich]\n"}
    )
    outputs = tmp_path / "outputs"
    (outputs / "taken").mkdir(parents=True)
    (outputs / "file").write_text("x")

    def export(output_format: str, out: Path) -> tuple[int, str]:
        code, _, err = run(
            ["export", "a", "--format", output_format, "--out", str(out), "--repo", str(root)]
        )
        return code, err

    code, err = export("requirements", outputs / "file/r.txt")
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"envc: error: {outputs / 'file'}")
    code, err = export("requirements", outputs / "taken")
    assert code == 2 and "is a folder; requirements writes one file" in err
    code, err = export("azureml-v1", outputs / "file")
    assert code == 2 and "azureml-v1 writes a folder" in err
    assert sorted(p.name for p in outputs.iterdir()) == ["file", "taken"]  # no temporaries
