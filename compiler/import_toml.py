"""Import from TOML manifests: a pixi workspace (`pixi.toml`) and a Python project
(`pyproject.toml`: PEP 621 dependencies, Poetry's, conda-lock's `[tool.conda-lock]`).

What a manifest cannot say (pixi features and environments, per-platform tables, tasks, Poetry
optional and dev groups, version ranges of Python) is returned as notes, never dropped.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop import Imported, manifest_name, new_manifest

# Version constraints pixi and Poetry write that are a single Python minor: "3.12.*", "3.12",
# "==3.12.*", "~=3.12.0".
_PYTHON_MINOR = re.compile(r"^(?:==|~=)?\s*(3\.[0-9]{1,2})(?:\.[0-9*]+)?$")


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise EnvcError(f"{file}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib ends its message with "(at line L, column C)" or "(at end of document)":
        # lead with the position instead.
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)$", message)
        if where:
            line, col = int(where.group(1)), int(where.group(2))
        else:
            line, col = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
        message = re.sub(r"\s*\(at [^)]*\)$", "", message)
        raise EnvcError(f"{file}:{line}:{col}: error: {message}") from None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _conda_spec(package: str, value: Any, notes: list[str]) -> str | None:
    """A pixi dependency (`"1.1.*"`, `"*"`, `{version, build, channel}`) as a MatchSpec."""
    if isinstance(value, str):
        return package if value.strip() in ("", "*") else f"{package} {value.strip()}"
    if isinstance(value, dict) and isinstance(value.get("version", "*"), str):
        spec = package if value.get("version", "*") == "*" else f"{package} {value['version']}"
        if isinstance(value.get("build"), str):
            spec += f" {value['build']}" if " " in spec else f" * {value['build']}"
        if isinstance(value.get("channel"), str):
            spec = f"{value['channel']}::{spec}"
        return spec
    notes.append(f"dependency {package} = {value!r} is not carried")
    return None


def _pip_requirement(package: str, value: Any, notes: list[str]) -> str | None:
    """A pixi `pypi-dependencies` entry as a PEP 508 requirement."""
    if isinstance(value, str):
        return package if value.strip() in ("", "*") else f"{package}{value.strip()}"
    if isinstance(value, dict) and not ({"path", "git", "url"} & set(value)):
        extras = value.get("extras") or []
        name = f"{package}[{','.join(extras)}]" if extras else package
        version = str(value.get("version", "*")).strip()
        return name if version == "*" else f"{name}{version}"
    notes.append(
        f"pypi dependency {package} = {value!r} is not carried (a path, git or URL source)"
    )
    return None


def _python_minor(constraint: str) -> str | None:
    """The X.Y of a constraint that allows one Python minor version only, else None."""
    match = _PYTHON_MINOR.match(constraint.strip())
    return match.group(1) if match else None


def import_pixi(file: Path, name: str | None = None) -> Imported:
    """A pixi workspace's default environment: channels, platforms, conda and PyPI dependencies
    and activation variables."""
    data = _read_toml(file)
    workspace = _table(data.get("workspace")) or _table(data.get("project"))
    if not workspace:
        raise EnvcError(f"{file}: not a pixi manifest (no [workspace] or [project] table)")
    notes: list[str] = []
    dependencies = dict(_table(data.get("dependencies")))
    # One Python minor becomes python:; a range stays a conda spec, which carries it as well.
    python = _python_minor(str(dependencies.get("python", "")))
    if python:
        del dependencies["python"]
    conda = [
        spec
        for package, value in dependencies.items()
        for spec in [_conda_spec(package, value, notes)]
        if spec
    ]
    pip = [
        requirement
        for package, value in _table(data.get("pypi-dependencies")).items()
        for requirement in [_pip_requirement(package, value, notes)]
        if requirement
    ]
    channels = [
        channel if isinstance(channel, str) else str(_table(channel).get("channel", ""))
        for channel in workspace.get("channels") or []
    ]
    description = workspace.get("description")
    manifest = new_manifest(
        manifest_name(name or str(workspace.get("name") or file.parent.name)),
        description=description if isinstance(description, str) else None,
        python=python,
        channels=[c for c in channels if c],
        conda=conda,
        pip=pip,
        platforms=[p for p in workspace.get("platforms") or [] if isinstance(p, str)],
        variables={
            str(k): str(v) for k, v in _table(_table(data.get("activation")).get("env")).items()
        },
    )
    for table, what in (
        ("feature", "features"),
        ("environments", "environments"),
        ("target", "per-platform tables"),
    ):
        if data.get(table):
            notes.append(
                f"{what} {', '.join(sorted(_table(data[table])))} are not carried: only the "
                "default environment is imported"
            )
    for key in sorted(
        set(data)
        - {
            "workspace",
            "project",
            "dependencies",
            "pypi-dependencies",
            "activation",
            "feature",
            "environments",
            "target",
        }
    ):
        notes.append(f"[{key}] is not carried")
    return Imported(manifest["name"], manifest, str(file), notes)


def _poetry_requirement(package: str, value: Any, notes: list[str]) -> str | None:
    """Poetry's `^1.2`, `~1.2`, `*`, `>=1,<2` or `{version = …}` as a PEP 508 requirement."""
    if isinstance(value, dict):
        if value.get("optional"):
            notes.append(f"{package} is optional (an extra): not carried")
            return None
        if not isinstance(value.get("version"), str):
            notes.append(f"{package} = {value!r} is not carried (a path, git or URL source)")
            return None
        value = value["version"]
    if not isinstance(value, str):
        notes.append(f"{package} = {value!r} is not carried")
        return None
    constraint = value.strip()
    if constraint in ("", "*"):
        return package
    operator = re.fullmatch(r"([\^~])(\d+(?:\.\d+){0,2})", constraint)
    if operator:
        parts = [int(part) for part in operator.group(2).split(".")]
        if operator.group(1) == "^":  # the first non-zero part may not change
            position = next((i for i, part in enumerate(parts) if part), len(parts) - 1)
        else:  # ~1 allows 1.x; ~1.2 and ~1.2.3 allow 1.2.x
            position = min(1, len(parts) - 1)
        upper = ".".join(map(str, [*parts[:position], parts[position] + 1]))
        return f"{package}>={operator.group(2)},<{upper}"
    if re.fullmatch(r"\d[\w.]*", constraint):
        return f"{package}=={constraint}"
    return f"{package}{constraint}"


def import_pyproject(file: Path, name: str | None = None) -> Imported:
    """A Python project's dependencies: PEP 621 `[project]`, Poetry's, and conda-lock's
    `[tool.conda-lock]` (channels, conda dependencies, platforms)."""
    data = _read_toml(file)
    project, tool = _table(data.get("project")), _table(data.get("tool"))
    poetry, conda_lock = _table(tool.get("poetry")), _table(tool.get("conda-lock"))
    notes: list[str] = []
    pip: list[str] = [d for d in project.get("dependencies") or [] if isinstance(d, str)]
    poetry_deps = dict(_table(poetry.get("dependencies")))
    python_constraints = [
        str(poetry_deps.pop("python", "")),
        str(project.get("requires-python", "")),
    ]
    python = next(filter(None, map(_python_minor, python_constraints)), None)
    ranges = [c for c in python_constraints if c and not _python_minor(c)]
    if ranges and not python:
        notes.append(f"Python {ranges[0]!r} is a range: set python: to one version")
    pip += [
        requirement
        for package, value in poetry_deps.items()
        for requirement in [_poetry_requirement(package, value, notes)]
        if requirement
    ]
    for group in ("dev-dependencies", "group"):
        if poetry.get(group):
            notes.append(f"[tool.poetry.{group}] is not carried (development dependencies)")
    if project.get("optional-dependencies"):
        notes.append(
            f"optional dependencies ({', '.join(sorted(project['optional-dependencies']))}) "
            "are not carried"
        )
    conda = [
        package if str(value).strip() in ("", "*") else f"{package} {str(value).strip()}"
        for package, value in _table(conda_lock.get("dependencies")).items()
    ]
    if not (pip or conda):
        raise EnvcError(f"{file}: no dependencies ([project], [tool.poetry] or [tool.conda-lock])")
    source_name = project.get("name") or poetry.get("name") or file.parent.name
    description = project.get("description") or poetry.get("description")
    manifest = new_manifest(
        manifest_name(name or str(source_name)),
        description=description.strip() if isinstance(description, str) else None,
        python=python,
        channels=[c for c in conda_lock.get("channels") or [] if isinstance(c, str)],
        conda=conda,
        pip=pip,
        platforms=[p for p in conda_lock.get("platforms") or [] if isinstance(p, str)],
    )
    return Imported(manifest["name"], manifest, str(file), notes)
