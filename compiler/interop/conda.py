"""Conda environment files, spec lists and installed conda environments -> manifests."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop.common import (
    GENERIC_ENVIRONMENT_NAMES,
    Imported,
    NotAnEnvironment,
    PipOptions,
    conda_spec,
    editable_requirement,
    folder_name,
    is_editable,
    manifest_name,
    new_manifest,
    pip_requirement,
    read_bytes,
    read_mapping,
    read_text,
    strings,
)
from compiler.interop.images import catalog_cuda, cuda_of_specs

# `python=3.11`, `python==3.11.4`, `python 3.12.*`: a version the manifest's `python:` can carry.
_PYTHON_SPEC = re.compile(r"^python\s*(?:={1,2}|\s)\s*(3\.[0-9]{1,2}(?:\.[0-9]{1,3})?)(?:\.\*)?$")
_SELECTOR = re.compile(r"#\s*\[[^\]]+\]")
# Conda files whose name says nothing about the environment (the folder names it instead).
_GENERIC_STEMS = {"environment", "env", "conda", "conda_dependencies", "conda-dependencies"}
MAX_HISTORY_BYTES = 64 * 1024 * 1024
_CARRIED_KEYS = {"name", "channels", "dependencies", "variables", "platforms"}
_INCLUDE = re.compile(r"(?:-r|--requirement)(?:\s+|=)(\S+)")


def import_conda_environment(file: Path, name: str | None = None) -> Imported:
    """A conda environment file as a manifest."""
    return conda_environment(file, read_mapping(file), name)


def standalone_environment(file: Path, data: dict[str, Any], name: str | None) -> Imported:
    """A conda environment file imported on its own (no image decides its compute): one that
    pins a CUDA version (pytorch-cuda, cuda-version…) runs on a GPU, on the catalog's image of
    that CUDA, and locks with `__cuda`."""
    imported = conda_environment(file, data, name)
    found = cuda_of_specs(imported.manifest.get("conda", []))
    if found is None:
        return imported
    spec, floor = found
    cuda = catalog_cuda(floor)
    imported.notes.append(f"{spec!r} pins CUDA: compute: gpu, cuda: {cuda!r}")
    imported.manifest["docker"] = {"compute": "gpu", "cuda": cuda}
    return imported


# A conda spec list line as sagemaker-distribution writes them: channel::name[version='…'].
_BRACKET_SPEC = re.compile(
    r"^(?:(?P<channel>[\w./:-]+)::)?(?P<name>[\w.-]+)\[version=['\"](?P<version>[^'\"]+)['\"]\]$"
)


def is_conda_spec_list(text: str) -> bool:
    """Whether `text` reads as a `conda create --file` spec list rather than pip requirements:
    a line with a channel prefix (`conda-forge::numpy`) or a bracketed version."""
    return any(
        "::" in line or "[version=" in line
        for line in (raw.split("#", 1)[0].strip() for raw in text.splitlines())
    )


def import_conda_specs(file: Path, name: str | None = None) -> Imported:
    """A conda spec list (`conda create --file`, one MatchSpec per line) as a manifest; channel
    prefixes become the manifest's channels, in the order they first appear."""
    notes: list[str] = []
    conda: list[str] = []
    channels: list[str] = []
    python: str | None = None
    for line in read_text(file).splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        bracket = _BRACKET_SPEC.match(spec)
        channel = bracket.group("channel") if bracket else None
        if bracket:
            spec = f"{bracket.group('name')} {bracket.group('version')}"
        elif "::" in spec:
            channel, spec = spec.split("::", 1)
        if channel and channel not in channels:
            channels.append(channel)
        if "$" in spec:  # a build argument the file is templated with
            bare = re.split(r"[\s=<>!~]", spec, maxsplit=1)[0]
            notes.append(f"{spec!r} is a build-argument placeholder: imported as {bare!r}")
            spec = bare
        # conda's fuzzy `name=1.2.*` is `name 1.2.*` for strict MatchSpec parsers.
        spec = re.sub(r"^([\w.-]+)=(?!=)(\S+\.\*)$", r"\1 \2", spec)
        version = _PYTHON_SPEC.match(spec)
        if version and python is None:
            python = version.group(1)
        else:
            conda.append(conda_spec(spec, notes))
    stem = file.name.removesuffix(".in").removesuffix(".txt").replace(".", "-")
    manifest = new_manifest(
        manifest_name(name or f"{file.parent.name}-{stem}"),
        python=python,
        channels=channels,
        conda=conda,
    )
    return Imported(manifest["name"], manifest, str(file), notes)


def conda_environment(
    file: Path, data: dict[str, Any], name: str | None, text: str | None = None
) -> Imported:
    """A conda environment file's `data` as a manifest; `text` is the file's text when it is
    not on disk (platform selectors are comments, so only the text shows them)."""
    if not isinstance(data.get("dependencies"), list):
        raise NotAnEnvironment(
            f"{file}: not a conda environment file (no dependencies list), an Azure ML "
            "environment or a deployment with one"
        )
    notes: list[str] = []
    conda: list[str] = []
    pip: list[str] = []
    python: str | None = None
    options = PipOptions()
    for item in data.get("dependencies") or []:
        if isinstance(item, str):
            match = _PYTHON_SPEC.match(item.strip())
            if match and python is None:
                python = match.group(1)
            else:
                conda.append(conda_spec(item, notes))
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            for requirement in item["pip"]:
                if not isinstance(requirement, str):
                    notes.append(f"pip entry {requirement!r} is not a string: not imported")
                elif include := _INCLUDE.fullmatch(requirement.strip()):
                    pip += _included(file, include.group(1), notes, options)
                elif is_editable(requirement):
                    pip += filter(None, [editable_requirement(requirement, notes)])
                elif requirement.startswith("-"):
                    options.option(requirement, "pip ", notes)
                elif carried := pip_requirement(options.requirement(requirement), notes):
                    pip.append(carried)
        else:
            notes.append(f"dependency {item!r} is not carried")
    options.finish(pip, notes)
    for number, line in enumerate((read_text(file) if text is None else text).splitlines(), 1):
        if _SELECTOR.search(line):
            notes.append(f"{file.name}:{number}: platform selector not carried: {line.strip()}")
    for key in sorted(set(data) - _CARRIED_KEYS):
        what = (
            "set indexes in envc.yaml (pip.index_url)" if key == "pip-repositories" else "ignored"
        )
        notes.append(f"key {key!r} is not carried ({what})")
    source_name = data.get("name")
    if not isinstance(source_name, str) or source_name in GENERIC_ENVIRONMENT_NAMES:
        generic = file.stem.lower() in _GENERIC_STEMS
        folder = folder_name(file)
        source_name = folder if generic else f"{folder}-{file.stem}"
    variables = data.get("variables")
    channels = strings(data.get("channels"))
    if "nodefaults" in channels:  # conda's "add no defaults": envc never adds any
        notes.append("channel nodefaults is left out: envc adds no channel you do not list")
    manifest = new_manifest(
        manifest_name(name or source_name),
        python=python,
        channels=[channel for channel in channels if channel != "nodefaults"],
        conda=conda,
        pip=pip,
        pip_indexes=options.indexes,
        platforms=strings(data.get("platforms")),
        variables={str(k): str(v) for k, v in variables.items()}
        if isinstance(variables, dict)
        else {},
    )
    return Imported(manifest["name"], manifest, str(file), notes)


def _included(file: Path, reference: str, notes: list[str], options: PipOptions) -> list[str]:
    """The requirements of a pip section's `-r FILE` (relative to the environment file, as
    conda reads it), none above the environment file's folder."""
    from compiler.interop.requirements import requirements_in
    from compiler.validate.references import resolve_reference

    target, _ = resolve_reference(file.parent, file.parent, reference)
    if target is None or not target.is_file():
        notes.append(f"pip include -r {reference} not found beside {file.name}: not carried")
        return []
    return requirements_in(target, notes, options)


def conda_prefix(source: str) -> Path | None:
    """The conda environment `source` names: a prefix folder (with conda-meta/), or the name of
    an environment in the usual places (CONDA_ENVS_PATH, ~/.conda/envs, the common installs)."""
    path = Path(source).expanduser()
    if (path / "conda-meta").is_dir():
        return path
    if "/" in source or source.startswith("."):
        return None
    home = Path.home()
    places = [Path(p) for p in os.environ.get("CONDA_ENVS_PATH", "").split(os.pathsep) if p]
    places += [home / ".conda" / "envs"]
    places += [home / d / "envs" for d in ("miniforge3", "mambaforge", "miniconda3", "anaconda3")]
    places += [Path("/opt/conda/envs")]
    return next((p / source for p in places if (p / source / "conda-meta").is_dir()), None)


def import_conda_prefix(prefix: Path, name: str | None = None, history: bool = False) -> Imported:
    """An installed conda environment, read from its conda-meta records (py-rattler) and pip's
    dist-info folders; no conda needed. Full pins by default; with `history`, only what the
    user asked for (the records' requested specs, else conda-meta/history)."""
    from rattler import PrefixRecord

    notes: list[str] = []
    records = []
    for file in sorted((prefix / "conda-meta").glob("*.json")):
        try:
            records.append(PrefixRecord.from_path(file))
        except Exception as exc:  # py-rattler raises its own parse errors
            notes.append(f"{file.name}: not a conda record ({exc}); skipped")
    if not records:
        raise EnvcError(f"{prefix}: no conda package records in conda-meta/")
    channels: list[str] = []
    platforms: set[str] = set()
    pins: dict[str, str] = {}
    python: str | None = None
    for record in records:
        package = record.name.normalized
        channel = _channel_name(str(record.channel or ""))
        if channel and channel not in channels:
            channels.append(channel)
        if record.subdir and record.subdir != "noarch":
            platforms.add(record.subdir)
        if package == "python":
            python = str(record.version)
        else:
            pins[package] = f"{package} =={record.version} {record.build}"
    conda: list[str]
    if history:
        requested = _requested_specs(prefix, records)
        conda = [spec for spec in requested if not _PYTHON_SPEC.match(spec) and spec != "python"]
        version = next((_PYTHON_SPEC.match(s) for s in requested if _PYTHON_SPEC.match(s)), None)
        python = version.group(1) if version else ".".join((python or "").split(".")[:2]) or None
    else:
        conda = [pins[package] for package in sorted(pins)]
    pip = _pip_installed(prefix, notes)
    if pip:
        notes.append(f"{len(pip)} packages installed by pip (or uv) are imported as pip pins")
    manifest = new_manifest(
        manifest_name(name or prefix.name),
        python=python,
        channels=channels,
        conda=conda,
        pip=pip,
        platforms=sorted(platforms),
    )
    return Imported(manifest["name"], manifest, str(prefix), notes)


def _channel_name(url: str) -> str:
    """`https://conda.anaconda.org/conda-forge/linux-64` -> `conda-forge`; other URLs stay."""
    url = url.rstrip("/")
    for subdir in ("/noarch", "/linux-64", "/linux-aarch64", "/osx-64", "/osx-arm64", "/win-64"):
        url = url.removesuffix(subdir)
    return url.removeprefix("https://conda.anaconda.org/")


def _requested_specs(prefix: Path, records: list[Any]) -> list[str]:
    """What the user asked conda for: the records' requested specs, else conda-meta/history."""
    requested = [spec for record in records for spec in (record.requested_specs or [])]
    requested += [record.requested_spec for record in records if record.requested_spec]
    if not requested:
        history = prefix / "conda-meta" / "history"
        specs: dict[str, str] = {}
        if history.is_file():
            # (years of conda operations: more than a manifest's 1 MiB)
            text = read_bytes(history, MAX_HISTORY_BYTES).decode(errors="replace")
            for line in text.splitlines():
                match = re.match(r"# (update|install|create|remove) specs: (\[.*\])", line)
                if not match:
                    continue
                for spec in json.loads(match.group(2).replace("'", '"')):
                    package = re.split(r"[\s=<>!~\[]", spec, maxsplit=1)[0]
                    if match.group(1) == "remove":
                        specs.pop(package, None)
                    else:
                        specs[package] = spec
        requested = list(specs.values())
    return list(dict.fromkeys(requested))


def _pip_installed(prefix: Path, notes: list[str]) -> list[str]:
    """What pip, uv or another Python installer (not conda) installed into the prefix: a
    `name==version` pin, or, for a package installed from a repository or a URL (PEP 610's
    direct_url.json), that reference (`name @ git+URL@commit`, `name @ URL`); one installed from
    a local folder or file (the project's own code) is noted, not carried."""
    found = []
    for installer in sorted(prefix.glob("lib/python3*/site-packages/*.dist-info/INSTALLER")):
        if read_bytes(installer).decode(errors="replace").strip() in ("", "conda"):
            continue
        package, _, version = installer.parent.name.removesuffix(".dist-info").rpartition("-")
        if not package:
            continue
        name = package.replace("_", "-").lower()
        origin = _direct_url(installer.parent / "direct_url.json")
        if origin is None:
            found.append(f"{name}=={version}")
        elif not origin.isprintable() or " " in origin:  # a damaged record: it would not parse
            notes.append(f"{name} {version}: its direct_url.json names {origin!r}: not carried")
        elif origin.startswith("file:"):
            notes.append(
                f"{name} {version} was installed from the local {origin} (the project's own "
                "code): not carried"
            )
        else:
            found.append(f"{name} @ {origin}")
    return found


def _direct_url(file: Path) -> str | None:
    """Where a package was installed from, as a PEP 508 URL, by its direct_url.json (PEP 610);
    None when it came from an index (no such file, or one envc cannot read)."""
    try:
        data = json.loads(read_bytes(file))
    except (EnvcError, ValueError):
        return None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str):
        return None
    vcs = data.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        url = f"{vcs['vcs']}+{url}" + (f"@{commit}" if isinstance(commit, str) else "")
    if isinstance(data.get("subdirectory"), str):
        url += f"#subdirectory={data['subdirectory']}"
    return url


V1_FILE = "azureml_environment.json"
V1_CONDA_FILE = "conda_dependencies.yml"
V1_DOCKERFILE = "BaseDockerfile"
