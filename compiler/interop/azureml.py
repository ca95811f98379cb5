"""Azure ML environments -> manifests: CLI v2 YAML (and deployments), SDK v1 saved folders,
azureml-assets environment folders."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop.common import (
    Imported,
    NotAnEnvironment,
    folder_files,
    manifest_name,
    read_bytes,
    read_mapping,
    read_text,
    yaml_text,
)
from compiler.interop.conda import standalone_environment
from compiler.interop.images import base_image_settings, cuda_of_image
from compiler.interop.lift import IMAGE_TAG_PLACEHOLDER, lift_dockerfile

V1_FILE = "azureml_environment.json"
V1_CONDA_FILE = "conda_dependencies.yml"
V1_DOCKERFILE = "BaseDockerfile"
# An imported Dockerfile's name beside the manifest: not `Dockerfile`, which envc writes into
# the build context (a `COPY . .` in it would copy one over the other).
BASE_DOCKERFILE = "Dockerfile.base"


def import_yaml(file: Path, name: str | None = None) -> Imported:
    """A YAML file: an Azure ML v2 environment (or deployment), or a conda environment file."""
    data = read_mapping(file)
    if {"package", "metadata"} <= set(data):
        raise NotAnEnvironment(
            f"{file}: a conda-lock lockfile; import the environment file it was made from"
        )
    if isinstance(data.get("image"), dict) and not {"build", "conda_file"} & set(data):
        raise NotAnEnvironment(
            f"{file}: an azureml-assets environment.yaml (how the image is built and published); "
            "import the asset's folder"
        )
    if _is_azureml_v2(data):
        return _azureml_v2(file, data, name)
    return standalone_environment(file, data, name)


def _is_azureml_v2(data: Any) -> bool:
    """An Azure ML v2 environment, or a deployment with an inline one."""
    if not isinstance(data, dict) or "dependencies" in data:
        return False
    schema = str(data.get("$schema", ""))
    return bool({"image", "build", "environment"} & set(data)) or "azureml" in schema


def import_azureml_v2(file: Path, name: str | None = None) -> Imported:
    """An Azure ML CLI v2 environment (image, conda_file, build context) as a manifest, or the
    inline `environment:` of a v2 deployment; referenced files are copied beside it."""
    return _azureml_v2(file, read_mapping(file), name)


def _azureml_v2(file: Path, data: dict[str, Any], name: str | None) -> Imported:
    notes: list[str] = []
    if isinstance(data.get("environment"), str):  # a deployment of a registered environment
        raise NotAnEnvironment(
            f"{file}: a deployment of the registered environment {data['environment']}, whose "
            "definition is not here: import that environment's YAML (az ml environment show)"
        )
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
        docker.update(base_image_settings(data["image"]))
    if isinstance(data.get("conda_file"), str):
        conda_file = file.parent / data["conda_file"]
        if not conda_file.is_file():
            raise EnvcError(f"{file}: conda_file {data['conda_file']} does not exist")
        files[conda_file.name] = read_bytes(conda_file)
        manifest["conda_file"] = conda_file.name
    build = data.get("build")
    if isinstance(build, dict) and isinstance(build.get("path"), str):
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://|azureml:", build["path"]):  # https, git+, …
            raise EnvcError(
                f"{file}: a remote build context ({build['path']}) is not imported: fetch it "
                "and import from a copy whose build path is a local folder"
            )
        context = file.parent / build["path"]
        dockerfile = str(build.get("dockerfile_path") or "Dockerfile")
        if not (context / dockerfile).is_file():
            raise EnvcError(f"{file}: build context {build['path']} has no {dockerfile}")
        files.update(folder_files(context))
        docker["base_dockerfile"] = dockerfile
    if isinstance(data.get("conda_file"), dict):  # the conda environment itself, inline
        written = "conda.yaml" if "conda.yaml" not in files else "environment-conda.yaml"
        files[written] = yaml_text(data["conda_file"]).encode()
        manifest["conda_file"] = written
        notes.append(f"the inline conda_file is written as {written}")
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


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def import_azureml_v1(folder: Path, name: str | None = None) -> Imported:
    """An Azure ML SDK v1 environment as `Environment.save_to_directory` writes it: the JSON
    definition, `conda_dependencies.yml` and `BaseDockerfile` beside it."""
    try:
        data = json.loads(read_text(folder / V1_FILE))
    except ValueError as exc:
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
        files[V1_CONDA_FILE] = read_bytes(folder / V1_CONDA_FILE)
        manifest["conda_file"] = V1_CONDA_FILE
    settings: dict[str, Any] = {}
    enabled = docker.get("enabled", True) is not False
    dockerfile = docker.get("baseDockerfile")
    if (folder / V1_DOCKERFILE).is_file():
        files["Dockerfile"] = read_bytes(folder / V1_DOCKERFILE)
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
        settings.update(base_image_settings(docker["baseImage"]))
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
    `context/`). What its Dockerfile does to create its conda environment is lifted into the
    manifest, so envc locks it (lift.py); the rest stays as the base stage, `Dockerfile.base`.
    A Dockerfile that creates no environment of its own (it installs into its base image's
    Python) is kept whole, with user-managed dependencies. `{{latest-…}}` placeholders become
    unpinned specs and the `latest` tag, each noted."""
    asset = read_mapping(folder / "asset.yaml")
    if str(asset.get("type") or "environment") != "environment":
        raise NotAnEnvironment(f"{folder}: an azureml-assets {asset['type']}, not an environment")
    spec_file = folder / str(asset.get("spec") or "spec.yaml")
    spec = read_mapping(spec_file) if spec_file.is_file() else {}
    extra = folder / str(asset.get("extra_config") or "environment.yaml")
    image = _mapping((read_mapping(extra) if extra.is_file() else {}).get("image"))
    context_settings = _mapping(image.get("context"))
    context = folder / str(context_settings.get("dir") or "context")
    dockerfile = str(context_settings.get("dockerfile") or "Dockerfile")
    if not (context / dockerfile).is_file():
        raise EnvcError(f"{folder}: the asset's context has no {dockerfile}")
    text = read_text(context / dockerfile)
    manifest: dict[str, Any] = {
        "schema_version": 1,
        "name": manifest_name(name or str(asset.get("name") or folder.name)),
    }
    if isinstance(spec.get("description"), str):
        manifest["description"] = " ".join(spec["description"].split())
    if isinstance(spec.get("tags"), dict):
        manifest["tags"] = {str(k): str(v) for k, v in spec["tags"].items() if str(k).strip()}
    lifted = lift_dockerfile(text, context, dockerfile)
    if lifted is None:
        notes, files, python, docker = _kept_whole(text, context, dockerfile)
        manifest["python"] = python
    else:
        notes = [*lifted.report, *lifted.notes]
        files = {k: v for k, v in folder_files(context).items() if k not in lifted.files_used}
        files.pop(dockerfile, None)
        docker = {}
        if lifted.base_image:
            docker.update(base_image_settings(lifted.base_image))
        else:
            files[BASE_DOCKERFILE] = lifted.base_dockerfile.encode()
            docker["base_dockerfile"] = BASE_DOCKERFILE
            last_from = re.findall(r"^FROM\s+(?:--\S+\s+)*(\S+)", lifted.base_dockerfile, re.M)
            cuda = cuda_of_image(last_from[-1]) if last_from else None
            docker.update({"compute": "gpu", "cuda": cuda} if cuda else {})
        manifest.update(
            {
                key: value
                for key, value in (
                    ("python", lifted.python),
                    ("channels", lifted.channels),
                    ("conda", lifted.conda),
                    ("pip", lifted.pip),
                    ("pip_indexes", lifted.pip_options.indexes),
                )
                if value
            }
        )
        if lifted.variables:
            manifest["variables"] = lifted.variables
    manifest["docker"] = docker
    for key in ("test", "categories"):
        if key in asset:
            notes.append(f"asset.yaml {key!r} is not carried")
    if image.get("publish"):
        notes.append("environment.yaml 'publish' is not carried (see envc register)")
    return Imported(manifest["name"], manifest, str(folder / "asset.yaml"), notes, files)


def _kept_whole(
    text: str, context: Path, dockerfile: str
) -> tuple[list[str], dict[str, bytes], dict[str, Any], dict[str, Any]]:
    """A Dockerfile that installs into its base image's Python: kept whole as the base stage,
    user-managed, with its placeholders resolved (unpinned specs, the `latest` tag)."""
    notes: list[str] = []
    files = folder_files(context)
    for found in sorted(set(re.findall(r"\S*\{\{latest-[a-z-]+(?::.*?)?\}\}", text))):
        notes.append(f"{dockerfile}: {found} is a template placeholder: unpinned")
    text = IMAGE_TAG_PLACEHOLDER.sub(":latest", text)
    text = re.sub(r"(?:==|~=|>=)?\{\{latest-pypi-version\}\}", "", text)
    files.pop(dockerfile, None)
    files[BASE_DOCKERFILE] = text.encode()
    prefix = _dockerfile_variables(text).get("CONDA_PREFIX", "")
    python: dict[str, Any] = {"user_managed_dependencies": True}
    if prefix.startswith("/") and "$" not in prefix:
        python["interpreter_path"] = f"{prefix.rstrip('/')}/bin/python"
    else:
        notes.append("the Dockerfile sets no CONDA_PREFIX: set python.interpreter_path")
    notes.append(
        "the Dockerfile creates no environment of its own (it installs into its base image's "
        "Python), so envc does not lock it"
    )
    return notes, files, python, {"base_dockerfile": BASE_DOCKERFILE}


def _dockerfile_variables(text: str) -> dict[str, str]:
    """What the Dockerfile's ENV instructions set (the last value wins), read with BuildKit's
    parser: `ENV A=1 B=2` and `ENV A 1` alike."""
    import dockerfile

    try:
        instructions = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        return {}
    variables: dict[str, str] = {}
    for instruction in instructions:
        if instruction.cmd.upper() == "ENV":
            pairs = instruction.value
            variables.update(zip(pairs[0::2], pairs[1::2], strict=False))
    return variables
