"""Advisories in the OSV format (the open schema of osv.dev, PyPA and GitHub advisories), read
from a folder of `.json` records or a zip of them (osv.dev's per-ecosystem `all.zip`), offline.

Each record is read through the bounded reader; one that is not an OSV record, or whose
severity envc cannot tell, is an error naming the file (and the record inside a zip), never a
traceback. Affected versions are matched with PEP 440 ordering (`packaging`): `ECOSYSTEM` and
`SEMVER` ranges (`introduced`, `fixed`, `last_affected`, `limit` events) and explicit `versions`.
"""

from __future__ import annotations

import functools
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compiler._util.files import UnreadableFile, read_bounded
from compiler.errors import UsageError

SEVERITIES = ("low", "moderate", "high", "critical")  # in order
_ALIASES = {"medium": "moderate", "important": "high"}
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_ZIP_MEMBERS = 500_000
MAX_ZIP_BYTES = 4 * 1024 * 1024 * 1024  # osv.dev's whole PyPI zip unpacks to well under this


@dataclass(frozen=True)
class Advisory:
    id: str
    summary: str
    severity: str  # one of SEVERITIES
    package: str  # canonical PyPI name
    ranges: tuple[tuple[tuple[str, str], ...], ...]  # per range: (event kind, version) …
    versions: frozenset[str]
    aliases: tuple[str, ...] = ()

    def affects(self, version: str) -> bool:
        if version in self.versions:
            return True
        try:
            current = Version(version)
        except InvalidVersion:
            return False
        return any(_in_range(events, current) for events in self.ranges)

    @functools.lru_cache(maxsize=65536)  # noqa: B019 - advisories live as long as the run
    def fixed_after(self, version: str) -> str | None:
        """The first fixed version above `version`, when the record names one."""
        try:
            current = Version(version)
        except InvalidVersion:
            return None
        fixes = [
            Version(value)
            for events in self.ranges
            for kind, value in events
            if kind == "fixed" and _parses(value) and Version(value) > current
        ]
        return str(min(fixes)) if fixes else None


def _parses(value: str) -> bool:
    try:
        Version(value)
    except InvalidVersion:
        return False
    return True


def _in_range(events: tuple[tuple[str, str], ...], version: Version) -> bool:
    """OSV's rule: walk the events in version order; `introduced` opens, `fixed`/`limit`
    close at that version, `last_affected` closes after it."""
    affected = False
    for kind, value in sorted(events, key=lambda e: _order(e[1])):
        bound = _order(value)
        if kind == "introduced" and version >= bound:
            affected = True
        elif (kind == "last_affected" and version > bound) or (
            kind in ("fixed", "limit") and version >= bound
        ):
            affected = False
    return affected


def _order(value: str) -> Version:
    return Version("0") if value == "0" else Version(value)


class AdvisoryDatabase:
    """Advisories by package (canonical PyPI name)."""

    def __init__(self, advisories: list[Advisory]) -> None:
        self.count = len(advisories)
        self.by_package: dict[str, list[Advisory]] = {}
        for advisory in advisories:
            self.by_package.setdefault(advisory.package, []).append(advisory)

    def for_package(self, name: str) -> list[Advisory]:
        return self.by_package.get(canonicalize_name(name), [])


def load_advisories(source: Path) -> AdvisoryDatabase:
    """Every PyPI advisory in a folder of OSV records (searched recursively) or a zip."""
    if not source.exists():
        raise UsageError(f"{source}: no such advisory folder or zip")
    advisories = []
    for where, raw in _records(source):
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
        advisories += _advisories(record, where)
    return AdvisoryDatabase(advisories)


def _records(source: Path) -> Iterator[tuple[str, bytes]]:
    try:
        if source.is_dir():
            for file in sorted(source.rglob("*.json")):
                yield str(file), read_bounded(file, MAX_RECORD_BYTES)
            return
        with zipfile.ZipFile(source) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".json")]
            if len(members) > MAX_ZIP_MEMBERS:
                raise UsageError(f"{source}: more than {MAX_ZIP_MEMBERS} records")
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:  # a zip bomb, or not OSV
                raise UsageError(f"{source}: more than {MAX_ZIP_BYTES} bytes of records")
            for member in members:
                where = f"{source}!{member.filename}"
                if member.file_size > MAX_RECORD_BYTES:
                    raise UsageError(f"{where}: larger than {MAX_RECORD_BYTES} bytes")
                yield where, archive.read(member)
    except UnreadableFile as exc:
        raise UsageError(f"{source}: {exc}") from None
    except zipfile.BadZipFile:
        raise UsageError(f"{source}: neither a folder nor a zip of OSV records") from None


def _advisories(record: Any, where: str) -> list[Advisory]:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise UsageError(f"{where}: not an OSV record (no 'id')")
    if not isinstance(record.get("affected", []), list):
        raise UsageError(f"{where}: {record['id']}: 'affected' must be a list")
    severity = _severity(record, where)
    found = []
    for affected in record.get("affected", []):
        package = affected.get("package") if isinstance(affected, dict) else None
        if not isinstance(package, dict) or package.get("ecosystem") != "PyPI":
            continue  # envc's locks hold PyPI and conda packages; conda has no OSV ecosystem
        name = package.get("name")
        if not isinstance(name, str):
            raise UsageError(f"{where}: {record['id']}: an affected package has no name")
        ranges = []
        for entry in affected.get("ranges", []) or []:
            if not isinstance(entry, dict) or entry.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = tuple(
                (kind, str(value))
                for event in entry.get("events", []) or []
                if isinstance(event, dict)
                for kind, value in event.items()
                if kind in ("introduced", "fixed", "last_affected", "limit")
            )
            bad = [value for _, value in events if value != "0" and not _parses(value)]
            if bad:
                raise UsageError(f"{where}: {record['id']}: version {bad[0]!r} is not PEP 440")
            ranges.append(events)
        found.append(
            Advisory(
                id=record["id"],
                summary=str(record.get("summary") or record.get("details") or "")[:200],
                severity=severity,
                package=canonicalize_name(name),
                ranges=tuple(ranges),
                versions=frozenset(str(v) for v in affected.get("versions", []) or []),
                aliases=tuple(str(a) for a in record.get("aliases", []) or []),
            )
        )
    return found


def _severity(record: dict[str, Any], where: str) -> str:
    """GitHub's and PyPA's `database_specific.severity`, else the CVSS vector's rating."""
    named = (record.get("database_specific") or {}).get("severity")
    if isinstance(named, str):
        word = _ALIASES.get(named.lower(), named.lower())
        if word not in SEVERITIES:
            raise UsageError(
                f"{where}: {record['id']}: unknown severity {named!r} "
                f"(expected one of {', '.join(SEVERITIES)})"
            )
        return word
    for entry in record.get("severity", []) or []:
        if isinstance(entry, dict) and str(entry.get("type", "")).startswith("CVSS_V3"):
            from cvss import CVSS3
            from cvss.exceptions import CVSS3Error

            try:
                rating = CVSS3(str(entry.get("score"))).severities()[0].lower()
            except CVSS3Error as exc:
                raise UsageError(f"{where}: {record['id']}: bad CVSS vector ({exc})") from None
            return _ALIASES.get(rating, rating if rating in SEVERITIES else "low")
    return "moderate"  # OSV records may say nothing: neither ignored nor alarming
