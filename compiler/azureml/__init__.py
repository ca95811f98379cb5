"""Azure ML SDK v1's environment API on envc: scripts keep working with the import changed.

    from compiler.azureml import Environment, Workspace        # was: from azureml.core import …
    from compiler.azureml import CondaDependencies, DockerConfiguration

`Workspace.from_config()` is the environments repository around the working directory (and the
registry its envc.yaml names); `env.register(ws)` writes `environments/<name>/env.yaml`,
validates and locks it, and registers a version. The submodules mirror SDK v1's, so
`azureml.core.conda_dependencies` -> `compiler.azureml.conda_dependencies` works too. This is a
migration layer over interop (the importers and exporters), validate, lock and registry; it
imports none of the heavy libraries until a call needs them. docs/interop.md has the table of
SDK v1 calls and the manifest fields they become.
"""

from compiler.azureml.conda_dependencies import CondaDependencies
from compiler.azureml.environment import Environment, InvalidEnvironment
from compiler.azureml.model import InferenceConfig, Model
from compiler.azureml.runconfig import (
    DEFAULT_CPU_IMAGE,
    DEFAULT_GPU_IMAGE,
    DockerConfiguration,
    Experiment,
    RunConfiguration,
    ScriptRunConfig,
)
from compiler.azureml.sections import (
    ContainerRegistry,
    DatabricksSection,
    DockerSection,
    PythonSection,
    RSection,
    SparkSection,
)
from compiler.azureml.workspace import DraftWarning, NotCarriedWarning, Workspace

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "ContainerRegistry",
    "DatabricksSection",
    "DockerConfiguration",
    "DockerSection",
    "DraftWarning",
    "Environment",
    "Experiment",
    "InferenceConfig",
    "InvalidEnvironment",
    "Model",
    "NotCarriedWarning",
    "PythonSection",
    "RSection",
    "RunConfiguration",
    "ScriptRunConfig",
    "SparkSection",
    "Workspace",
]
