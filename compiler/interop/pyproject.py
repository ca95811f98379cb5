"""Import from a Python project (`pyproject.toml`: PEP 621 dependencies, Poetry's, uv's
sources, conda-lock's `[tool.conda-lock]`), and the TOML reading the pixi importer shares.

What a manifest cannot say (optional dependencies, dependency and dev groups, local or index
sources, indexes) is returned as notes, never dropped.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop.common import (
    Imported,
    PipOptions,
    manifest_name,
    new_manifest,
    read_text,
    source_requirement,
    source_url,
    strings,
)

# Version constraints pixi and Poetry write that are a single Python minor: "3.12.*", "3.12",
# "==3.12.*", "~=3.12.0".
_PYTHON_MINOR = re.compile(r"^(?:==|~=)?\s*(3\.[0-9]{1,2})(?:\.[0-9*]+)?$")


def read_toml(file: Path) -> dict[str, Any]:
    text = read_text(file)
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


def table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def python_minor(constraint: str) -> str | None:
    """The version a constraint allowing one Python minor version pins: X.Y, or X.Y.Z when it
    names a patch release exactly (`3.12.8`, `==3.12.8`); else None."""
    text = constraint.strip()
    match = _PYTHON_MINOR.match(text)
    if match is None:
        return None
    exact = re.fullmatch(r"(?:==)?\s*(3\.[0-9]{1,2}\.[0-9]{1,3})", text)
    return exact.group(1) if exact else match.group(1)


def bare_version_exact(text: str) -> str:
    """A TOML manifest's version constraint as strict parsers want it: pixi and conda-lock read a
    bare version (`"1.26"`) as that exact version, `==1.26` (a conda spec's, and a requirement's:
    `requests2.31` would name another package)."""
    text = text.strip()
    return f"=={text}" if re.fullmatch(r"\d[\w.+!]*", text) else text


def _poetry_requirement(package: str, value: Any, notes: list[str]) -> str | None:
    """Poetry's `^1.2`, `~1.2`, `*`, `>=1,<2` or `{version = …}` as a PEP 508 requirement."""
    if isinstance(value, dict):
        if value.get("optional"):
            notes.append(f"{package} is optional (an extra): not carried")
            return None
        if {"path", "git", "url"} & set(value):
            return source_requirement(package, value, notes)
        if not isinstance(value.get("version"), str):
            notes.append(f"{package} = {value!r} is not carried")
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
    return f"{package}{bare_version_exact(constraint)}"  # (`2.3.1+cu121` is exact, too)


def _python_in_range(folder: Path, constraint: str, notes: list[str]) -> str | None:
    """The Python of a project that allows a range (`>=3.11`): its `.python-version` (uv's
    and pyenv's pin), noted; else None (and a note asking for one: the range does not say
    which Python the project runs on)."""
    pinned = folder / ".python-version"
    if os.path.lexists(pinned):
        line = (read_text(pinned).strip().splitlines() or [""])[0].strip()
        found = re.fullmatch(r"(?:cpython-|python)?(3\.[0-9]{1,2})(?:\.[0-9]+)?\S*", line)
        if found:
            notes.append(
                f"python {found.group(1)}: from .python-version ({constraint!r} allows it)"
            )
            return found.group(1)
    notes.append(f"Python {constraint!r} is a range: set python: to one version")
    return None


def _with_uv_sources(
    pip: list[str], uv: dict[str, Any], notes: list[str]
) -> tuple[list[str], list[str]]:
    """The requirements with uv's `[tool.uv.sources]` applied, and the pip indexes of its
    `[[tool.uv.index]]` tables, carried as pip's index options are (PipOptions): a git or URL
    source becomes `name @ URL` (what PEP 508 says); a package's index is among the indexes
    (envc has none per package: noted); a path or workspace member is noted."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    options = PipOptions()
    names = {}
    for index in uv.get("index") or []:
        entry = table(index)
        default = entry.get("default") is True
        url = options.index_table(index, "[[tool.uv.index]] ", notes, instead_of_pypi=default)
        if url is None:
            continue
        names[entry.get("name")] = url
        if entry.get("explicit") is True:
            notes.append(
                f"[[tool.uv.index]] {url} is explicit (only for the packages whose source names "
                "it): carried in pip_indexes, which are searched for every package"
            )
    sources = {canonicalize_name(k): v for k, v in table(uv.get("sources")).items()}
    carried = []
    for text in pip:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            carried.append(text)  # validation says what is wrong with it
            continue
        source = sources.get(canonicalize_name(requirement.name))
        url = source_url(source) if isinstance(source, dict) else None
        if url is not None:
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            marker = f" ; {requirement.marker}" if requirement.marker else ""
            carried.append(f"{requirement.name}{extras} @ {url}{marker}")
            notes.append(f"{requirement.name}: from {url} ([tool.uv.sources])")
            continue
        index = source.get("index") if isinstance(source, dict) else None
        if index in names:
            notes.append(f"{requirement.name}: from {names[index]} (in pip_indexes)")
        elif source is not None:
            notes.append(
                f"{requirement.name}: source {source!r} is not carried ([tool.uv.sources]; "
                "a path, a workspace member or an index): resolved from the indexes"
            )
        carried.append(text)
    options.finish(carried, notes)
    return carried, options.indexes


def _poetry_sources(poetry: dict[str, Any], notes: list[str]) -> list[str]:
    """The pip indexes of Poetry's `[[tool.poetry.source]]` tables, carried as pip's index
    options are (PipOptions): a `primary` (or `default`) one in PyPI's place, the others
    (`supplemental`, `explicit`) searched before PyPI, not after it (noted); and a note for
    each dependency bound to a source (envc has no index per package)."""
    options = PipOptions()
    urls = {}
    for source in poetry.get("source") or []:
        entry = table(source)
        priority = entry.get("priority", "primary")
        primary = priority in ("primary", "default") or entry.get("default") is True
        url = options.index_table(source, "[[tool.poetry.source]] ", notes, instead_of_pypi=primary)
        if url is None:
            continue
        urls[entry.get("name")] = url
        if priority not in ("primary", "default"):
            notes.append(
                f"[[tool.poetry.source]] {url} ({priority}) is searched before PyPI, for "
                "every package (pip_indexes)"
            )
    for package, value in table(poetry.get("dependencies")).items():
        source = table(value).get("source")
        if isinstance(source, str):
            where = f"from {urls[source]}, in pip_indexes" if source in urls else "not carried"
            notes.append(f"{package}: source {source} is {where}")
    return options.indexes


def import_pyproject(file: Path, name: str | None = None) -> Imported:
    """A Python project's dependencies: PEP 621 `[project]`, Poetry's, and conda-lock's
    `[tool.conda-lock]` (channels, conda dependencies, platforms)."""
    data = read_toml(file)
    project, tool = table(data.get("project")), table(data.get("tool"))
    poetry, conda_lock = table(tool.get("poetry")), table(tool.get("conda-lock"))
    notes: list[str] = []
    pip = strings(project.get("dependencies"))
    poetry_deps = dict(table(poetry.get("dependencies")))
    python_constraints = [
        str(poetry_deps.pop("python", "")),
        str(project.get("requires-python", "")),
    ]
    python = next(filter(None, map(python_minor, python_constraints)), None)
    ranges = [c for c in python_constraints if c and not python_minor(c)]
    if ranges and not python:
        python = _python_in_range(file.parent, ranges[0], notes)
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
    if table(data.get("dependency-groups")):
        groups = ", ".join(sorted(table(data["dependency-groups"])))
        notes.append(f"dependency groups ({groups}) are not carried (development dependencies)")
    pip, indexes = _with_uv_sources(pip, table(tool.get("uv")), notes)
    indexes = list(dict.fromkeys(_poetry_sources(poetry, notes) + indexes))
    conda = [
        package
        if str(value).strip() in ("", "*")
        else f"{package} {bare_version_exact(str(value))}"
        for package, value in table(conda_lock.get("dependencies")).items()
    ]
    if not (pip or conda):
        raise EnvcError(f"{file}: no dependencies ([project], [tool.poetry] or [tool.conda-lock])")
    source_name = project.get("name") or poetry.get("name") or file.parent.name
    description = project.get("description") or poetry.get("description")
    manifest = new_manifest(
        manifest_name(name or str(source_name)),
        description=description.strip() if isinstance(description, str) else None,
        python=python,
        channels=strings(conda_lock.get("channels")),
        conda=conda,
        pip=pip,
        pip_indexes=indexes,
        platforms=strings(conda_lock.get("platforms")),
    )
    return Imported(manifest["name"], manifest, str(file), notes)
