"""SDK v1's `azureml.core.experiment`, where scripts import Experiment from."""

from compiler.azureml.runconfig import Experiment

__all__ = ["Experiment"]
