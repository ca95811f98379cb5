"""The Python API for Azure ML SDK v1 scripts: environments built in code land as manifests."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.errors import EnvcError
from compiler.interop.api import Environment
from compiler.validate.repository import validate
from tests.conftest import RepoFactory

REAL = Path(__file__).resolve().parent / "data" / "real-environments"


def test_from_packages_with_a_base_image_and_variables(make_repo: RepoFactory) -> None:
    root = make_repo({})
    env = Environment.from_packages(
        "Training Env",
        conda_packages=["numpy >=1.26"],
        pip_packages=["mlflow-skinny==2.16.2"],
        python="3.12",
    )
    env.set_base_image("mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04")
    env.environment_variables["OMP_NUM_THREADS"] = "4"
    target = env.save(root)
    assert target == root / "environments/training-env/env.yaml"
    report = validate(root=root, cwd=root)
    data, _ = report.manifests["training-env"]
    assert data["conda"] == ["numpy >=1.26"] and data["variables"] == {"OMP_NUM_THREADS": "4"}
    assert data["docker"] == {"base_image": "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04"}


def test_from_a_conda_specification_with_a_base_dockerfile(make_repo: RepoFactory) -> None:
    root = make_repo({})
    env = Environment.from_conda_specification(
        "sklearn", REAL / "aml-sklearn-1.5/context/conda_dependencies.yaml"
    )
    assert any("template placeholder" in note for note in env.notes)
    env.set_base_dockerfile("FROM mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\n")
    target = env.save(root)
    assert (target.parent / "Dockerfile").read_text().startswith("FROM mcr.microsoft.com")
    data, _ = validate(root=root, cwd=root).manifests["sklearn"]
    assert data["docker"] == {"base_dockerfile": "Dockerfile"} and data["python"] == "3.10"


def test_user_managed_and_a_refused_definition(make_repo: RepoFactory) -> None:
    root = make_repo({})
    env = Environment.from_packages("runtime", conda_packages=["numpy"])
    env.set_user_managed("/opt/conda/bin/python")
    env.set_base_image("contoso.azurecr.io/runtime:1")
    env.save(root)
    data, _ = validate(root=root, cwd=root).manifests["runtime"]
    assert "conda" not in data and data["python"]["interpreter_path"] == "/opt/conda/bin/python"
    broken = Environment.from_packages("broken", conda_packages=["numpy >=>1"])
    with pytest.raises(EnvcError, match=r"environments/broken/env.yaml:\d+:\d+: error: "):
        broken.save(root)
    with pytest.raises(EnvcError, match="no conda environment 'nowhere'"):
        Environment.from_existing_conda_environment("x", "nowhere")
