"""Import environments from the formats they live in today (TOML formats: import_toml.py;
telling which format a source is: importing.py; export: export.py).

Import: a conda `environment.yml` (channels, conda and nested pip dependencies, `name`,
`variables`, conda-lock's `platforms`), a conda spec list, a pip `requirements.txt` (with `-r`
includes), an installed conda environment, an Azure ML SDK v1 saved environment, an Azure ML CLI v2
environment (`image`, `conda_file`, `build.path`; referenced files are copied) or an
azureml-assets environment folder becomes a manifest. What a manifest cannot say is never
dropped silently: each import returns notes (platform selectors, `pip-repositories` and index
options, editable installs, azureml-assets' `{{latest-…}}` placeholders kept as unpinned specs,
unknown keys).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError, UsageError
from compiler.load.yamlio import read_yaml
from compiler.lock.lockfiles import write_atomically
from compiler.manifest.patterns import NAME_PATTERN
from compiler.validate.references import logical_lines, resolve_reference

MANIFEST_FILENAME = "env.yaml"
DEFAULT_PLATFORM = "linux-64"
# `python=3.11`, `python==3.11.4`, `python 3.12.*`: a version the manifest's `python:` can carry.
_PYTHON_SPEC = re.compile(r"^python\s*(?:={1,2}|\s)\s*(3\.[0-9]{1,2}(?:\.[0-9]{1,3})?)(?:\.\*)?$")
# azureml-assets' templating: `name=={{latest-pypi-version}}`, resolved at their build time.
_PLACEHOLDER = re.compile(r"\s*(?:={1,2}|~=|>=|<=)?\s*\{\{[^}]*\}\}")
_SELECTOR = re.compile(r"#\s*\[[^\]]+\]")
_NAMELESS_URL = re.compile(r"^(?:git\+|hg\+|svn\+|bzr\+|https?://|file:)")
# Conda files whose name says nothing about the environment (the folder names it instead).
_GENERIC_STEMS = {"environment", "env", "conda", "conda_dependencies", "conda-dependencies"}
_CARRIED_KEYS = {"name", "channels", "dependencies", "variables", "platforms"}


@dataclass
class Imported:
    name: str
    manifest: dict[str, Any]
    source: str
    notes: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # copied beside the manifest
    # Other environments the same source defines (a pixi workspace's), written with it.
    companions: list[Imported] = field(default_factory=list)


def manifest_name(text: str) -> str:
    """`text` made a valid environment name (lower case, runs of other characters as '-')."""
    name = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:64].strip("-._")
    if not re.match(NAME_PATTERN, name):
        raise UsageError(f"cannot make an environment name of {text!r}; pass --name")
    return name


def strings(value: Any) -> list[str]:
    """The strings of a YAML sequence or TOML array; anything else (a string too) holds none."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def new_manifest(name: str, **fields: Any) -> dict[str, Any]:
    """A manifest of `name` with `fields` in the order given; empty ones, and platforms that
    are just the default (unless a parent's would be inherited instead), are left out."""
    manifest: dict[str, Any] = {"schema_version": 1, "name": name}
    implied = None if fields.get("extends") else [DEFAULT_PLATFORM]
    for key, value in fields.items():
        if value and not (key == "platforms" and list(value) == implied):
            manifest[key] = value
    return manifest


def _unpinned(spec: str, notes: list[str]) -> str:
    if "{{" not in spec:
        return spec
    bare = _PLACEHOLDER.sub("", spec).strip()
    notes.append(f"{spec!r} is a template placeholder: imported as {bare!r} (unpinned)")
    return bare


def _read_mapping(file: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping; its first problem is an error at path:line:col."""
    document = read_yaml(file, str(file))
    if document.diagnostics:
        d = document.diagnostics[0]
        raise EnvcError(f"{d.path}:{d.line}:{d.col}: error: {d.message}")
    if not isinstance(document.data, dict):
        raise EnvcError(f"{file}:1:1: error: expected a mapping at the top")
    return document.data


def _text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise EnvcError(f"{file}: not UTF-8 text") from None


def _folder_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its '/'-separated path inside it."""
    return {
        item.relative_to(folder).as_posix(): item.read_bytes()
        for item in sorted(folder.rglob("*"))
        if item.is_file()
    }


def import_conda_environment(file: Path, name: str | None = None) -> Imported:
    """A conda environment file as a manifest."""
    return _conda_environment(file, _read_mapping(file), name)


def import_yaml(file: Path, name: str | None = None) -> Imported:
    """A YAML file: an Azure ML v2 environment (or deployment), or a conda environment file."""
    data = _read_mapping(file)
    if {"package", "metadata"} <= set(data):
        raise EnvcError(
            f"{file}: a conda-lock lockfile; import the environment file it was made from"
        )
    if _is_azureml_v2(data):
        return _azureml_v2(file, data, name)
    return _conda_environment(file, data, name)


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
    for line in _text(file).splitlines():
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
            conda.append(_unpinned(spec, notes))
    stem = file.name.removesuffix(".in").removesuffix(".txt").replace(".", "-")
    manifest = new_manifest(
        manifest_name(name or f"{file.parent.name}-{stem}"),
        python=python,
        channels=channels,
        conda=conda,
    )
    return Imported(manifest["name"], manifest, str(file), notes)


def _conda_environment(file: Path, data: dict[str, Any], name: str | None) -> Imported:
    if not isinstance(data.get("dependencies"), list):
        raise EnvcError(
            f"{file}: not a conda environment file (no dependencies list), an Azure ML "
            "environment or a deployment with one"
        )
    notes: list[str] = []
    conda: list[str] = []
    pip: list[str] = []
    python: str | None = None
    for item in data.get("dependencies") or []:
        if isinstance(item, str):
            match = _PYTHON_SPEC.match(item.strip())
            if match and python is None:
                python = match.group(1)
            else:
                conda.append(_unpinned(item.strip(), notes))
        elif isinstance(item, dict) and isinstance(item.get("pip"), list):
            for requirement in item["pip"]:
                if not isinstance(requirement, str):
                    notes.append(f"pip entry {requirement!r} is not a string: not imported")
                elif requirement.startswith("-"):
                    notes.append(f"pip option {requirement!r} is not carried (see envc.yaml's pip)")
                elif _NAMELESS_URL.match(requirement):
                    notes.append(
                        f"{requirement!r} is not carried: a URL requirement needs a name "
                        "(NAME @ URL)"
                    )
                else:
                    pip.append(_unpinned(requirement.strip(), notes))
        else:
            notes.append(f"dependency {item!r} is not carried")
    for number, line in enumerate(_text(file).splitlines(), start=1):
        if _SELECTOR.search(line):
            notes.append(f"{file.name}:{number}: platform selector not carried: {line.strip()}")
    for key in sorted(set(data) - _CARRIED_KEYS):
        what = (
            "set indexes in envc.yaml (pip.index_url)" if key == "pip-repositories" else "ignored"
        )
        notes.append(f"key {key!r} is not carried ({what})")
    source_name = data.get("name")
    if not isinstance(source_name, str):
        generic = file.stem.lower() in _GENERIC_STEMS
        source_name = file.parent.name if generic else f"{file.parent.name}-{file.stem}"
    variables = data.get("variables")
    manifest = new_manifest(
        manifest_name(name or source_name),
        python=python,
        channels=strings(data.get("channels")),
        conda=conda,
        pip=pip,
        platforms=strings(data.get("platforms")),
        variables={str(k): str(v) for k, v in variables.items()}
        if isinstance(variables, dict)
        else {},
    )
    return Imported(manifest["name"], manifest, str(file), notes)


def import_requirements(file: Path, name: str | None = None, python: str | None = None) -> Imported:
    """A pip requirements file (and the files it includes with -r) as a pip-only manifest for
    Python `python` (X.Y), which the file itself cannot say."""
    notes: list[str] = []
    pip = _requirements(file, file.parent, notes, set())
    if not python:
        notes.append(
            "a requirements file does not say which Python: pass --python X.Y "
            "or set python: in the manifest"
        )
    manifest = new_manifest(manifest_name(name or file.parent.name), python=python, pip=pip)
    return Imported(manifest["name"], manifest, str(file), notes)


def _requirements(file: Path, root: Path, notes: list[str], seen: set[Path]) -> list[str]:
    seen.add(file.resolve())
    found: list[str] = []
    for number, _, content in logical_lines(_text(file)):
        include = re.fullmatch(r"(?:-r|--requirement)(?:\s+|=)(\S+)", content)
        if include:
            target, _ = resolve_reference(root, file.parent, include.group(1))
            if target is None or not target.is_file():
                notes.append(f"{file.name}:{number}: include {include.group(1)} not found")
            elif target.resolve() not in seen:
                found += _requirements(target, root, notes, seen)
        elif content.startswith("-"):
            notes.append(f"{file.name}:{number}: option {content.split()[0]} is not carried")
        else:
            requirement = re.sub(r"\s--hash[=\s]\S+", "", content).strip()
            found.append(_unpinned(requirement, notes))
    return found


def _is_azureml_v2(data: Any) -> bool:
    """An Azure ML v2 environment, or a deployment with an inline one."""
    if not isinstance(data, dict) or "dependencies" in data:
        return False
    schema = str(data.get("$schema", ""))
    return bool({"image", "build", "environment"} & set(data)) or "azureml" in schema


def import_azureml_v2(file: Path, name: str | None = None) -> Imported:
    """An Azure ML CLI v2 environment (image, conda_file, build context) as a manifest, or the
    inline `environment:` of a v2 deployment; referenced files are copied beside it."""
    return _azureml_v2(file, _read_mapping(file), name)


def _azureml_v2(file: Path, data: dict[str, Any], name: str | None) -> Imported:
    notes: list[str] = []
    if isinstance(data.get("environment"), dict):  # a deployment: its inline environment
        notes.append(
            f"{file.name} is a deployment: only its environment is imported "
            f"({', '.join(sorted(k for k in data if k not in ('$schema', 'environment')))} not "
            "carried)"
        )
        data = data["environment"]
    files: dict[str, bytes] = {}
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "name": manifest_name(name or str(data.get("name") or file.stem)),
    }
    if isinstance(data.get("description"), str):
        manifest["description"] = data["description"]
    if isinstance(data.get("version"), int) or str(data.get("version", "")).isdigit():
        manifest["version"] = int(data["version"])
    if isinstance(data.get("tags"), dict):
        manifest["tags"] = {str(k): str(v) for k, v in data["tags"].items()}
    docker: dict[str, Any] = {}
    if isinstance(data.get("image"), str):
        docker["base_image"] = data["image"]
    if isinstance(data.get("conda_file"), str):
        conda_file = file.parent / data["conda_file"]
        if not conda_file.is_file():
            raise EnvcError(f"{file}: conda_file {data['conda_file']} does not exist")
        files[conda_file.name] = conda_file.read_bytes()
        manifest["conda_file"] = conda_file.name
    build = data.get("build")
    if isinstance(build, dict) and isinstance(build.get("path"), str):
        context = file.parent / build["path"]
        dockerfile = str(build.get("dockerfile_path") or "Dockerfile")
        if not (context / dockerfile).is_file():
            raise EnvcError(f"{file}: build context {build['path']} has no {dockerfile}")
        files.update(_folder_files(context))
        docker["base_dockerfile"] = dockerfile
    if docker:
        manifest["docker"] = docker
    if str(data.get("os_type", "linux")).lower() != "linux":
        notes.append(f"os_type {data['os_type']!r} is not carried: envc builds Linux images")
    for key in sorted(
        set(data)
        - {
            "$schema",
            "name",
            "description",
            "version",
            "tags",
            "image",
            "conda_file",
            "build",
            "os_type",
        }
    ):
        notes.append(f"key {key!r} is not carried")
    return Imported(manifest["name"], manifest, str(file), notes, files)


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
    pip = _pip_installed(prefix)
    if pip:
        notes.append(f"{len(pip)} packages installed by pip are imported as pip pins")
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
            for line in history.read_text(encoding="utf-8", errors="replace").splitlines():
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


def _pip_installed(prefix: Path) -> list[str]:
    """`name==version` of the packages pip installed into the prefix (INSTALLER says pip)."""
    pins = []
    for installer in sorted(prefix.glob("lib/python3*/site-packages/*.dist-info/INSTALLER")):
        if installer.read_text(encoding="utf-8", errors="replace").strip() != "pip":
            continue
        stem = installer.parent.name.removesuffix(".dist-info")
        package, _, version = stem.rpartition("-")
        if package:
            pins.append(f"{package.replace('_', '-').lower()}=={version}")
    return pins


V1_FILE = "azureml_environment.json"
V1_CONDA_FILE = "conda_dependencies.yml"
V1_DOCKERFILE = "BaseDockerfile"


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def import_azureml_v1(folder: Path, name: str | None = None) -> Imported:
    """An Azure ML SDK v1 environment as `Environment.save_to_directory` writes it: the JSON
    definition, `conda_dependencies.yml` and `BaseDockerfile` beside it."""
    try:
        data = json.loads((folder / V1_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EnvcError(f"{folder / V1_FILE}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EnvcError(f"{folder / V1_FILE}: not an Azure ML environment definition")
    notes: list[str] = []
    files: dict[str, bytes] = {}
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "name": manifest_name(name or str(data.get("name") or folder.name)),
    }
    if str(data.get("version") or "").isdigit():
        manifest["version"] = int(data["version"])
    python, docker = _mapping(data.get("python")), _mapping(data.get("docker"))
    if python.get("userManagedDependencies"):
        interpreter = str(python.get("interpreterPath") or "")
        managed: dict[str, Any] = {"user_managed_dependencies": True}
        if interpreter.startswith("/"):
            managed["interpreter_path"] = interpreter
        else:
            notes.append(f"interpreterPath {interpreter!r} is not absolute: set interpreter_path")
        manifest["python"] = managed
    elif (folder / V1_CONDA_FILE).is_file():
        files[V1_CONDA_FILE] = (folder / V1_CONDA_FILE).read_bytes()
        manifest["conda_file"] = V1_CONDA_FILE
    settings: dict[str, Any] = {}
    enabled = docker.get("enabled", True) is not False
    dockerfile = docker.get("baseDockerfile")
    if (folder / V1_DOCKERFILE).is_file():
        files["Dockerfile"] = (folder / V1_DOCKERFILE).read_bytes()
    elif isinstance(dockerfile, str) and dockerfile.strip():
        files["Dockerfile"] = dockerfile.encode()
    if not enabled:
        settings["enabled"] = False
        if docker.get("baseImage") or "Dockerfile" in files:
            notes.append("docker is disabled: its base image and Dockerfile are not carried")
            files.pop("Dockerfile", None)
    elif "Dockerfile" in files:
        settings["base_dockerfile"] = "Dockerfile"
    elif isinstance(docker.get("baseImage"), str):
        settings["base_image"] = docker["baseImage"]
    registry = _mapping(docker.get("baseImageRegistry"))
    if enabled and registry.get("address"):
        settings["base_image_registry"] = {
            "address": registry["address"],
            "username": "${BASE_IMAGE_REGISTRY_USERNAME}",
            "password": "${BASE_IMAGE_REGISTRY_PASSWORD}",
        }
        notes.append(
            "base image registry credentials are never imported: set BASE_IMAGE_REGISTRY_USERNAME "
            "and BASE_IMAGE_REGISTRY_PASSWORD where envc runs"
        )
    if settings:
        manifest["docker"] = settings
    variables = data.get("environmentVariables")
    if isinstance(variables, dict) and variables:
        manifest["variables"] = {str(k): str(v) for k, v in variables.items()}
    # Options of `docker run`, not of the image (their SDK defaults say nothing).
    for key, default in (("shmSize", None), ("arguments", []), ("sharedVolumes", True)):
        if docker.get(key) not in (default, None, "2g"):
            notes.append(f"docker.{key} {docker[key]!r} is a run option, not carried")
    for section in ("spark", "databricks"):
        if any(v for v in _mapping(data.get(section)).values() if isinstance(v, list)):
            notes.append(f"{section} settings are not carried")
    if data.get("inferencingStackVersion"):
        notes.append("inferencingStackVersion is not carried")
    return Imported(manifest["name"], manifest, str(folder / V1_FILE), notes, files)


def import_azureml_asset(folder: Path, name: str | None = None) -> Imported:
    """An azureml-assets environment folder (`asset.yaml`, `spec.yaml`, `environment.yaml`,
    `context/`): its Dockerfile is the recipe, so the manifest builds on it with user-managed
    dependencies; the context is copied. `{{latest-…}}` placeholders become unpinned specs and
    the `latest` tag, each noted."""
    asset = _read_mapping(folder / "asset.yaml")
    spec_file = folder / str(asset.get("spec") or "spec.yaml")
    spec = _read_mapping(spec_file) if spec_file.is_file() else {}
    extra = folder / str(asset.get("extra_config") or "environment.yaml")
    image = _mapping((_read_mapping(extra) if extra.is_file() else {}).get("image"))
    context_settings = _mapping(image.get("context"))
    context = folder / str(context_settings.get("dir") or "context")
    dockerfile = str(context_settings.get("dockerfile") or "Dockerfile")
    if not (context / dockerfile).is_file():
        raise EnvcError(f"{folder}: the asset's context has no {dockerfile}")
    notes: list[str] = []
    files = _folder_files(context)
    text = _text(context / dockerfile)
    for found in sorted(set(re.findall(r"\S*\{\{latest-[a-z-]+\}\}", text))):
        notes.append(f"{dockerfile}: {found} is a template placeholder: unpinned")
    text = re.sub(r":\{\{latest-image-tag\}\}", ":latest", text)
    text = re.sub(r"(?:==|~=|>=)?\{\{latest-pypi-version\}\}", "", text)
    files[dockerfile] = text.encode()
    prefix = re.search(r"^ENV CONDA_PREFIX=(/\S+)$", text, re.M)
    python: dict[str, Any] = {"user_managed_dependencies": True}
    if prefix:
        python["interpreter_path"] = f"{prefix.group(1)}/bin/python"
    else:
        notes.append("the Dockerfile sets no CONDA_PREFIX: set python.interpreter_path")
    notes.append(
        "packages are installed by the asset's Dockerfile, so envc does not lock them; "
        "import its conda file on its own to lock them"
    )
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "name": manifest_name(name or str(asset.get("name") or folder.name)),
    }
    if isinstance(spec.get("description"), str):
        manifest["description"] = " ".join(spec["description"].split())
    if isinstance(spec.get("tags"), dict):
        manifest["tags"] = {str(k): str(v) for k, v in spec["tags"].items() if str(k).strip()}
    manifest["python"] = python
    manifest["docker"] = {"base_dockerfile": dockerfile}
    for key in ("test", "categories"):
        if key in asset:
            notes.append(f"asset.yaml {key!r} is not carried")
    if image.get("publish"):
        notes.append("environment.yaml 'publish' is not carried (see envc register)")
    return Imported(manifest["name"], manifest, str(folder / "asset.yaml"), notes, files)


def manifest_text(imported: Imported) -> str:
    """The manifest as YAML, with a header naming its source."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = StringIO()
    yaml.dump(imported.manifest, buffer)
    header = f"# Imported by envc from {Path(imported.source).name}.\n"
    return header + buffer.getvalue()


def write_imported(imported: Imported, into: Path, force: bool = False) -> list[Path]:
    """Write environments/<name>/env.yaml under `into` for the import and its companions
    (each atomically; none when any would replace an existing manifest, unless `force`)."""
    every = [imported, *imported.companions]
    targets = [into / each.name / MANIFEST_FILENAME for each in every]
    taken = [target for target in targets if target.exists()]
    if taken and not force:
        raise UsageError(f"{taken[0]} exists; pass --force to replace it")
    for each, target in zip(every, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        for relative, content in sorted(each.files.items()):
            copy = target.parent / relative
            copy.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(copy, content)
        write_atomically(target, manifest_text(each))
    return targets
