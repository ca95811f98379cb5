"""Audit findings as text, JSON, SARIF 2.1.0, GitHub annotations or Markdown."""

from __future__ import annotations

import json
from collections.abc import Callable

from compiler.audit.scan import Finding

AUDIT_FORMAT_VERSION = 1
_SARIF_LEVEL = {"low": "note", "moderate": "warning", "high": "error", "critical": "error"}


def _origin(finding: Finding) -> str:
    if finding.direct:
        return "direct"
    return f"transitive, via {finding.via}" if finding.via else "transitive"


def _fix(finding: Finding) -> str:
    return f"fixed in {finding.fixed}" if finding.fixed else "no fixed version known"


def text(findings: list[Finding], unlocked: list[str]) -> str:
    lines = [
        f"{f.environment}: {f.package} {f.version} ({f.manager}, {_origin(f)}): {f.advisory} "
        f"[{f.severity}] {f.summary} ({_fix(f)}; {', '.join(f.platforms)})"
        for f in findings
    ]
    lines += [f"{name}: not locked: nothing to audit (envc lock {name})" for name in unlocked]
    return "".join(f"{line}\n" for line in lines)


def as_json(findings: list[Finding], unlocked: list[str]) -> str:
    document = {
        "audit_format_version": AUDIT_FORMAT_VERSION,
        "findings": [f.as_dict() for f in findings],
        "not_locked": unlocked,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def sarif(findings: list[Finding], unlocked: list[str]) -> str:
    """One result per finding, at the lockfile that pins the version; one rule per advisory."""
    rules = {
        f.advisory: {
            "id": f.advisory,
            "shortDescription": {"text": f.summary or f.advisory},
            "properties": {"security-severity": f.severity, "aliases": list(f.aliases)},
        }
        for f in findings
    }
    results = [
        {
            "ruleId": f.advisory,
            "level": _SARIF_LEVEL[f.severity],
            "message": {
                "text": f"{f.environment}: {f.package} {f.version} ({_origin(f)}): "
                f"{f.summary} ({_fix(f)})"
            },
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.lockfile}}}],
        }
        for f in findings
    ]
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "envc audit", "rules": list(rules.values())}},
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def github(findings: list[Finding], unlocked: list[str]) -> str:
    lines = []
    for f in findings:
        level = "error" if f.severity in ("high", "critical") else "warning"
        message = f"{f.package} {f.version} ({_origin(f)}): {f.advisory} [{f.severity}] {_fix(f)}"
        lines.append(f"::{level} file={f.lockfile},title=envc audit {f.environment}::{message}")
    lines += [f"::notice title=envc audit::{name} is not locked: not audited" for name in unlocked]
    return "".join(f"{line}\n" for line in lines)


def markdown(findings: list[Finding], unlocked: list[str]) -> str:
    lines = ["### envc audit", ""]
    if not findings:
        lines.append("No locked package is affected by a known advisory.")
    else:
        lines += [
            "| environment | package | version | advisory | severity | fixed in | origin |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{f.environment}` | {f.package} ({f.manager}) | {f.version} | {f.advisory} | "
            f"{f.severity} | {f.fixed or '—'} | {_origin(f)} |"
            for f in findings
        ]
    if unlocked:
        lines += ["", f"Not locked, so not audited: {', '.join(unlocked)}."]
    return "\n".join(lines) + "\n"


REPORTERS: dict[str, Callable[[list[Finding], list[str]], str]] = {
    "text": text,
    "json": as_json,
    "sarif": sarif,
    "github": github,
    "markdown": markdown,
}
