"""SDK v1's `azureml.core.runconfig` names that describe an environment: the default base
images and `DockerConfiguration`. envc runs no jobs; a `ScriptRunConfig` here only carries a
`DockerConfiguration` onto its environment (`use_docker=False` -> `docker.enabled: false`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler.interop.images import AZUREML_CPU_IMAGE, AZUREML_GPU_IMAGES

if TYPE_CHECKING:
    from compiler.azureml.environment import Environment

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


class ScriptRunConfig:
    """What SDK v1 submits as a job. envc does not submit jobs (build the environment with
    `envc build`, or run on a host from its install script); this keeps the arguments and applies
    `docker_runtime_config` to `environment`."""

    def __init__(
        self,
        source_directory: str = ".",
        script: str | None = None,
        arguments: Sequence[Any] | None = None,
        run_config: Any = None,
        compute_target: Any = None,
        environment: Environment | None = None,
        docker_runtime_config: DockerConfiguration | None = None,
        **options: Any,
    ) -> None:
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config
        self.compute_target = compute_target
        self.environment = environment
        self.options = options
        if environment is not None and docker_runtime_config is not None:
            docker_runtime_config.apply_to(environment)
