"""SDK v1's `Environment`: the same attributes and calls, landing as a manifest in git.

An environment holds what SDK v1's did (`python`, `docker`, `environment_variables`); `register`,
`save` and `save_to_directory` turn it into a manifest through `definition()`, and `get`, `list`
and `load_from_directory` turn manifests back into environments through `from_manifest()`.
What SDK v1 could say but a manifest cannot (run options, a relative interpreter, pip options)
is listed in `notes`, never dropped silently.
"""

from __future__ import annotations

import builtins
import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.azureml.conda_dependencies import CondaDependencies, dependencies_of
from compiler.azureml.runconfig import DEFAULT_CPU_IMAGE, DEFAULT_GPU_IMAGE
from compiler.azureml.sections import (
    ContainerRegistry,
    DatabricksSection,
    DockerSection,
    PythonSection,
    RSection,
    SparkSection,
)
from compiler.errors import EnvcError
from compiler.interop.common import Imported, manifest_name, new_manifest
from compiler.interop.images import base_image_settings

if TYPE_CHECKING:
    from compiler.azureml.workspace import Workspace
    from compiler.registry.base import EnvironmentRecord

# SDK v1's `azureml.core.environment` has these names too (`from … import DEFAULT_CPU_IMAGE`).
__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "DatabricksSection",
    "DockerSection",
    "Environment",
    "InvalidEnvironment",
    "PythonSection",
    "RSection",
    "SparkSection",
]
BASE_DOCKERFILE = "Dockerfile"
# Manifest fields SDK v1 has no attribute for: kept as they were through get/clone/register.
_CARRIED = ("description", "tags", "extends", "platforms")
_CREDENTIAL_VARIABLES = {
    "username": "BASE_IMAGE_REGISTRY_USERNAME",
    "password": "BASE_IMAGE_REGISTRY_PASSWORD",
}


class InvalidEnvironment(EnvcError):
    """A definition the manifest schema or rules refuse; `findings` are `path:line:col: …`."""

    def __init__(self, findings: list[str]) -> None:
        super().__init__("\n".join(findings))
        self.findings = findings


class Environment:
    """An environment being defined, or one read back from the registry (`version` set)."""

    def __init__(self, name: str, **_ignored: Any) -> None:
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        # Sections SDK v1 has and a manifest does not: set ones are noted (definition()).
        self.spark = SparkSection()
        self.databricks = DatabricksSection()
        self.r: Any = None
        self.inferencing_stack_version: str | None = None
        self.notes: list[str] = []  # what the sources said that a manifest cannot carry
        self._carried: dict[str, Any] = {}
        self._record: EnvironmentRecord | None = None

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"

    # Constructors (SDK v1's static methods).

    @staticmethod
    def from_conda_specification(name: str, file_path: str | os.PathLike[str]) -> Environment:
        environment = Environment(name)
        environment.python.conda_dependencies = CondaDependencies(file_path)
        return environment

    @staticmethod
    def from_pip_requirements(
        name: str, file_path: str | os.PathLike[str], pip_version: str | None = None
    ) -> Environment:
        from compiler.interop.requirements import import_requirements

        file = _source(file_path, "requirements file")
        imported = import_requirements(file, manifest_name(name))
        dependencies = dependencies_of(imported.manifest)
        if pip_version:
            dependencies.add_conda_package(f"pip={pip_version}")
        # A requirements file cannot say which Python: set_python_version says it here.
        dependencies.notes = [n for n in imported.notes if "does not say which Python" not in n]
        environment = Environment(name)
        environment.python.conda_dependencies = dependencies
        return environment

    @staticmethod
    def from_existing_conda_environment(
        name: str, conda_environment_name: str, from_history: bool = False
    ) -> Environment:
        """An installed conda environment (a name or a prefix), pinned as installed."""
        from compiler.interop.conda import conda_prefix, import_conda_prefix

        prefix = conda_prefix(conda_environment_name)
        if prefix is None:
            raise EnvcError(f"no conda environment {conda_environment_name!r} found")
        imported = import_conda_prefix(prefix, manifest_name(name), from_history)
        return Environment.from_manifest({**imported.manifest, "name": name}, notes=imported.notes)

    @staticmethod
    def add_private_pip_wheel(
        workspace: Workspace, file_path: str | os.PathLike[str], exist_ok: bool = False
    ) -> str:
        """The wheel kept in the repository (Workspace.add_wheel); the requirement to add."""
        return workspace.add_wheel(file_path, exist_ok)

    @staticmethod
    def from_docker_image(
        name: str,
        image: str,
        container_registry: ContainerRegistry | None = None,
        conda_specification: str | os.PathLike[str] | None = None,
        pip_requirements: str | os.PathLike[str] | None = None,
    ) -> Environment:
        environment = _with_packages(name, conda_specification, pip_requirements)
        environment.docker.base_image = image
        if container_registry is not None:
            environment.docker.base_image_registry = container_registry
        return environment

    @staticmethod
    def from_dockerfile(
        name: str,
        dockerfile: str | os.PathLike[str],
        conda_specification: str | os.PathLike[str] | None = None,
        pip_requirements: str | os.PathLike[str] | None = None,
    ) -> Environment:
        environment = _with_packages(name, conda_specification, pip_requirements)
        environment.docker.base_dockerfile = dockerfile
        return environment

    @staticmethod
    def load_from_directory(path: str | os.PathLike[str]) -> Environment:
        """What `save_to_directory` (or SDK v1's) wrote."""
        from compiler.interop.azureml import import_azureml_v1

        folder = Path(path)
        imported = import_azureml_v1(folder)
        return Environment.from_manifest(
            imported.manifest, imported.files, folder, notes=imported.notes
        )

    # The workspace (an environments repository and its registry).

    @staticmethod
    def get(
        workspace: Workspace,
        name: str,
        version: str | int | None = None,
        label: str | None = None,
    ) -> Environment:
        """A registered version: the latest, a version number, or a label."""
        return workspace.environment(name, version, label)

    @staticmethod
    def list(workspace: Workspace) -> dict[str, Environment]:
        """The latest version of every registered environment, by name."""
        return workspace.environments

    def register(self, workspace: Workspace, commit: bool = False) -> Environment:
        """Write, validate and lock the manifest in the workspace's repository, then register
        it as a version (an unchanged definition gets its existing version back). With
        `commit`, the environment's files are committed first; without, uncommitted files
        register as a draft that records no commit (a warning says so)."""
        record = workspace.register(self.definition(), commit=commit)
        self.version, self._record = str(record.version), record
        return self

    def save(self, workspace: Workspace | str | os.PathLike[str], force: bool = False) -> Path:
        """Write and validate the manifest only (commit it; CI registers it); its path."""
        from compiler.azureml.workspace import Workspace

        if not isinstance(workspace, Workspace):
            workspace = Workspace(repository=workspace)
        return workspace.save(self.definition(), force=force)

    def save_to_directory(self, path: str | os.PathLike[str], overwrite: bool = False) -> None:
        """SDK v1's saved form (`azureml_environment.json`, `conda_dependencies.yml`,
        `BaseDockerfile`), which SDK v1 and `envc import` read."""
        from compiler.azureml.workspace import export_v1

        export_v1(self.definition(), Path(path), overwrite)

    def clone(self, new_name: str) -> Environment:
        environment = copy.deepcopy(self)
        environment.name, environment.version, environment._record = new_name, None, None
        return environment

    def get_image_details(self, workspace: Workspace) -> dict[str, Any]:
        """Which image this registered version is: its repository:version, digest (once built
        and registered with it), content address and commit."""
        if self.version is None:
            raise EnvcError(f"{self.name} is not registered: register(workspace) first")
        from compiler.azureml.workspace import image_details

        return image_details(self._record or workspace.record(self.name, self.version))

    def build(self, workspace: Workspace, image_build_compute: Any = None) -> None:
        raise EnvcError(
            "envc builds images in CI from the committed manifest: `envc build NAME` "
            "(or `envc ci`); register(workspace) records the version"
        )

    def build_local(self, workspace: Workspace, *args: Any, **kwargs: Any) -> None:
        self.build(workspace)

    # Between SDK v1's attributes and a manifest.

    def definition(self) -> Imported:
        """This environment as a manifest (and the files it references), with notes."""
        name = manifest_name(self.name)
        notes = list(self.notes)
        python: Any = None
        packages: dict[str, Any] = {}
        section = self.python
        if section.user_managed_dependencies:
            python = {"user_managed_dependencies": True}
            if str(section.interpreter_path).startswith("/"):
                python["interpreter_path"] = section.interpreter_path
            else:
                notes.append(
                    f"interpreter_path {section.interpreter_path!r} is not absolute: "
                    "the image's `python` runs"
                )
            if section.conda_dependencies.as_dict()["dependencies"]:
                notes.append("user-managed dependencies: the conda specification is not carried")
        else:
            fields = section.conda_dependencies.manifest_fields(name)
            notes += fields.notes
            python = fields.manifest.get("python")
            packages = {
                k: fields.manifest.get(k) for k in ("channels", "conda", "pip", "pip_indexes")
            }
            if section.interpreter_path not in ("python", None):
                notes.append("interpreter_path is used with user-managed dependencies only")
        docker, files = self._docker_settings(notes)
        notes += self._uncarried()
        carried = self._carried
        manifest = new_manifest(
            name,
            **{key: carried.get(key) for key in _CARRIED[:3]},
            python=python,
            **packages,
            platforms=carried.get("platforms"),
            docker=docker,
            variables={str(k): str(v) for k, v in self.environment_variables.items()},
        )
        return Imported(name, manifest, "a script (compiler.azureml)", notes, files)

    def _uncarried(self) -> builtins.list[str]:
        """Notes for what is set in the sections a manifest has no place for."""
        notes = [
            f"{section}.{field} is not carried (a manifest has no {section} section)"
            for section, fields in (
                ("spark", ("repositories", "packages")),
                ("databricks", tuple(vars(self.databricks))),
            )
            for field in fields
            if getattr(getattr(self, section), field)
        ]
        if self.r is not None:
            notes.append("r is not carried (a manifest has no R section)")
        if self.inferencing_stack_version is not None:
            notes.append(
                "inferencing_stack_version is not carried (name the serving packages instead)"
            )
        return notes

    def _docker_settings(
        self, notes: builtins.list[str]
    ) -> tuple[dict[str, Any], dict[str, bytes]]:
        """`docker:` and the files it references; run options and credentials are noted."""
        section = self.docker
        settings: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if section.base_image and section.base_dockerfile:
            raise EnvcError(
                f"{self.name}: docker.base_image and docker.base_dockerfile are both set; set "
                "one of them to None (SDK v1 refused this too)"
            )
        if not section.enabled:
            settings["enabled"] = False
            if section.base_image or section.base_dockerfile:
                notes.append("docker is disabled: its base image and Dockerfile are not carried")
            return settings, files
        if section.base_image:
            settings.update(base_image_settings(section.base_image))
        elif section.base_dockerfile:
            settings["base_dockerfile"] = BASE_DOCKERFILE
            files[BASE_DOCKERFILE] = section.base_dockerfile.encode()
        if section.gpu_support or section.cuda:
            settings["compute"] = "gpu"
        if section.cuda:
            settings["cuda"] = str(section.cuda)
        registry = section.base_image_registry
        if registry.address:
            credentials = {"address": registry.address}
            for field, variable in _CREDENTIAL_VARIABLES.items():
                credentials.update(_credential(registry, field, variable, notes))
            settings["base_image_registry"] = credentials
        if section.user:
            settings["user"] = section.user
        for option, default in (("arguments", []), ("shared_volumes", True), ("shm_size", None)):
            if getattr(section, option) not in (default, None):
                notes.append(f"docker.{option} is a run option, not carried")
        return settings, files

    @staticmethod
    def from_manifest(
        manifest: Mapping[str, Any],
        files: Mapping[str, bytes] | None = None,
        folder: Path | None = None,
        notes: builtins.list[str] | None = None,
    ) -> Environment:
        """A manifest (as written, or resolved as the registry keeps it) as an environment;
        referenced files come from `files`, else from `folder`."""
        environment = Environment(str(manifest["name"]))
        environment.notes = list(notes or [])
        if manifest.get("version") is not None:
            environment.version = str(manifest["version"])

        def text(relative: str) -> str:
            from compiler._util.files import read_text

            if files and relative in files:
                return files[relative].decode("utf-8")
            if folder is None:
                raise EnvcError(f"{environment.name}: {relative} is not available")
            return read_text(folder / relative)

        python = manifest.get("python")
        settings = python if isinstance(python, Mapping) else {"version": python}
        section = environment.python
        if settings.get("user_managed_dependencies"):
            section.user_managed_dependencies = True
            section.interpreter_path = settings.get("interpreter_path") or "python"
        section.conda_dependencies = dependencies_of(manifest, folder)
        docker = manifest.get("docker") or {}
        environment.docker.enabled = docker.get("enabled", True) is not False
        environment.docker.base_image = docker.get("base_image")
        if docker.get("base_dockerfile"):
            environment.docker.base_dockerfile = text(docker["base_dockerfile"])
        registry = docker.get("base_image_registry") or {}
        for field in ("address", "username", "password"):
            setattr(environment.docker.base_image_registry, field, registry.get(field))
        environment.docker.gpu_support = docker.get("compute") == "gpu"
        environment.docker.cuda = docker.get("cuda")
        environment.docker.user = docker.get("user")
        environment.environment_variables = dict(manifest.get("variables") or {})
        environment._carried = {k: manifest[k] for k in _CARRIED if manifest.get(k)}
        return environment


def _source(file_path: str | os.PathLike[str], what: str) -> Path:
    file = Path(file_path)
    if not file.is_file():
        raise EnvcError(f"{file}: no such {what}")
    return file


def _with_packages(
    name: str,
    conda_specification: str | os.PathLike[str] | None,
    pip_requirements: str | os.PathLike[str] | None,
) -> Environment:
    if conda_specification is not None and pip_requirements is not None:
        raise EnvcError("give conda_specification or pip_requirements, not both")
    if conda_specification is not None:
        return Environment.from_conda_specification(name, conda_specification)
    if pip_requirements is not None:
        return Environment.from_pip_requirements(name, pip_requirements)
    return Environment(name)


def _credential(
    registry: ContainerRegistry, field: str, variable: str, notes: list[str]
) -> dict[str, str]:
    """The manifest's value for a registry user name or password: a `${VAR}` as given, else
    the default variable (the value itself is never written)."""
    from compiler._util.credentials import is_placeholder

    value = getattr(registry, field)
    if not value:
        return {}
    if is_placeholder(str(value)):
        return {field: str(value)}
    notes.append(
        f"base_image_registry.{field} is not written: envc reads it from ${{{variable}}} "
        "where it builds"
    )
    return {field: f"${{{variable}}}"}
