"""Import from a pixi workspace (`pixi.toml`): its default environment and each environment of
`[environments]`, features merged in order.

What a manifest cannot say (per-platform tables, tasks, solve groups, system requirements other
than CUDA) is returned as notes, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop.common import (
    DEFAULT_PLATFORM,
    Imported,
    PipOptions,
    conda_spec,
    manifest_name,
    new_manifest,
    source_requirement,
    strings,
)
from compiler.interop.images import catalog_cuda
from compiler.interop.pyproject import bare_version_exact, python_minor, read_toml
from compiler.interop.pyproject import table as _table


def _conda_spec(package: str, value: Any, notes: list[str]) -> str | None:
    """A pixi dependency (`"1.1.*"`, `"*"`, `{version, build, channel}`) as a MatchSpec."""
    if isinstance(value, str):
        return package if value.strip() in ("", "*") else f"{package} {bare_version_exact(value)}"
    if isinstance(value, dict) and isinstance(value.get("version", "*"), str):
        version = value.get("version", "*")
        spec = package if version == "*" else f"{package} {bare_version_exact(version)}"
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
        return package if value.strip() in ("", "*") else f"{package}{bare_version_exact(value)}"
    if isinstance(value, dict) and {"path", "git", "url"} & set(value):
        return source_requirement(package, value, notes)
    if isinstance(value, dict):
        extras = strings(value.get("extras"))
        name = f"{package}[{','.join(extras)}]" if extras else package
        version = str(value.get("version", "*")).strip()
        return name if version == "*" else f"{name}{bare_version_exact(version)}"
    notes.append(f"pypi dependency {package} = {value!r} is not carried")
    return None


@dataclass
class _Feature:
    """What a pixi feature (or the top level, the default feature) says about packages."""

    python: str | None
    conda: list[str]
    pip: list[str]
    channels: list[str]
    platforms: list[str]
    variables: dict[str, str]
    cuda: str | None  # the CUDA of the base image, from system-requirements (see catalog_cuda)
    # `[target.<selector>]` tables: (their conda specs, pip requirements) by selector
    targets: dict[str, tuple[list[str], list[str]]]
    where: str  # how notes name it: `[feature.cuda]`, "" for the default feature
    # its `[pypi-options]` indexes; the default feature's: the workspace's, for every environment
    indexes: list[str] = field(default_factory=list)


def _channels(value: Any) -> list[str]:
    """pixi channels: names, URLs or `{channel = …, priority = …}` tables."""
    items = value if isinstance(value, list) else []
    names = [c if isinstance(c, str) else str(_table(c).get("channel", "")) for c in items]
    return [name for name in names if name]


# What envc carries of a feature table (and of the top level, the default feature).
_FEATURE_KEYS = {
    "dependencies",
    "pypi-dependencies",
    "channels",
    "platforms",
    "activation",
    "system-requirements",
    "target",
    "pypi-options",
}
# The platforms a `[target.<selector>]` table applies to, by the part before the first "-".
_FAMILIES = {"unix": {"linux", "osx"}, "linux": {"linux"}, "osx": {"osx"}, "win": {"win"}}


def _packages(table: dict[str, Any], notes: list[str]) -> tuple[list[str], list[str]]:
    """The conda specs and pip requirements of a table's `dependencies`/`pypi-dependencies`."""
    conda = [
        spec
        for package, value in _table(table.get("dependencies")).items()
        for spec in [conda_spec(_conda_spec(package, value, notes) or "", notes)]
        if spec
    ]
    pip = [
        requirement
        for package, value in _table(table.get("pypi-dependencies")).items()
        for requirement in [_pip_requirement(package, value, notes)]
        if requirement
    ]
    return conda, pip


def _target(where: str, selector: str) -> str:
    """How notes name a target table: `[feature.cuda.target.linux-64]`, `[target.osx-arm64]`."""
    return f"{where[:-1]}.target.{selector}]" if where else f"[target.{selector}]"


def _selects(selector: str, platform: str) -> bool:
    """Whether pixi's `[target.<selector>]` applies to `platform` (`linux-64`, `osx-arm64`…)."""
    family = platform.split("-", 1)[0]
    return selector == platform or family in _FAMILIES.get(selector, set())


def _feature(table: dict[str, Any], notes: list[str], where: str = "") -> _Feature:
    """A feature table (`where` names it in notes: `[feature.cuda]`; the top level: "")."""
    dependencies = dict(_table(table.get("dependencies")))
    # One Python minor becomes python:; a range stays a conda spec, which carries it as well.
    python = python_minor(str(dependencies.get("python", "")))
    if python:
        del dependencies["python"]
    conda, pip = _packages({**table, "dependencies": dependencies}, notes)
    targets = {}
    for selector, target in _table(table.get("target")).items():
        targets[selector] = _packages(_table(target), notes)
        for other in sorted(set(_table(target)) - {"dependencies", "pypi-dependencies"}):
            notes.append(f"{_target(where, selector)} {other} is not carried")
    options = PipOptions()  # `torch = { version = "*", index = "https://…/cu121" }`
    for package, value in _table(table.get("pypi-dependencies")).items():
        index = _table(value).get("index")
        if isinstance(index, str):
            options.index(index, f"{where} {package}: ".lstrip(), notes, instead_of_pypi=False)
            if index in options.indexes:
                notes.append(
                    f"{package}: index {index} is searched for every package (pip_indexes)"
                )
    return _Feature(
        python=python,
        conda=conda,
        pip=pip,
        channels=_channels(table.get("channels")),
        platforms=strings(table.get("platforms")),
        variables={
            str(k): str(v) for k, v in _table(_table(table.get("activation")).get("env")).items()
        },
        cuda=_system_requirements(_table(table.get("system-requirements")), where, notes),
        targets=targets,
        where=where,
        indexes=options.indexes,
    )


def _system_requirements(table: dict[str, Any], where: str, notes: list[str]) -> str | None:
    """The base image's CUDA for pixi's `cuda` floor; what else the table asks is noted."""
    prefix = f"{where[:-1]}.system-requirements]" if where else "[system-requirements]"
    others = sorted(set(table) - {"cuda"})
    if others:
        notes.append(f"{prefix} {', '.join(others)} are not carried")
    return None if table.get("cuda") is None else _cuda(table["cuda"], prefix, notes)


def _cuda(floor: Any, prefix: str, notes: list[str]) -> str | None:
    """The base image's CUDA for a pixi CUDA floor (`12`, `12.4`, `13.0.2`: its major.minor)."""
    found = re.fullmatch(r"(\d{1,2}(?:\.\d{1,2})?)(?:\.\d{1,3})?", str(floor))
    if found is None:
        notes.append(f"{prefix} cuda = {floor!r} is not a CUDA version: not carried")
        return None
    version = catalog_cuda(found[1])
    notes.append(f"{prefix} cuda = {floor!r}: compute: gpu, cuda: {version!r}")
    return version


def _gpu(cuda: str | None) -> dict[str, str] | None:
    return {"compute": "gpu", "cuda": cuda} if cuda else None


def _environment_features(spec: Any) -> tuple[list[str], bool] | None:
    """(features, without the default feature) of a pixi `[environments]` entry: a list of
    features or `{features = […], no-default-feature = …}`; None when it is neither."""
    if isinstance(spec, list) and all(isinstance(f, str) for f in spec):
        return spec, False
    features = _table(spec).get("features")
    if isinstance(features, list) and all(isinstance(f, str) for f in features):
        return features, bool(_table(spec).get("no-default-feature"))
    return None


def _platforms(value: Any, notes: list[str]) -> tuple[list[str], dict[str, tuple[str, str | None]]]:
    """The workspace's platforms, and its platform aliases: a table `{name, platform, cuda}`
    names `platform` (on a GPU of `cuda`) for the features that list `name`."""
    platforms, aliases = [], {}
    for item in value if isinstance(value, list) else []:
        entry = _table(item)
        if isinstance(item, str):
            platforms.append(item)
        elif isinstance(entry.get("name"), str) and isinstance(entry.get("platform"), str):
            cuda = entry.get("cuda")
            where = f"platform {entry['name']}:"
            aliases[entry["name"]] = (
                entry["platform"],
                _cuda(cuda, where, notes) if cuda else None,
            )
            for other in sorted(set(entry) - {"name", "platform", "cuda"}):
                notes.append(f"platform {entry['name']}: {other} = {entry[other]!r} is not carried")
    return list(dict.fromkeys(platforms)), aliases


def _aliased(feature: _Feature, aliases: dict[str, tuple[str, str | None]]) -> _Feature:
    """`feature` with its platform aliases as the platforms they name (their CUDA its own)."""
    named = [aliases[p] for p in feature.platforms if p in aliases]
    if not named:
        return feature
    feature.platforms = list(dict.fromkeys(aliases.get(p, (p, None))[0] for p in feature.platforms))
    feature.cuda = feature.cuda or next((cuda for _, cuda in named if cuda), None)
    return feature


def _environment(
    name: str,
    layers: list[_Feature],
    default: _Feature,
    channels: list[str],
    platforms: list[str],
    extends: str | None,
    notes: list[str],
) -> dict[str, Any]:
    """The manifest of an environment made of feature `layers` (merged in order): on top of
    manifest `extends`, or standing alone (with the workspace's channels, platforms, and
    Python when no layer names one). A layer's `[target.*]` table that applies to every
    platform the environment builds for is its own; another one is noted."""
    alone = extends is None
    own_platforms = next((f.platforms for f in reversed(layers) if f.platforms), [])
    builds_for = own_platforms or platforms or [DEFAULT_PLATFORM]
    conda = [spec for f in layers for spec in f.conda]
    pip = [requirement for f in layers for requirement in f.pip]
    for layer in layers:
        for selector, (target_conda, target_pip) in layer.targets.items():
            if all(_selects(selector, platform) for platform in builds_for):
                conda += target_conda
                pip += target_pip
            else:
                notes.append(
                    f"{name}: {_target(layer.where, selector)} dependencies are not carried "
                    f"({name} builds for {', '.join(builds_for)}; a manifest's packages are "
                    "the same on each)"
                )
    python = next((f.python for f in reversed(layers) if f.python), None)
    python = python or (default.python if alone else None)
    cuda = next((f.cuda for f in reversed(layers) if f.cuda), None)
    cuda = cuda or (default.cuda if alone else None)
    if alone and python and not conda and (pip or cuda):
        # pixi installs Python with conda and the PyPI packages into it: so does the manifest
        # (a GPU image has no Python of its own)
        conda = ["pip"]
    extra_channels = [c for f in layers for c in f.channels]
    own_indexes = [url for f in layers if f is not default for url in f.indexes]
    return new_manifest(
        name,
        extends=extends,
        python=python,
        # (a feature naming a workspace channel again adds nothing: pixi merges them)
        channels=list(dict.fromkeys(channels + extra_channels))
        if (extra_channels or alone)
        else [],
        conda=conda,
        pip=pip,
        # (replacing the inherited list, a companion's names the workspace's too)
        pip_indexes=list(dict.fromkeys(own_indexes + default.indexes))
        if (own_indexes or alone)
        else [],
        platforms=own_platforms or (platforms if alone else []),
        variables={k: v for f in layers for k, v in f.variables.items()},
        docker=_gpu(cuda),
    )


def _pypi_options(table: dict[str, Any], where: str, pip: list[str], notes: list[str]) -> list[str]:
    """The pip indexes of a `[pypi-options]` table (`where` names it), carried as pip's index
    options are (PipOptions, which notes what it cannot carry and the requirements of `pip`
    that this strands)."""
    options = PipOptions()
    index = table.get("index-url")
    for url in [index] if isinstance(index, str) else []:  # one index; extra ones in a list
        options.index(url, where, notes, instead_of_pypi=True)
    for url in strings(table.get("extra-index-urls")):
        options.index(url, where, notes, instead_of_pypi=False)
    for other in sorted(set(table) - {"index-url", "extra-index-urls"}):
        notes.append(f"{where}{other} is not carried")
    options.finish(pip, notes)
    return options.indexes


def has_pixi_tables(file: Path) -> bool:
    """Whether a pyproject.toml is a pixi manifest (`[tool.pixi.workspace]` or `.project`)."""
    pixi = _table(_table(read_toml(file).get("tool")).get("pixi"))
    return bool(_table(pixi.get("workspace")) or _table(pixi.get("project")))


def _from_pyproject(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """A pyproject.toml's pixi tables as pixi.toml has them (the workspace named and described
    by `[project]` when it does not say; `requires-python` the Python when its dependencies name
    none), and the PyPI requirements pixi takes from `[project]`: its dependencies (key "") and
    each optional-dependencies group and dependency group, which pixi makes a feature."""
    project = _table(data.get("project"))
    pixi = dict(_table(_table(data.get("tool")).get("pixi")))
    key = "workspace" if _table(pixi.get("workspace")) else "project"
    pixi[key] = {
        "name": project.get("name"),
        "description": project.get("description"),
        **_table(pixi.get(key)),
    }
    dependencies = _table(pixi.get("dependencies"))
    if "python" not in dependencies and isinstance(project.get("requires-python"), str):
        pixi["dependencies"] = {"python": project["requires-python"], **dependencies}
    groups = {"": strings(project.get("dependencies"))}
    for named in (
        _table(project.get("optional-dependencies")),
        _table(data.get("dependency-groups")),
    ):
        for group, requirements in named.items():
            groups.setdefault(group, []).extend(strings(requirements))
    return pixi, groups


def import_pixi(file: Path, name: str | None = None) -> Imported:
    """A pixi workspace: its default environment, and each environment of `[environments]` as
    a companion manifest that `extends` it (features merged in order; pixi adds a feature's
    channels to the workspace's, and so does the companion). A default environment made of
    features (`default = ["gpu"]`) is the workspace's manifest, and the companions then stand
    alone with the default feature, so that they do not inherit those features."""
    data = read_toml(file)
    groups: dict[str, list[str]] = {}
    if file.name == "pyproject.toml":
        data, groups = _from_pyproject(data)
    workspace = _table(data.get("workspace")) or _table(data.get("project"))
    if not workspace:
        raise EnvcError(f"{file}: not a pixi manifest (no [workspace] or [project] table)")
    notes: list[str] = []
    default = _feature(data, notes)
    default.pip = [*groups.pop("", []), *default.pip]
    channels = _channels(workspace.get("channels"))
    platforms, aliases = _platforms(workspace.get("platforms"), notes)
    description = workspace.get("description")
    base = manifest_name(name or str(workspace.get("name") or file.parent.name))
    features = {}
    for key, value in _table(data.get("feature")).items():
        where = f"[feature.{key}]"
        features[key] = _aliased(_feature(_table(value), notes, where), aliases)
        for other in sorted(set(_table(value)) - _FEATURE_KEYS):
            notes.append(f"{where} {other} is not carried")
        options = _table(_table(value).get("pypi-options"))
        wanted = [*default.pip, *features[key].pip]  # (its environments have the default's)
        features[key].indexes += _pypi_options(
            options, f"[feature.{key}.pypi-options] ", wanted, notes
        )
    for key, requirements in groups.items():  # pixi makes each group a feature (or adds to it)
        features.setdefault(key, _feature({}, notes, f"[feature.{key}]")).pip += requirements
    every_pip = [*default.pip, *(r for f in features.values() for r in f.pip)]
    workspace_options = _table(data.get("pypi-options"))
    default.indexes += _pypi_options(workspace_options, "[pypi-options] ", every_pip, notes)
    environments, used = {}, set()
    for environment, spec in _table(data.get("environments")).items():
        listed = _environment_features(spec)
        unknown = [f for f in listed[0] if f not in features] if listed else []
        if listed is None or unknown:
            why = f"unknown features {', '.join(unknown)}" if unknown else "not a list of features"
            notes.append(f"environment {environment} is not carried ({why})")
            continue
        environments[environment] = ([features[f] for f in listed[0]], listed[1])
        used.update(listed[0])
    # pixi's default environment: the default feature, and the features `default` lists
    chosen, alone = environments.pop("default", ([], False))
    redefined = bool(chosen) or alone
    manifest = _environment(
        base, ([] if alone else [default]) + chosen, default, channels, platforms, None, notes
    )
    if isinstance(description, str):  # after the name, where new_manifest puts it
        named = {"schema_version": manifest.pop("schema_version"), "name": manifest.pop("name")}
        manifest = {**named, "description": description, **manifest}
    companions = []
    for environment, (chosen, alone) in environments.items():
        layers = chosen if alone or not redefined else [default, *chosen]
        fields = _environment(
            manifest_name(f"{base}-{environment}"),
            layers,
            default,
            channels,
            platforms,
            None if alone or redefined else base,
            notes,
        )
        companions.append(Imported(fields["name"], fields, str(file), locked_as=environment))
    for feature in sorted(set(features) - used):
        notes.append(f"feature {feature} is in no environment: not carried")
    carried = _FEATURE_KEYS | {"workspace", "project", "feature", "environments"}
    for key in sorted(set(data) - carried):
        notes.append(f"[{key}] is not carried")
    return Imported(base, manifest, str(file), notes, companions=companions)
