"""Export an environment (its parents merged in) to where it runs.

Single files: a conda environment file (`conda-env`), pip requirements (`requirements`), and
the locked forms of one platform, which must be fresh: the explicit conda lock (`explicit`),
the hashed pip lock (`pip-locked`) and the PEP 751 lock (`pylock`). Folders: an Azure ML CLI
v2 environment (`azureml-v2`: the YAML, its conda file or a build context) and an Azure ML SDK
v1 saved environment (`azureml-v1`: what `Environment.save_to_directory` writes). What a format
cannot say is returned as notes. The Azure ML SDKs are not needed; with `azure-ai-ml`
installed (`envc[azureml]`), the v2 YAML is checked by loading it with that package.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

from compiler._util.files import shown_path
from compiler.errors import EnvcError, UsageError
from compiler.interop.common import read_text
from compiler.interop.images import AZUREML_CPU_IMAGE, AZUREML_GPU_IMAGES
from compiler.lock.inputs import (
    declared_packages,
    explicit_file,
    lock_inputs,
    pip_file,
    pylock_file,
)
from compiler.lock.lockfiles import locked_explicit, locked_versions
from compiler.lock.staleness import fresh_lockfiles
from compiler.manifest.model import Manifest
from compiler.render.output import FileContent
from compiler.validate.config import load_config

FILE_FORMATS = ("conda-env", "requirements", "explicit", "pip-locked", "pylock", "pixi-lock")
FOLDER_FORMATS = ("azureml-v2", "azureml-v1")
FORMATS = FILE_FORMATS + FOLDER_FORMATS
V2_SCHEMA = "https://azuremlschemas.azureedge.net/latest/environment.schema.json"
V2_FILE = "environment.yml"
V1_FILE, V1_CONDA_FILE, V1_DOCKERFILE = (
    "azureml_environment.json",
    "conda_dependencies.yml",
    "BaseDockerfile",
)


@dataclass
class Exported:
    files: dict[str, FileContent]  # relative path -> content ("" for a single-file format)
    notes: list[str] = field(default_factory=list)


def _yaml(document: dict[str, Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()


def _with_indexes(manifest: Manifest, pip: list[str]) -> list[str]:
    """Pip lines with the environment's own indexes first, as pip reads them in a requirements
    file or a conda file's pip section (`${VAR}` placeholders too: pip fills them)."""
    return [f"--extra-index-url {url}" for url in manifest.pip_indexes] + pip if pip else []


def conda_environment(manifest: Manifest, root: Path, standalone: bool = True) -> str | None:
    """The conda environment file of the manifest's packages (None when it has none); on its
    own (`standalone`) it also carries the platforms (for conda-lock) and the variables, which
    the Azure ML formats hold elsewhere or not at all."""
    channels, specs, pip = declared_packages(manifest, root)
    if not (specs or pip):
        return None
    document: dict[str, Any] = {"name": manifest.name}
    if channels:
        document["channels"] = channels
    version = manifest.python_version
    dependencies: list[Any] = [f"python={version}"] if version else []
    dependencies += specs
    if pip:
        dependencies.append({"pip": _with_indexes(manifest, pip)})
    document["dependencies"] = dependencies
    if standalone:
        document["platforms"] = list(manifest.platforms)  # conda-lock reads it; conda ignores it
        if manifest.variables:
            document["variables"] = dict(manifest.variables)
    return _yaml(document)


def _no_packages(manifest: Manifest) -> str:
    why = " (its dependencies are user-managed: the image's)" if manifest.user_managed else ""
    return f"{manifest.name}: has no packages to export{why}"


def _azure_conda_file(manifest: Manifest, root: Path, default_name: str) -> tuple[str, str] | None:
    """(file name, text) of the conda file an Azure ML format carries: the manifest's own
    `conda_file` as it is when it declares nothing beside it, else one generated from every
    declared package."""
    if manifest.conda_file and not (manifest.conda or manifest.pip or manifest.python_version):
        file = root / manifest.conda_file
        return file.name, read_text(file)
    text = conda_environment(manifest, root, standalone=False)
    return None if text is None else (default_name, text)


def _locked_conda_file(manifest: Manifest, root: Path, folder: Path) -> tuple[str, str] | None:
    """("conda.yml", text) pinning every package of the fresh linux-64 lock (conda records as
    name=version=build from their channels, pip as name==version); None without a fresh lock."""
    inputs = lock_inputs(manifest, root, load_config(root).channels)
    if inputs is None or "linux-64" not in inputs.platforms:
        return None
    try:
        texts = fresh_lockfiles(inputs, folder, shown_path(folder, root))
    except EnvcError:
        return None
    dependencies: list[Any] = [
        f"{name}={version}={build}" for name, version, build in locked_explicit(folder, "linux-64")
    ]
    pip = pip_file("linux-64")
    pins = locked_versions({pip: texts.get(pip, "")}).get(pip, {})
    if pins:
        pinned = [f"{name}=={version}" for name, version in pins.items()]
        dependencies.append({"pip": _with_indexes(manifest, pinned)})
    document = {"name": manifest.name, "channels": list(inputs.channels)}
    return "conda.yml", _yaml({**document, "dependencies": dependencies})


def _fresh_lockfile(manifest: Manifest, root: Path, folder: Path, file: str) -> str:
    """A committed lockfile of the environment, refused when stale or missing."""
    inputs = lock_inputs(manifest, root, load_config(root).channels)
    if inputs is None or file not in inputs.files():
        raise EnvcError(f"{manifest.name}: has no {file} (nothing of that kind to lock)")
    return fresh_lockfiles(inputs, folder, shown_path(folder, root))[file]


def export_environment(
    manifest: Manifest,
    root: Path,
    folder: Path,
    output_format: str,
    platform: str = "linux-64",
) -> Exported:
    """Environment `manifest` (resolved; its folder is `folder`) in `output_format`."""
    header = f"# Exported by envc from environment {manifest.name}.\n"
    if output_format == "conda-env":
        text = conda_environment(manifest, root)
        if text is None:
            raise EnvcError(_no_packages(manifest))
        return Exported({"": header + text})
    if output_format == "requirements":
        _, specs, pip = declared_packages(manifest, root)
        if not (specs or pip):
            raise EnvcError(_no_packages(manifest))
        if specs:
            header += f"# Not here (conda packages): {', '.join(specs)}\n"
        lines = _with_indexes(manifest, pip)
        return Exported({"": header + "".join(f"{line}\n" for line in lines)})
    locked = {"explicit": explicit_file, "pip-locked": pip_file, "pylock": pylock_file}
    if output_format in locked:
        if platform not in manifest.platforms:
            raise UsageError(f"{manifest.name} is not locked for {platform}")
        name = locked[output_format](platform)
        return Exported({"": _fresh_lockfile(manifest, root, folder, name)})
    if output_format == "pixi-lock":
        from compiler.interop.pixi_lock import pixi_lock

        inputs = lock_inputs(manifest, root, load_config(root).channels)
        if inputs is None:
            raise EnvcError(_no_packages(manifest))
        text, notes = pixi_lock(inputs, root, folder)
        return Exported({"": text}, notes)
    if output_format == "azureml-v2":
        return _azureml_v2(manifest, root, folder)
    if output_format == "azureml-v1":
        return _azureml_v1(manifest, root)
    raise UsageError(f"unknown export format {output_format!r}; one of {', '.join(FORMATS)}")


def _azureml_v2(manifest: Manifest, root: Path, folder: Path) -> Exported:
    notes: list[str] = []
    files: dict[str, FileContent] = {}
    document: dict[str, Any] = {"$schema": V2_SCHEMA, "name": manifest.name}
    if manifest.version is not None:
        document["version"] = str(manifest.version)
    if manifest.description:
        document["description"] = manifest.description
    if manifest.tags:
        document["tags"] = dict(manifest.tags)
    docker = manifest.docker
    if not docker.enabled:
        raise EnvcError(
            f"{manifest.name}: docker.enabled is false; an Azure ML environment is an image"
        )
    if docker.base_dockerfile:
        # Azure ML builds a context as it is: the one envc renders installs the locks on top
        # of the environment's own Dockerfile.
        from compiler.render.context import METADATA_FILE, repository_renderer

        rendered = repository_renderer(root)(manifest, folder)
        files.update({f"context/{n}": c for n, c in rendered.files.items() if n != METADATA_FILE})
        document["build"] = {"path": "context", "dockerfile_path": "Dockerfile"}
    else:
        if docker.base_image:
            document["image"] = docker.base_image
        else:
            document["image"] = _azureml_image(docker.compute, docker.cuda, notes)
        locked = _locked_conda_file(manifest, root, folder)
        conda = locked or _azure_conda_file(manifest, root, "conda.yml")
        if locked is not None:
            notes.append("conda.yml holds the linux-64 lock's pins: Azure ML does not solve again")
        elif conda is not None:
            notes.append(
                "not locked (or the lock is stale): conda.yml holds the specs, so Azure ML "
                "solves them again; run envc lock first to export the pins"
            )
        if conda is not None:
            name, text = conda
            if name == V2_FILE:  # the environment's own YAML takes that name
                name = "conda.yml"
                notes.append(f"conda_file {V2_FILE} is written as {name}")
            files[name] = text
            document["conda_file"] = name
    user_managed = manifest.python_settings if manifest.user_managed else None
    if user_managed:
        interpreter = user_managed.interpreter_path
        notes.append(
            "user-managed dependencies: Azure ML v2 uses the image as it is"
            + (f" (interpreter {interpreter} not recorded)" if interpreter else "")
        )
    if docker.base_image_registry:
        notes.append(
            f"base image registry {docker.base_image_registry.address}: attach it to the "
            "workspace (Azure ML v2 environments hold no credentials)"
        )
    if manifest.variables:
        notes.append(
            "variables are not carried: Azure ML v2 sets environment variables on jobs and "
            "deployments, not on environments"
        )
    if len(manifest.platforms) > 1:
        notes.append("platforms other than linux-64 are not carried (Azure ML builds Linux)")
    if docker.user:
        notes.append(f"docker.user {docker.user!r} is not carried")
    files[V2_FILE] = _yaml(document)
    _check_with_azure_ai_ml(files)
    return Exported(dict(sorted(files.items())), notes)


def _azureml_image(compute: str, cuda: str | None, notes: list[str]) -> str:
    """Azure ML's curated base image for the compute (and CUDA major version), noted."""
    if compute != "gpu":
        image = AZUREML_CPU_IMAGE
    else:
        major = (cuda or max(AZUREML_GPU_IMAGES, key=int)).split(".")[0]
        if major not in AZUREML_GPU_IMAGES:
            raise EnvcError(
                f"no Azure ML base image for CUDA {cuda}: set docker.base_image "
                f"(known CUDA major versions: {', '.join(sorted(AZUREML_GPU_IMAGES))})"
            )
        image = AZUREML_GPU_IMAGES[major]
    notes.append(f"image: Azure ML's {image}; set docker.base_image to choose another")
    return image


def _check_with_azure_ai_ml(files: dict[str, FileContent]) -> None:
    """Load the v2 environment with azure-ai-ml when it is installed (offline: no workspace)."""
    try:
        from azure.ai.ml import load_environment
    except ImportError:
        return
    with tempfile.TemporaryDirectory(prefix="envc-azureml-") as scratch:
        for name, content in files.items():
            path = Path(scratch, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        try:
            load_environment(source=str(Path(scratch, V2_FILE)))
        except Exception as exc:  # azure-ai-ml raises its own validation errors
            raise EnvcError(
                f"azure-ai-ml does not accept the exported environment: {exc}"
            ) from None


def _azureml_v1(manifest: Manifest, root: Path) -> Exported:
    notes: list[str] = []
    files: dict[str, FileContent] = {}
    docker = manifest.docker
    user_managed = manifest.python_settings if manifest.user_managed else None
    conda = _azure_conda_file(manifest, root, V1_CONDA_FILE)
    if conda is not None:
        files[V1_CONDA_FILE] = conda[1]  # SDK v1 reads it by this name
    if docker.base_dockerfile:
        text = read_text(root / docker.base_dockerfile)
        files[V1_DOCKERFILE] = text
        if any(line.lstrip().upper().startswith(("COPY ", "ADD ")) for line in text.splitlines()):
            notes.append(
                "the base Dockerfile copies files: an SDK v1 BaseDockerfile has no build "
                "context, so those files are not carried"
            )
    elif docker.enabled and not docker.base_image:
        notes.append("no base image: Azure ML picks its default image")
    registry = docker.base_image_registry
    definition: dict[str, Any] = {
        "name": manifest.name,
        "version": None if manifest.version is None else str(manifest.version),
        "environmentVariables": dict(manifest.variables),
        "python": {
            "userManagedDependencies": user_managed is not None,
            "interpreterPath": (user_managed.interpreter_path if user_managed else None)
            or "python",
            "condaDependenciesFile": None,
            "baseCondaEnvironment": None,
        },
        "docker": {
            "enabled": docker.enabled,
            "baseImage": docker.base_image,
            "baseDockerfile": None,  # saved beside the definition as BaseDockerfile
            "sharedVolumes": True,
            "shmSize": "2g",
            "arguments": [],
            "baseImageRegistry": {
                "address": registry.address if registry else None,
                "username": None,  # credentials are never exported
                "password": None,
            },
        },
        "spark": {"repositories": [], "packages": [], "precachePackages": True},
        "databricks": {
            "mavenLibraries": [],
            "pypiLibraries": [],
            "rcranLibraries": [],
            "jarLibraries": [],
            "eggLibraries": [],
        },
        "inferencingStackVersion": None,
    }
    if docker.compute == "gpu" and not (docker.base_image or docker.base_dockerfile):
        notes.append("compute: gpu is not carried: choose a GPU base image for SDK v1")
    if len(manifest.platforms) > 1:
        notes.append("platforms other than linux-64 are not carried")
    if docker.user:
        notes.append(f"docker.user {docker.user!r} is not carried")
    files[V1_FILE] = json.dumps(definition, indent=4) + "\n"
    return Exported(dict(sorted(files.items())), notes)
