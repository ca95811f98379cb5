"""Every locked package of every environment, on every platform, against the advisories.

The committed locks are read as they are (no solving, no index): conda records from the explicit
lockfiles, pip pins from the hashed requirements. A package is *direct* when the manifest names
it; a transitive conda package is traced through `conda-lock.yml`'s dependency lists to the
direct one that pulls it in. conda packages are matched by their PyPI name (conda-forge's
Python packages keep it), and said so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from compiler.audit.advisories import SEVERITIES, Advisory, AdvisoryDatabase
from compiler.lock.inputs import CONDA_LOCK_FILE, explicit_file, lock_inputs, pip_file
from compiler.lock.lockfiles import locked_explicit, locked_pip_pins
from compiler.manifest.model import resolve
from compiler.manifest.patterns import spec_package
from compiler.manifest.sources import ValidManifests
from compiler.validate.config import DEFAULT_CHANNELS


@dataclass(frozen=True)
class Finding:
    environment: str
    package: str
    version: str
    manager: str  # conda | pip
    advisory: str
    aliases: tuple[str, ...]
    severity: str
    summary: str
    fixed: str | None
    direct: bool
    via: str | None  # the direct dependency that pulls a transitive one in, when known
    lockfile: str  # where the version is pinned (relative to the repository)
    platforms: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "package": self.package,
            "version": self.version,
            "manager": self.manager,
            "advisory": self.advisory,
            "aliases": list(self.aliases),
            "severity": self.severity,
            "summary": self.summary,
            "fixed": self.fixed,
            "direct": self.direct,
            "via": self.via,
            "lockfile": self.lockfile,
            "platforms": list(self.platforms),
        }


def at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor)


def audit_repository(
    root: Path,
    manifests: ValidManifests,
    database: AdvisoryDatabase,
    names: Sequence[str] = (),
    default_channels: Sequence[str] = DEFAULT_CHANNELS,
) -> tuple[list[Finding], list[str]]:
    """The findings, most severe first, and the environments with nothing locked to audit."""
    findings: dict[tuple[str, str, str, str], Finding] = {}
    unlocked = []
    # Environments share versions: what affects a package version is worked out once.
    affecting: dict[tuple[str, str], list[Advisory]] = {}
    for name in sorted(names or manifests):
        folder_text = manifests[name][1]
        folder = root / folder_text
        manifest = resolve(name, manifests)
        inputs = lock_inputs(manifest, root, default_channels)
        if inputs is None:
            continue
        if not any((folder / file).is_file() for file in inputs.files()):
            unlocked.append(name)
            continue
        direct = {spec_package(spec) for spec in (*inputs.specs, *inputs.pip)}
        # Read, and walked, only when a transitive conda finding asks who pulls it in.
        pulled: dict[str, dict[str, str]] = {}
        for platform in inputs.platforms:
            for package, version, manager, lockfile in _locked(folder, platform):
                pin = (str(canonicalize_name(package)), version)
                if pin not in affecting:
                    affecting[pin] = [
                        a for a in database.for_package(package) if a.affects(version)
                    ]
                for advisory in affecting[pin]:
                    key = (name, canonicalize_name(package), version, advisory.id)
                    seen = findings.get(key)
                    if seen is not None:
                        findings[key] = _with_platform(seen, platform)
                        continue
                    is_direct = canonicalize_name(package) in direct
                    via = None
                    if not is_direct and manager == "conda":
                        if platform not in pulled:
                            graph = _conda_graph(folder / CONDA_LOCK_FILE).get(platform, {})
                            pulled[platform] = _pulled_in_by(graph, direct)
                        via = pulled[platform].get(pin[0])
                    findings[key] = Finding(
                        environment=name,
                        package=package,
                        version=version,
                        manager=manager,
                        advisory=advisory.id,
                        aliases=advisory.aliases,
                        severity=advisory.severity,
                        summary=advisory.summary,
                        fixed=advisory.fixed_after(version),
                        direct=is_direct,
                        via=via,
                        lockfile=f"{folder_text}/{lockfile}",
                        platforms=(platform,),
                    )
    ordered = sorted(
        findings.values(),
        key=lambda f: (-SEVERITIES.index(f.severity), f.environment, f.package, f.advisory),
    )
    return ordered, unlocked


def _with_platform(finding: Finding, platform: str) -> Finding:
    return replace(finding, platforms=tuple(sorted({*finding.platforms, platform})))


def _locked(folder: Path, platform: str) -> list[tuple[str, str, str, str]]:
    """(package, version, manager, lockfile) of the platform's conda and pip locks."""
    conda = [
        (package, version, "conda", explicit_file(platform))
        for package, version, _ in locked_explicit(folder, platform)
    ]
    pip = pip_file(platform)
    pins = locked_pip_pins(folder, platform)
    return conda + [(package, version, "pip", pip) for package, version in pins]


def _conda_graph(file: Path) -> dict[str, dict[str, list[str]]]:
    """platform -> package -> the packages it depends on, from the `package:` list of the
    conda-lock.yml envc writes (block style: `- category:`, an indented `dependencies:` map,
    `name:`, `platform:`). Read line by line: a YAML parse costs 25 ms per lockfile, and this is a
    hint for a finding (a file of another shape gives none), not a trust decision."""
    from compiler._util.files import UnreadableFile, read_text

    try:
        text = read_text(file, 64 * 1024 * 1024)
    except UnreadableFile:
        return {}
    graph: dict[str, dict[str, list[str]]] = {}
    entry: dict[str, Any] = {}
    in_dependencies = False

    def close() -> None:
        if "name" in entry and "platform" in entry:
            package = str(canonicalize_name(entry["name"]))
            graph.setdefault(entry["platform"], {})[package] = entry.get("dependencies", [])

    for line in text.splitlines():
        if line.startswith("- "):
            close()
            entry, in_dependencies = {}, False
            line = "  " + line[2:]
        if line.startswith("    ") and in_dependencies:
            name = line.strip().split(":", 1)[0].strip("'\"")
            entry.setdefault("dependencies", []).append(str(canonicalize_name(name)))
            continue
        in_dependencies = False
        if line.startswith("  ") and not line.startswith("   "):
            key, _, value = line[2:].partition(":")
            value = value.strip().strip("'\"")
            if key == "dependencies":
                in_dependencies = value == ""
            elif key in ("name", "platform"):
                entry[key] = value
    close()
    return graph


def _pulled_in_by(graph: Mapping[str, list[str]], direct: set[str]) -> dict[str, str]:
    """Each package the direct dependencies pull in -> the first of them (by name) whose
    dependency tree holds it: one walk per environment and platform, not one per finding."""
    reached: dict[str, str] = {}
    for root in sorted(direct & set(graph)):
        pending, seen = [root], {root}
        while pending:
            for dependency in graph.get(pending.pop(), []):
                if dependency not in seen:
                    seen.add(dependency)
                    reached.setdefault(dependency, root)
                    pending.append(dependency)
    return reached
