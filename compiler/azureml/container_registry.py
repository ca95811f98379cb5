"""SDK v1's `azureml.core.container_registry`, where scripts import ContainerRegistry from."""

from compiler.azureml.sections import ContainerRegistry

__all__ = ["ContainerRegistry"]
