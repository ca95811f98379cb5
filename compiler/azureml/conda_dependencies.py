"""SDK v1's `CondaDependencies`: a conda specification built in code (Python version, conda
and pip packages, channels, pip options). It becomes the manifest's `python:`, `conda:`, `pip:`
and `channels:` through the conda-file importer, so a specification reads the same whether it
came from a file or from calls."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from io import StringIO
from pathlib import Path
from typing import Any

from compiler.errors import EnvcError
from compiler.interop.common import Imported
from compiler.manifest.patterns import spec_package

# SDK v1 calls the environment inside the file this.
DEFAULT_NAME = "project_environment"


def _option(option: str) -> str:
    return option.split(maxsplit=1)[0].split("=", 1)[0]


def _replace(specs: list[str], spec: str, key: Any) -> None:
    """Put `spec` in place of the entries `key` matches (SDK v1 keeps one entry per package or
    option), else at the end."""
    position = next((i for i, s in enumerate(specs) if key(s) == key(spec)), len(specs))
    specs[:] = [s for s in specs if key(s) != key(spec)]
    specs.insert(position, spec)


class CondaDependencies:
    """A conda specification; `CondaDependencies(path)` reads a conda environment file."""

    def __init__(
        self,
        conda_dependencies_file_path: str | os.PathLike[str] | None = None,
        _underlying_structure: Mapping[str, Any] | None = None,
    ) -> None:
        self._python: str | None = None
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._channels: list[str] = []
        self._pip_options: list[str] = []
        self.notes: list[str] = []  # what the file said that a manifest cannot carry
        if conda_dependencies_file_path is not None:
            from compiler.interop.conda import import_conda_environment

            file = Path(conda_dependencies_file_path)
            if not file.is_file():
                raise EnvcError(f"{file}: no such conda environment file")
            self._take(import_conda_environment(file, DEFAULT_NAME))
        elif _underlying_structure is not None:
            self._take(_imported(dict(_underlying_structure)))

    def _take(self, imported: Imported) -> None:
        manifest = imported.manifest
        python = manifest.get("python")
        self._python = python if isinstance(python, str) else None
        self._conda = list(manifest.get("conda", []))
        self._pip = list(manifest.get("pip", []))
        self._channels = list(manifest.get("channels", []))
        self.notes = list(imported.notes)
        for key in ("variables", "platforms"):
            if manifest.get(key):
                self.notes.append(f"the file's {key} are not part of a conda specification")

    @staticmethod
    def create(
        pip_indexurl: str | None = None,
        pip_packages: Iterable[str] | None = None,
        conda_packages: Iterable[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        """A specification of these packages. Unlike SDK v1, `azureml-defaults` is not added:
        name it in `pip_packages` if the environment needs it. `pin_sdk_version` has no
        meaning here."""
        dependencies = CondaDependencies()
        for spec in conda_packages or ():
            dependencies.add_conda_package(spec)
        for spec in pip_packages or ():
            dependencies.add_pip_package(spec)
        if python_version:
            dependencies.set_python_version(python_version)
        if pip_indexurl:
            dependencies.set_pip_option(f"--index-url {pip_indexurl}")
        return dependencies

    def add_tensorflow_conda_package(
        self, core_type: str = "cpu", version: str | None = None
    ) -> None:
        """SDK v1's shortcut: `tensorflow` (`tensorflow-gpu` for core_type "gpu"), at `version`."""
        package = "tensorflow-gpu" if core_type == "gpu" else "tensorflow"
        self.add_conda_package(f"{package}={version}" if version else package)

    def add_tensorflow_pip_package(
        self, core_type: str = "cpu", version: str | None = None
    ) -> None:
        """SDK v1's shortcut: `tensorflow` (`tensorflow-gpu` for core_type "gpu"), at `version`."""
        package = "tensorflow-gpu" if core_type == "gpu" else "tensorflow"
        self.add_pip_package(f"{package}=={version}" if version else package)

    def merge_dependencies(self, dependencies: CondaDependencies) -> None:
        """Take in another specification's channels, packages and pip options (one entry per
        package: its spec replaces this one's); the Python version too when this has none."""
        for channel in dependencies.conda_channels:
            self.add_channel(channel)
        for spec in dependencies.conda_packages:
            self.add_conda_package(spec)
        for spec in dependencies.pip_packages:
            self.add_pip_package(spec)
        for option in dependencies.pip_options:
            self.set_pip_option(option)
        if self._python is None and dependencies.get_python_version():
            self.set_python_version(str(dependencies.get_python_version()))

    def add_conda_package(self, conda_package: str) -> None:
        _replace(self._conda, conda_package.strip(), spec_package)

    def remove_conda_package(self, conda_package: str) -> None:
        self._conda = [s for s in self._conda if spec_package(s) != spec_package(conda_package)]

    def add_pip_package(self, pip_package: str) -> None:
        _replace(self._pip, pip_package.strip(), spec_package)

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [s for s in self._pip if spec_package(s) != spec_package(pip_package)]

    def add_channel(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        self._channels = [c for c in self._channels if c != channel]

    def set_pip_option(self, pip_option: str) -> None:
        _replace(self._pip_options, pip_option.strip(), _option)

    def remove_pip_option(self, pip_option: str) -> None:
        self._pip_options = [o for o in self._pip_options if _option(o) != _option(pip_option)]

    def set_python_version(self, version: str) -> None:
        self._python = str(version)

    def get_python_version(self) -> str | None:
        return self._python

    @property
    def conda_packages(self) -> Iterator[str]:
        return iter(list(self._conda))

    @property
    def pip_packages(self) -> Iterator[str]:
        return iter(list(self._pip))

    @property
    def conda_channels(self) -> Iterator[str]:
        return iter(list(self._channels))

    @property
    def pip_options(self) -> Iterator[str]:
        return iter(list(self._pip_options))

    def as_dict(self) -> dict[str, Any]:
        """The conda environment file this specification is."""
        dependencies: list[Any] = [f"python={self._python}"] if self._python else []
        dependencies += self._conda
        if self._pip or self._pip_options:
            dependencies.append({"pip": [*self._pip_options, *self._pip]})
        document: dict[str, Any] = {"name": DEFAULT_NAME}
        if self._channels:
            document["channels"] = list(self._channels)
        document["dependencies"] = dependencies
        return document

    def serialize_to_string(self) -> str:
        from ruamel.yaml import YAML

        yaml = YAML()
        yaml.default_flow_style = False
        yaml.indent(mapping=2, sequence=2, offset=0)
        buffer = StringIO()
        yaml.dump(self.as_dict(), buffer)
        return buffer.getvalue()

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the conda environment file (atomically); its path."""
        from compiler._util.files import write_atomically

        write_atomically(Path(path), self.serialize_to_string())
        return str(path)

    def save_to_file(
        self, base_directory: str | os.PathLike[str], conda_file_path: str | None = None
    ) -> str:
        return self.save(Path(base_directory) / (conda_file_path or "conda_dependencies.yml"))

    def manifest_fields(self, name: str) -> Imported:
        """The manifest's `python`, `channels`, `conda` and `pip` for this specification, with
        notes for what a manifest cannot say (pip options: indexes are envc.yaml's)."""
        imported = _imported(self.as_dict(), self.serialize_to_string(), name)
        imported.notes[:0] = self.notes
        return imported

    def __repr__(self) -> str:
        return self.serialize_to_string()


def _imported(data: dict[str, Any], text: str = "", name: str = DEFAULT_NAME) -> Imported:
    from compiler.interop.conda import conda_environment

    return conda_environment(Path("conda_dependencies.yml"), data, name, text)


def dependencies_of(manifest: Mapping[str, Any], folder: Path | None = None) -> CondaDependencies:
    """A manifest's packages as a specification: its `conda_file` and `requirements_file`
    (read from `folder`, where the manifest is), then its `python`, `channels`, `conda`,
    `pip` and `pip_indexes`."""
    dependencies = CondaDependencies()

    indexes = list(manifest.get("pip_indexes") or [])

    def referenced(key: str) -> Path:
        if folder is None:
            raise EnvcError(f"{manifest.get('name')}: {manifest[key]} is not available")
        return folder / str(manifest[key])

    if manifest.get("conda_file"):
        dependencies = CondaDependencies(referenced("conda_file"))
    if manifest.get("requirements_file"):
        from compiler.interop.requirements import import_requirements

        included = import_requirements(referenced("requirements_file"))
        dependencies.notes += [n for n in included.notes if "does not say which Python" not in n]
        for spec in included.manifest.get("pip", []):
            dependencies.add_pip_package(spec)
        indexes += included.manifest.get("pip_indexes", [])
    python = manifest.get("python")
    version = python.get("version") if isinstance(python, Mapping) else python
    if version:
        dependencies.set_python_version(str(version))
    for channel in manifest.get("channels") or []:
        dependencies.add_channel(channel)
    for spec in manifest.get("conda") or []:
        dependencies.add_conda_package(spec)
    for spec in manifest.get("pip") or []:
        dependencies.add_pip_package(spec)
    for url in dict.fromkeys(indexes):  # (each its own line: set_pip_option keeps one of a kind)
        dependencies._pip_options.append(f"--extra-index-url {url}")
    return dependencies
