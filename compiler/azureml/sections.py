"""SDK v1's `env.docker` and `env.python` sections, with their attributes and defaults, and the
sections a manifest has no place for (`env.spark`, `env.databricks`): kept so that scripts that
set them run, and noted when set."""

from __future__ import annotations

import os
import re
from pathlib import Path

from compiler.azureml.conda_dependencies import CondaDependencies
from compiler.errors import EnvcError

# A Dockerfile given as text rather than as a path: it has more than one line, or it starts
# with an instruction (`FROM image` on one line is a Dockerfile, not a file name).
_DOCKERFILE_TEXT = re.compile(r"\n|^\s*(?:#|FROM\s|ARG\s|#\s*syntax)", re.IGNORECASE)


class ContainerRegistry:
    """The private registry that serves the base image. Credentials are never written into the
    manifest: a `${VAR}` stays as given, any other value becomes `${BASE_IMAGE_REGISTRY_…}`,
    read from the environment where envc builds."""

    def __init__(self) -> None:
        self.address: str | None = None
        self.username: str | None = None
        self.password: str | None = None


class DockerSection:
    """`env.docker`: the image the environment is built on."""

    def __init__(self) -> None:
        self.enabled = True
        self.base_image: str | None = None
        self.base_image_registry = ContainerRegistry()
        self.gpu_support = False  # SDK v1's (deprecated) switch: here it sets `compute: gpu`
        self.cuda: str | None = None  # envc: the CUDA version of a GPU environment ("12.4")
        self.user: str | None = None
        # Options of `docker run`, not of the image: noted, not carried.
        self.arguments: list[str] = []
        self.shared_volumes = True
        self.shm_size: str | None = None
        self._dockerfile: str | None = None

    @property
    def base_dockerfile(self) -> str | None:
        """The base Dockerfile's text. Set it to a path (read now) or to the text itself."""
        return self._dockerfile

    @base_dockerfile.setter
    def base_dockerfile(self, value: str | os.PathLike[str] | None) -> None:
        if value is None or (isinstance(value, str) and _DOCKERFILE_TEXT.search(value)):
            self._dockerfile = value
            return
        from compiler._util.files import UnreadableFile, read_text

        try:
            self._dockerfile = read_text(Path(value))
        except UnreadableFile as exc:
            raise EnvcError(f"base_dockerfile {os.fspath(value)}: {exc}") from None


class PythonSection:
    """`env.python`: the packages envc installs, or a user-managed interpreter."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies = CondaDependencies()
        self.conda_dependencies_file: str | None = None
        self.base_conda_environment: str | None = None


class SparkSection:
    """`env.spark`: packages of a Spark run. Not carried: set ones are noted."""

    def __init__(self) -> None:
        self.repositories: list[str] = []
        self.packages: list[object] = []
        self.precache_packages = True


class DatabricksSection:
    """`env.databricks`: libraries of a Databricks run. Not carried: set ones are noted."""

    def __init__(self) -> None:
        self.maven_libraries: list[object] = []
        self.pypi_libraries: list[object] = []
        self.rcran_libraries: list[object] = []
        self.jar_libraries: list[object] = []
        self.egg_libraries: list[object] = []


class RSection:
    """`env.r = RSection()`: the R packages of a run. Not carried: setting one is noted."""

    def __init__(self) -> None:
        self.r_version: str | None = None
        self.user_managed = False
        self.rscript_path: str | None = None
        self.snapshot_date: str | None = None
        self.cran_packages: list[object] = []
        self.github_packages: list[object] = []
        self.custom_url_packages: list[str] = []
        self.bioconductor_packages: list[str] = []
