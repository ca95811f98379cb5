"""Data-driven cases: each folder under cases/ is a small repository.

invalid/<case>/expected.txt holds the exact diagnostics (text format) `envc validate` must print for
the whole folder; valid/<case>/ must produce none. Regenerate after a reviewed change with
ENVC_UPDATE_GOLDEN=1 pytest tests/test_cases.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.validate.report import text
from compiler.validate.repository import validate
from tests.conftest import CASES

INVALID = sorted(p for p in (CASES / "invalid").iterdir() if p.is_dir())
VALID = sorted(p for p in (CASES / "valid").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", INVALID, ids=[p.name for p in INVALID])
def test_invalid_case_reports_expected_diagnostics(case: Path) -> None:
    report = validate(root=case, cwd=case)
    actual = text(report.diagnostics, report.checked)
    expected_file = case / "expected.txt"
    if os.environ.get("ENVC_UPDATE_GOLDEN"):
        expected_file.write_text(actual, encoding="utf-8")
    assert actual, "an invalid case must produce diagnostics"
    assert actual == expected_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", VALID, ids=[p.name for p in VALID])
def test_valid_case_has_no_diagnostics(case: Path) -> None:
    report = validate(root=case, cwd=case)
    assert report.diagnostics == ()
    assert report.checked


def test_every_case_folder_is_a_repository() -> None:
    for case in [*INVALID, *VALID]:
        assert (case / "environments").is_dir(), case
