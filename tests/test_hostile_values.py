"""Values that are valid YAML but hostile: characters that change what text shows (bidi overrides,
isolates, zero-width characters, tags) in every kind of string a manifest has, found at their
line; diagnostics that cannot be forged by a newline in a folder name or key; credentials never
echoed by a message; numbers bounded."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.validate.repository import validate
from tests.conftest import RepoFactory

INVISIBLE = {
    "right-to-left override": "\u202e",
    "left-to-right override": "\u202d",
    "right-to-left embedding": "\u202b",
    "left-to-right isolate": "\u2066",
    "right-to-left isolate": "\u2067",
    "first strong isolate": "\u2068",
    "pop directional isolate": "\u2069",
    "zero width space": "\u200b",
    "zero width non-joiner": "\u200c",
    "zero width joiner": "\u200d",
    "right-to-left mark": "\u200f",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "arabic letter mark": "\u061c",
    "tag latin a": "\U000e0041",
}
# (YAML with {c} where the character goes, line, the JSON path of the finding)
PLACES = {
    "variable value": ("variables:\n  A: 'safe{c}evil'\n", 5, "$.variables.A"),
    "tag value": ("tags:\n  team: 'ml{c}ops'\n", 5, "$.tags.team"),
    "description": ("description: 'reads one way{c}and another'\n", 4, "$.description"),
    "variable name": ("variables:\n  'A{c}B': x\n", 5, None),
    "pip spec": ("pip: ['requests{c}']\n", 4, "$.pip[0]"),
}
BASE = "schema_version: 1\nname: hostile\npython: '3.12'\n"


@pytest.mark.parametrize("character", sorted(INVISIBLE), ids=str)
@pytest.mark.parametrize("place", sorted(PLACES), ids=str)
def test_an_invisible_character_is_found_where_it_is(
    make_repo: RepoFactory, character: str, place: str
) -> None:
    text, line, json_path = PLACES[place]
    root = make_repo({"environments/hostile/env.yaml": BASE + text.format(c=INVISIBLE[character])})
    report = validate(root=root, cwd=root)
    unsafe = [d for d in report.diagnostics if d.rule == "unsafe-value"]
    assert [d.line for d in unsafe] == [line], report.diagnostics
    if json_path:
        assert unsafe[0].json_path == json_path
    shown = CliRunner().invoke(main, ["validate", "--repo", str(root)]).output
    assert INVISIBLE[character] not in shown  # escaped where printed (\u202e), never itself


def test_a_newline_in_a_folder_name_cannot_forge_a_diagnostic(make_repo: RepoFactory) -> None:
    forged = "x\nenvironments/other/env.yaml:1:1: error: forged (yaml-syntax)\n"
    root = make_repo({f"environments/{forged}/env.yaml": "schema_version: [\n"})
    output = CliRunner().invoke(main, ["validate", "--repo", str(root)]).output
    lines = [line for line in output.splitlines() if ": error: " in line]
    assert len(lines) == 1 and "environments/x\\nenvironments/other" in lines[0]


@pytest.mark.parametrize(
    "pip",
    [
        "-ihttps://alice:S3CRET@pypi.example.com/simple",
        "--index-url https://alice:S3CRET@pypi.example.com/simple",
        "pkg @ https://alice:S3CRET@files.example.com/pkg-1.0-py3-none-any.whl",
        "pkg @ https://conda.anaconda.org/t/S3CRET/x",
    ],
)
@pytest.mark.parametrize("output_format", ["text", "json", "github"])
def test_credentials_in_the_input_never_reach_the_output(
    make_repo: RepoFactory, pip: str, output_format: str
) -> None:
    root = make_repo({"environments/hostile/env.yaml": BASE + f"pip: [{json.dumps(pip)}]\n"})
    result = CliRunner().invoke(main, ["validate", "--format", output_format, "--repo", str(root)])
    assert result.exit_code == 1, result.output
    assert "S3CRET" not in result.output


def test_a_registry_version_beyond_any_counter_is_a_finding(make_repo: RepoFactory) -> None:
    root = make_repo({"environments/hostile/env.yaml": BASE + "version: 9223372036854775807\n"})
    report = validate(root=root, cwd=root)
    assert [(d.line, d.rule) for d in report.diagnostics] == [(4, "schema-maximum")]


def test_a_deep_extends_chain_is_a_finding_in_linear_time(make_repo: RepoFactory) -> None:
    """2,000 environments each extending the one before: found, quickly (it was cubic)."""
    import time

    files = {"environments/e0/env.yaml": BASE.replace("hostile", "e0")}
    for index in range(1, 2000):
        files[f"environments/e{index}/env.yaml"] = (
            f"schema_version: 1\nname: e{index}\nextends: e{index - 1}\n"
        )
    root = make_repo(files)
    started = time.monotonic()
    report = validate(root=root, cwd=root)
    assert time.monotonic() - started < 20
    deep = {d.path for d in report.diagnostics if d.rule == "extends-depth"}
    assert len(deep) == 2000 - 32 and "environments/e31/env.yaml" not in deep
    assert "environments/e32/env.yaml" in deep


def test_a_name_shared_by_thousands_is_reported_in_bounded_words(make_repo: RepoFactory) -> None:
    files = {f"environments/e{index}/env.yaml": BASE for index in range(2000)}
    root = make_repo(files)
    report = validate(root=root, cwd=root)
    messages = [d.message for d in report.diagnostics if d.rule == "duplicate-name"]
    assert len(messages) == 2000
    assert max(len(m) for m in messages) < 400 and "and 1994 more" in messages[0]
