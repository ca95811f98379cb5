"""Reporters: diagnostics as text for people and editors, JSON for machines, GitHub annotations."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from compiler._util.credentials import for_display
from compiler.errors import Diagnostic

REPORT_FORMAT_VERSION = 1


def text(diagnostics: Sequence[Diagnostic], checked: Sequence[str]) -> str:
    lines = [
        for_display(
            f"{d.path}:{d.line}:{d.col}: {d.severity}: {d.message}"
            f"{f' [{d.json_path}]' if d.json_path else ''} ({d.rule})",
            lines=False,
        )
        for d in diagnostics
    ]
    return "".join(line + "\n" for line in lines)


def as_json(diagnostics: Sequence[Diagnostic], checked: Sequence[str]) -> str:
    document = {
        "format_version": REPORT_FORMAT_VERSION,
        "checked": list(checked),
        "diagnostics": [d.as_dict() for d in diagnostics],
    }
    return for_display(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


def _escape(value: str, *, in_property: bool) -> str:
    # GitHub workflow-command encoding (actions/toolkit: escapeData / escapeProperty).
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if in_property:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def github(diagnostics: Sequence[Diagnostic], checked: Sequence[str]) -> str:
    lines = []
    for d in diagnostics:
        properties = ",".join(
            [
                f"file={_escape(d.path, in_property=True)}",
                f"line={d.line}",
                f"col={d.col}",
                f"title={_escape(f'envc ({d.rule})', in_property=True)}",
            ]
        )
        where = f" [{d.json_path}]" if d.json_path else ""
        message = _escape(f"{d.message}{where}", in_property=False)
        lines.append(for_display(f"::{d.severity} {properties}::{message}"))
    return "".join(line + "\n" for line in lines)


REPORTERS: dict[str, Callable[[Sequence[Diagnostic], Sequence[str]], str]] = {
    "text": text,
    "json": as_json,
    "github": github,
}


def summary(diagnostics: Sequence[Diagnostic], checked: Sequence[str]) -> str:
    if not diagnostics:
        return f"envc: {len(checked)} manifest(s) valid"
    files = len({d.path for d in diagnostics})
    return (
        f"envc: {len(diagnostics)} problem(s) in {files} file(s); "
        f"{len(checked)} manifest(s) checked"
    )
