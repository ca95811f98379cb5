"""SDK v1's `azureml.core.script_run_config`, where scripts import ScriptRunConfig from."""

from compiler.azureml.runconfig import ScriptRunConfig

__all__ = ["ScriptRunConfig"]
