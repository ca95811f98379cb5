"""A small Python API for scripts written against Azure ML SDK v1's `Environment` class: the
same ways to build an environment, landing as a manifest in git instead of a workspace.

    from compiler.interop.api import Environment

    env = Environment.from_conda_specification("training", "environment.yml")
    env.set_base_image("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    env.environment_variables["OMP_NUM_THREADS"] = "4"
    env.save("path/to/repo")          # environments/training/env.yaml, validated

docs/interop.md maps each SDK v1 call to its counterpart here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from compiler.errors import EnvcError
from compiler.interop.common import Imported, manifest_name, write_imported
from compiler.interop.conda import conda_prefix, import_conda_environment, import_conda_prefix
from compiler.interop.requirements import import_requirements

BASE_DOCKERFILE = "Dockerfile"


class Environment:
    """An environment being defined; `save` writes and validates its manifest."""

    def __init__(self, name: str) -> None:
        self._imported = Imported(manifest_name(name), {"schema_version": 1}, "the Python API")
        self._imported.manifest["name"] = self._imported.name
        self.environment_variables: dict[str, str] = {}

    @classmethod
    def _from(cls, imported: Imported, name: str) -> Environment:
        environment = cls(name)
        imported.name = imported.manifest["name"] = environment.name
        environment.environment_variables = dict(imported.manifest.pop("variables", {}))
        environment._imported = imported
        return environment

    @classmethod
    def from_conda_specification(cls, name: str, file_path: str | Path) -> Environment:
        return cls._from(import_conda_environment(Path(file_path), name), name)

    @classmethod
    def from_pip_requirements(cls, name: str, file_path: str | Path) -> Environment:
        return cls._from(import_requirements(Path(file_path), name), name)

    @classmethod
    def from_existing_conda_environment(
        cls, name: str, conda_environment_name: str, from_history: bool = False
    ) -> Environment:
        prefix = conda_prefix(conda_environment_name)
        if prefix is None:
            raise EnvcError(f"no conda environment {conda_environment_name!r} found")
        return cls._from(import_conda_prefix(prefix, name, from_history), name)

    @classmethod
    def from_packages(
        cls,
        name: str,
        conda_packages: Iterable[str] = (),
        pip_packages: Iterable[str] = (),
        python: str | None = None,
    ) -> Environment:
        environment = cls(name)
        manifest = environment._imported.manifest
        if python:
            manifest["python"] = python
        if conda_packages:
            manifest["conda"] = list(conda_packages)
        if pip_packages:
            manifest["pip"] = list(pip_packages)
        return environment

    @property
    def name(self) -> str:
        return self._imported.name

    @property
    def notes(self) -> list[str]:
        """What the sources said that a manifest cannot carry."""
        return list(self._imported.notes)

    def _docker(self) -> dict[str, object]:
        docker: dict[str, object] = self._imported.manifest.setdefault("docker", {})
        return docker

    def set_base_image(self, image: str) -> None:
        docker = self._docker()
        docker.pop("base_dockerfile", None)
        self._imported.files.pop(BASE_DOCKERFILE, None)
        docker["base_image"] = image

    def set_base_dockerfile(self, dockerfile: str | Path) -> None:
        """The Dockerfile's text, or a path to it (copied beside the manifest)."""
        path = Path(dockerfile) if isinstance(dockerfile, Path) or "\n" not in dockerfile else None
        text = path.read_text(encoding="utf-8") if path is not None else str(dockerfile)
        docker = self._docker()
        docker.pop("base_image", None)
        docker["base_dockerfile"] = BASE_DOCKERFILE
        self._imported.files[BASE_DOCKERFILE] = text.encode()

    def set_user_managed(self, interpreter_path: str) -> None:
        """Dependencies are the base image's: envc installs nothing and runs this interpreter."""
        manifest = self._imported.manifest
        for key in ("conda", "pip", "conda_file", "requirements_file"):
            manifest.pop(key, None)
        manifest["python"] = {
            "user_managed_dependencies": True,
            "interpreter_path": interpreter_path,
        }

    def manifest(self) -> dict[str, object]:
        manifest = dict(self._imported.manifest)
        if self.environment_variables:
            manifest["variables"] = dict(self.environment_variables)
        return manifest

    def save(self, repository: str | Path, force: bool = False) -> Path:
        """Write environments/<name>/env.yaml (and the files it references) under
        `repository`, then validate it; an invalid definition raises `EnvcError` naming every
        problem as path:line:col."""
        from compiler.validate.repository import validate

        root = Path(repository).resolve()
        to_write = Imported(
            self.name, self.manifest(), self._imported.source, self.notes, self._imported.files
        )
        [target] = write_imported(to_write, root / "environments", force)
        report = validate([target], root=root, cwd=root)
        if not report.ok:
            raise EnvcError(
                "\n".join(
                    f"{d.path}:{d.line}:{d.col}: error: {d.message}" for d in report.diagnostics
                )
            )
        return target
