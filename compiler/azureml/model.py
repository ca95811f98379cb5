"""SDK v1's `azureml.core.model` names that hold an environment, so that a deployment script
runs up to its deployment: `InferenceConfig(entry_script=…, environment=env)` keeps its
environment (register it with `env.register(ws)`); `Model` is made, but registering or deploying
a model raises with a pointer. envc defines environments; models and endpoints stay Azure ML's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from compiler.errors import EnvcError

if TYPE_CHECKING:
    from compiler.azureml.environment import Environment

_MODELS = (
    "envc defines environments, not models or endpoints: register and deploy the model with "
    "Azure ML, naming the environment envc registered (its image: env.get_image_details(ws))"
)


class InferenceConfig:
    """What SDK v1 serves a model with: the scoring script and its environment (kept)."""

    def __init__(
        self,
        entry_script: str | None = None,
        runtime: str | None = None,
        conda_file: str | None = None,
        source_directory: str | None = None,
        environment: Environment | None = None,
        **options: Any,
    ) -> None:
        if environment is None and (runtime or conda_file):
            raise EnvcError(
                "InferenceConfig(runtime=, conda_file=): SDK v1's pre-environment form; make "
                "the environment (Environment.from_conda_specification(name, conda_file)) and "
                "pass environment="
            )
        self.entry_script = entry_script
        self.source_directory = source_directory
        self.environment = environment
        self.options = options


class Model:
    """A model of the workspace, by name: made so a script runs on; what it does with models
    raises (see _MODELS)."""

    def __init__(self, workspace: Any = None, name: str | None = None, **_ignored: Any) -> None:
        self.workspace = workspace
        self.name = name

    @staticmethod
    def register(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise EnvcError(f"Model.register: {_MODELS}")

    @staticmethod
    def deploy(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise EnvcError(f"Model.deploy: {_MODELS}")

    @staticmethod
    def package(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise EnvcError(f"Model.package: {_MODELS}")
