"""The shipped CI configurations are valid: GitHub Actions and Azure Pipelines against
SchemaStore's schemas (vendored by check-jsonschema), the pre-commit configuration with
pre-commit's own validator, and every envc command line in them with envc's parser."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.load.yamlio import read_yaml
from tests.conftest import PROJECT

EXAMPLES = PROJECT / "examples"
BIN = Path(sys.executable).parent
WORKFLOW = EXAMPLES / "github/workflows/environments.yml"
AZURE = EXAMPLES / "azure-pipelines.yml"


def check_jsonschema(schema: str, file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(BIN / "check-jsonschema"),
            "--regex-variant",
            "python",
            "--builtin-schema",
            schema,
            str(file),
        ],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(
    ("schema", "file"),
    [("vendor.github-workflows", WORKFLOW), ("vendor.azure-pipelines", AZURE)],
)
def test_ci_configurations_match_their_schemas(schema: str, file: Path) -> None:
    result = check_jsonschema(schema, file)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest", 1)
    )
    assert check_jsonschema("vendor.github-workflows", broken).returncode == 1


def test_the_pre_commit_configuration_is_valid() -> None:
    result = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(EXAMPLES / "pre-commit-config.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {h["id"] for h in read_yaml(PROJECT / ".pre-commit-hooks.yaml", "hooks").data}
    used = {
        h["id"]
        for r in read_yaml(EXAMPLES / "pre-commit-config.yaml", "config").data["repos"]
        for h in r["hooks"]
    }
    assert used <= hooks


def _scripts(node: Any) -> Iterator[str]:
    """The `run:` (GitHub) and `script:` (Azure) values anywhere in a CI file."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script") and isinstance(value, str):
                yield value
            else:
                yield from _scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _scripts(item)


def _envc_commands(file: Path) -> list[list[str]]:
    """The words of every `envc …` command line (before any shell redirection)."""
    data = read_yaml(file, file.name).data
    return [
        shlex.split(line.split(">")[0])[1:]
        for script in _scripts(data)
        for line in script.replace("\\\n", " ").splitlines()  # shell line continuations
        if line.startswith("envc ")
    ]


@pytest.mark.parametrize("file", [WORKFLOW, AZURE])
def test_every_envc_command_line_parses(file: Path) -> None:
    commands = _envc_commands(file)
    assert len(commands) >= 2
    for words in commands:
        command = main.get_command(None, words[0])  # type: ignore[arg-type]
        assert command is not None, words
        context = command.make_context(words[0], words[1:], resilient_parsing=False)
        assert context.params, words
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
