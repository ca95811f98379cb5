"""SDK v1's `azureml.core.runconfig` names that describe an environment: the default base
images, `DockerConfiguration` and `RunConfiguration`. envc runs no jobs; a `ScriptRunConfig` or
a `RunConfiguration` here only carries a `DockerConfiguration` onto its environment
(`use_docker=False` -> `docker.enabled: false`), and a run configuration holds its environment
(`run_config.environment.python.conda_dependencies = …`, then `.register(ws)`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler.azureml.conda_dependencies import CondaDependencies  # as SDK v1 exports it here
from compiler.errors import EnvcError
from compiler.interop.images import AZUREML_CPU_IMAGE, AZUREML_GPU_IMAGES

if TYPE_CHECKING:
    from compiler.azureml.environment import Environment

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "DockerConfiguration",
    "Experiment",
    "RunConfiguration",
    "ScriptRunConfig",
]

DEFAULT_CPU_IMAGE = AZUREML_CPU_IMAGE
DEFAULT_GPU_IMAGE = AZUREML_GPU_IMAGES[max(AZUREML_GPU_IMAGES, key=int)]


@dataclass
class DockerConfiguration:
    """Whether the environment runs in a container, and how `docker run` starts it. Only
    `use_docker` describes the environment; the rest are run options envc does not carry."""

    use_docker: bool = True
    arguments: Sequence[str] = field(default_factory=list)
    shared_volumes: bool = True
    shm_size: str | None = None

    def apply_to(self, environment: Environment) -> None:
        """`use_docker` becomes the environment's `docker.enabled`; run options are noted."""
        environment.docker.enabled = bool(self.use_docker)
        environment.docker.arguments = list(self.arguments)
        environment.docker.shared_volumes = self.shared_volumes
        environment.docker.shm_size = self.shm_size

    def bind(self, environment: Environment) -> None:
        """Apply to `environment` now and on every later change (`run_config.docker.use_docker
        = False`, as SDK v1 scripts write it)."""
        object.__setattr__(self, "_bound", environment)
        self.apply_to(environment)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        bound = self.__dict__.get("_bound")
        if bound is not None:
            self.apply_to(bound)


class ScriptRunConfig:
    """What SDK v1 submits as a job. envc does not submit jobs (build the environment with
    `envc build`, or run on a host from its install script); as in SDK v1, the job's
    `run_config` (a new RunConfiguration unless one is given) holds what it was given: the
    script, arguments and compute target (kept, unused), the environment, and
    `docker_runtime_config`, which applies to the environment."""

    def __init__(
        self,
        source_directory: str = ".",
        script: str | None = None,
        arguments: Sequence[Any] | None = None,
        run_config: RunConfiguration | None = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        docker_runtime_config: DockerConfiguration | None = None,
        **options: Any,
    ) -> None:
        self.source_directory = source_directory
        self.run_config = run_config if run_config is not None else RunConfiguration()
        if script is not None:
            self.run_config.script = script
        if arguments is not None:
            self.run_config.arguments = list(arguments)
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if docker_runtime_config is not None:
            self.run_config.docker = docker_runtime_config
        self.options = options

    @property
    def script(self) -> str | None:
        return self.run_config.script

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    @property
    def environment(self) -> Environment:
        return self.run_config.environment

    @environment.setter
    def environment(self, environment: Environment) -> None:
        self.run_config.environment = environment


class RunConfiguration:
    """SDK v1's run configuration, for the environment it holds: `environment` (a new one named
    `default-environment`, or `conda_dependencies=`'s) and `docker`, applied to it. What runs
    where (`target`, `script`, `node_count`…) is kept and ignored: envc does not submit jobs."""

    def __init__(
        self,
        script: str | None = None,
        arguments: Sequence[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: CondaDependencies | None = None,
        _name: str | None = None,
        **options: Any,
    ) -> None:
        from compiler.azureml.environment import Environment

        self.script = script
        self.arguments = list(arguments or [])
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.target = "local"
        self.node_count = 1
        self.options = options
        self._docker: DockerConfiguration | None = None
        self._environment = Environment(_name or "default-environment")
        if conda_dependencies is not None:
            self._environment.python.conda_dependencies = conda_dependencies

    @property
    def environment(self) -> Environment:
        return self._environment

    @environment.setter
    def environment(self, environment: Environment) -> None:
        self._environment = environment
        if self._docker is not None:
            self._docker.bind(environment)

    @property
    def docker(self) -> DockerConfiguration:
        """How the run starts its container: it applies to the environment, changes included."""
        if self._docker is None:
            self.docker = DockerConfiguration(use_docker=self._environment.docker.enabled)
        assert self._docker is not None
        return self._docker

    @docker.setter
    def docker(self, configuration: DockerConfiguration) -> None:
        self._docker = configuration
        configuration.bind(self._environment)

    def save(self, *_args: Any, **_kwargs: Any) -> None:
        raise EnvcError(
            "RunConfiguration.save: envc keeps environments, not run configurations; register "
            "the environment (run_config.environment.register(workspace)) instead"
        )


class Experiment:
    """SDK v1's experiment, so that a script importing it with its environments runs up to
    the point where it submits a job: envc defines environments and runs no jobs."""

    def __init__(self, workspace: Any = None, name: str | None = None, **_ignored: Any) -> None:
        self.workspace = workspace
        self.name = name

    def submit(self, config: Any = None, *_args: Any, **_kwargs: Any) -> None:
        environment = getattr(config, "environment", None)
        hint = (
            f" (its environment {environment.name!r} is registered by environment.register)"
            if environment is not None
            else ""
        )
        raise EnvcError(
            f"Experiment.submit: envc runs no jobs{hint}; run the job where it ran before, on "
            "the image `envc build` makes, or on a host with `envc run NAME -- COMMAND`"
        )
